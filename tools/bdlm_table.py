#!/usr/bin/env python3
"""BDLM rows of several experiments side by side (an ablation table), from their results.json files.

    python3 tools/bdlm_table.py [--metric ndcg@10] [--hit hr@10] docs/results/A docs/results/B ...

One line per folder: the stage-0 DSM's test figures, BDLM-DSM's and BDLM-LLM's (full ranking, mean ± sample std over
seeds), and on validation the stage-0 DSM (round 0) and the round each model kept. Reads nothing but results.json."""
import argparse, json, os, statistics as st

def mean_std(values):
    if not values:
        return "-"
    s = st.stdev(values) if len(values) > 1 else 0.0
    return f"{st.mean(values):.4f} ± {s:.4f}"

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--metric", default="ndcg@10", help="the monitored metric (validation columns and the second test column)")
    ap.add_argument("--hit", default="hr@10", help="the first test column")
    a = ap.parse_args()
    m, h = a.metric, a.hit
    print(f"| experiment | stage 0 {h} | BDLM-DSM {h} | BDLM-DSM {m} | BDLM-LLM {h} | BDLM-LLM {m} | validation {m}: round 0 | BDLM-DSM kept round | BDLM-LLM kept round | seeds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for folder in a.folders:
        path = os.path.join(folder, "results.json")
        if not os.path.exists(path):
            print(f"| {os.path.basename(folder.rstrip('/'))} | not run | | | | | | | | |")
            continue
        r = json.load(open(path))
        runs = r["runs"]
        def test(method, metric):
            return [x["metrics"]["full"][metric] for x in runs if x["method"] == method]
        def kept(method, side):
            out = []
            for x in runs:
                if x["method"] == method and x.get("rounds"):
                    out.append(next(rr for rr in x["rounds"] if rr["round"] == x["best_round"])[side][m])
            return out
        round0 = [next(rr for rr in x["rounds"] if rr["round"] == 0)["dsm"][m] for x in runs if x["method"] == "bdlm-dsm"]
        dsm = r["config"]["dsm"]["model"]
        print(f"| {r['name']} | {mean_std(test(dsm, h))} | {mean_std(test('bdlm-dsm', h))} | {mean_std(test('bdlm-dsm', m))} | "
              f"{mean_std(test('bdlm-llm', h))} | {mean_std(test('bdlm-llm', m))} | {mean_std(round0)} | {mean_std(kept('bdlm-dsm', 'dsm'))} | "
              f"{mean_std(kept('bdlm-llm', 'llm'))} | {len(test('bdlm-dsm', h))} |")

if __name__ == "__main__":
    main()
