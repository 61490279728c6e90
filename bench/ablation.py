#!/usr/bin/env python3
"""Ablation of BDLM's mechanisms on an experiment config: each switch off in turn, BDLM only.

Writes one experiment config per variant (the base config with one switch flipped, methods ["bdlm"]), runs each
with `bridgerec experiment`, then prints a markdown table of the variants' validation and test figures
(bdlm-dsm and bdlm-llm, mean +- std over the seeds run) and writes it beside the runs as ablation.md.

usage: bench/ablation.py --config experiments/ml-100k-loo.json --out results/ablation [--seeds 1,2,3] [--only 1,8] [--bridgerec CMD]
(--only: run and report these variants, numbered from 1 in the order of VARIANTS)
"""
import argparse, copy, json, os, re, statistics, subprocess, sys

VARIANTS = [
    ("all mechanisms", None, None),
    ("no private rows (LLM writes the shared tables)", "tower.residual", False),
    ("no item text in the LLM tower", "tower.item_text", False),
    ("no temperature (raw dot products)", "tower.temperature", None),
    ("KL distillation instead of rank", "bdlm.distill", "kl"),
    ("rank distillation without the gate", "bdlm.gate", False),
    ("stage 0 without text (plain DSM)", "dsm.model", "@base"),
    # The control: with private rows and no distillation the LLM cannot reach the DSM, so what BDLM-DSM gains here
    # is the loop's further training of the DSM (its own loss, a tenth of the rate, best epoch kept), not the bridge.
    ("no distillation (lambda 0): the DSM only trains further", "bdlm.lambda", 0),
]


def load(path):
    text = open(path, encoding="utf-8").read()
    return json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))


def put(cfg, dotted, value):
    node = cfg
    keys = dotted.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value


def stat(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def validation_of(row, metric):
    best = row.get("best_round")
    for r in row.get("rounds") or []:
        if r["round"] == best:
            side = r["dsm"] if row["method"] == "bdlm-dsm" else r.get("llm")
            return (side or {}).get(metric)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", default=None)
    ap.add_argument("--bridgerec", default="dotnet run --project src/BridgeRec.Cli -c Release --")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--only", default=None, help="variants to run, numbered from 1 (e.g. 1,8)")
    a = ap.parse_args()
    base = load(a.config)
    base_dir = os.path.dirname(os.path.dirname(os.path.abspath(a.config)))
    monitor = base.get("monitor", "hr@10")
    os.makedirs(a.out, exist_ok=True)
    lines = [f"| variant | bdlm-dsm validation {monitor} | bdlm-dsm test {monitor} | bdlm-dsm test hr@10 | bdlm-llm validation {monitor} | bdlm-llm test {monitor} | bdlm-llm test hr@10 | seeds |",
             "|---|---|---|---|---|---|---|---|"]
    chosen = [int(v) for v in a.only.split(",")] if a.only else range(1, len(VARIANTS) + 1)
    for number in chosen:
        if not 1 <= number <= len(VARIANTS):
            sys.exit(f"--only {number}: variants are numbered 1..{len(VARIANTS)}")
        name, key, value = VARIANTS[number - 1]
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        cfg = copy.deepcopy(base)
        cfg["name"] = f"{base['name']}-ablation-{slug}"
        cfg["methods"] = ["bdlm"]
        if a.seeds:
            cfg["seeds"] = [int(s) for s in a.seeds.split(",")]
        for ds in cfg["datasets"]:  # absolute paths: the variant configs live in the output folder
            for k in ("path", "items"):
                if k in ds["data"] and not os.path.isabs(ds["data"][k]):
                    ds["data"][k] = os.path.normpath(os.path.join(base_dir, ds["data"][k]))
        if key is not None:
            put(cfg, key, cfg["dsm"]["model"].replace("+text", "") if value == "@base" else value)
        out = os.path.join(os.path.abspath(a.out), slug)
        cfg["output"] = out
        path = os.path.join(os.path.abspath(a.out), slug + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=1)
        if not a.report_only:
            print(f"== {name}: {path}", flush=True)
            rc = subprocess.call(f"{a.bridgerec} experiment --config {path}", shell=True)
            if rc != 0:
                sys.exit(f"variant '{name}' failed with exit code {rc}")
        res = os.path.join(out, "results.json")
        if not os.path.exists(res):
            lines.append(f"| {name} | not run | | | | | | |")
            continue
        runs = json.load(open(res, encoding="utf-8"))["runs"]
        cells = []
        for method in ("bdlm-dsm", "bdlm-llm"):
            rows = [r for r in runs if r["method"] == method]
            cells += [stat([validation_of(r, monitor) for r in rows]),
                      stat([r["metrics"]["full"].get(monitor) for r in rows]),
                      stat([r["metrics"]["full"].get("hr@10") for r in rows])]
        seeds = sorted({r["seed"] for r in runs if r["method"] == "bdlm-dsm"})
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {','.join(map(str, seeds))} |")
    table = "\n".join(lines)
    with open(os.path.join(a.out, "ablation.md"), "w", encoding="utf-8") as f:
        f.write(f"# Ablation of {base['name']}\n\nEach row turns one mechanism off (BDLM only); validation chose every round.\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
