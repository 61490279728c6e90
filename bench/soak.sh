#!/usr/bin/env bash
# Soak check of 'bridgerec serve': MINUTES minutes (default 10) of bounded local load on the LLM path (2 connections,
# closed loop) and the DSM path, a reload every minute, and training jobs running beside the server the whole time.
# Prints one line per minute (requests, errors, p99, the server's RSS) and a JSON summary last. Loopback only.
# Usage: bash bench/soak.sh [MINUTES]   (from the repository root, after a Release build; needs ../shared)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
port=${SOAK_PORT:-5097}
data=../shared/benchmarks/ml-100k/loo items=../shared/datasets/movielens-100k
bin="dotnet src/BridgeRec.Cli/bin/Release/net10.0/bridgerec.dll"
work="$(mktemp -d -t bridgerec-soak-XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The served model: MF on a 200-user slice of ML-100K leave-one-out, then one BDLM round (both paths).
cat > "$work/mf.json" <<JSON
{ "data": { "path": "$data", "format": "ml100k-bench", "items": "$items", "max_users": 200 },
  "model": "mf", "dim": 32, "ks": [10],
  "train": { "epochs": 10, "eval_every": 5, "lr": 0.01, "monitor": "hr@10", "patience": 0 } }
JSON
$bin train --config "$work/mf.json" --out "$work/mf" > "$work/setup.log"
$bin bdlm --from "$work/mf" --out "$work/model" --rounds 1 --dsm-epochs 2 --max-history 5 --max-tokens 64 --llm-batch 8 >> "$work/setup.log"

$bin serve --model "$work/model" --urls "http://127.0.0.1:$port" --admin-token soak > "$work/serve.log" 2>&1 &
server=$!; pids+=("$server")
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 1; done

# Training beside the server, one job after another until the soak ends (LightGCN on all of ML-100K).
(
  n=0
  while [ ! -f "$work/stop" ]; do
    n=$((n + 1))
    if $bin train --data "$data" --format ml100k-bench --items "$items" --model lightgcn --epochs 60 --eval-every 20 \
         --patience 0 --out "$work/train-$n" > "$work/train-$n.log" 2>&1; then echo ok >> "$work/train-results"
    else echo "failed ($n)" >> "$work/train-results"; fi
  done
) &
pids+=("$!")

rss() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$server/status"; }
echo "minute  llm_requests  llm_errors  llm_p99_ms  dsm_requests  dsm_errors  reload  server_rss_mb"
rows=()
for m in $(seq 1 "$minutes"); do
  $bin bench http --url "http://127.0.0.1:$port" --model "$work/model" --via llm --new-users --connections 2 --seconds 45 --warmup 0 \
    | tail -n 1 > "$work/llm-$m.json" || true
  $bin bench http --url "http://127.0.0.1:$port" --model "$work/model" --via dsm --connections 2 --seconds 10 --warmup 0 \
    | tail -n 1 > "$work/dsm-$m.json" || true
  reload=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer soak' "http://127.0.0.1:$port/v1/admin/reload")
  row=$(python3 - "$work/llm-$m.json" "$work/dsm-$m.json" "$m" "$reload" "$(rss)" <<'PY'
import json, sys
llm, dsm = (json.load(open(p))["runs"][0] for p in sys.argv[1:3])
print(json.dumps({"minute": int(sys.argv[3]), "llm_requests": llm["requests"], "llm_errors": llm["errors"], "llm_p99_ms": llm["p99_ms"],
                  "dsm_requests": dsm["requests"], "dsm_errors": dsm["errors"], "reload_status": int(sys.argv[4]), "server_rss_mb": int(sys.argv[5])}))
PY
)
  rows+=("$row")
  echo "$row" | python3 -c 'import json, sys; r = json.load(sys.stdin); keys = ("minute", "llm_requests", "llm_errors", "llm_p99_ms", "dsm_requests", "dsm_errors", "reload_status", "server_rss_mb"); print("%6d  %12d  %10d  %10.1f  %12d  %10d  %6d  %13d" % tuple(r[k] for k in keys))'
done
touch "$work/stop"
wait "${pids[1]}" 2>/dev/null || true
trained=$(grep -c '^ok' "$work/train-results" 2>/dev/null || true)
failed=$(grep -c '^failed' "$work/train-results" 2>/dev/null || true)
printf '%s\n' "${rows[@]}" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
print(json.dumps({"bench": "soak", "minutes": len(rows), "training_jobs_finished": int(sys.argv[1] or 0), "training_jobs_failed": int(sys.argv[2] or 0),
  "llm_requests": sum(r["llm_requests"] for r in rows), "dsm_requests": sum(r["dsm_requests"] for r in rows),
  "errors": sum(r["llm_errors"] + r["dsm_errors"] for r in rows), "reloads_ok": sum(r["reload_status"] == 200 for r in rows),
  "llm_p99_ms_max": max(r["llm_p99_ms"] for r in rows), "rss_mb": [r["server_rss_mb"] for r in rows]}))' "$trained" "$failed"
