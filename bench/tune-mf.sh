#!/usr/bin/env bash
# Tunes MF-BPR's learning rate and L2 weight on a validation split carved from the ML-100K
# 80/20 training file (10% of each user's training items; the test file is never read for this),
# then prints the best setting by validation recall@20.
# Usage: bench/tune-mf.sh [BENCHMARKS_DIR]   (default ../shared/benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
bench="${1:-../shared/benchmarks}"
split="$bench/ml-100k/lightgcn-80-20"
dotnet build src/BridgeRec.Cli -c Release -v q >/dev/null
bin=src/BridgeRec.Cli/bin/Release/net10.0/bridgerec
out=$(mktemp -d)
printf 'lr\tl2\tval_recall@20\tbest_epoch\n'
for lr in 0.001 0.0025 0.005 0.01; do
  for l2 in 1e-4 1e-3 1e-2 3e-2 1e-1; do
    "$bin" train --data "$split" --format ml100k-bench --valid-ratio 0.1 --model mf --lr "$lr" --l2 "$l2" \
      --epochs 1000 --eval-every 10 --patience 5 --ks 20 --out "$out/mf-$lr-$l2" >/dev/null
    python3 -c "import json,sys; m=json.load(open('$out/mf-$lr-$l2/metrics.json')); print('$lr\t$l2\t%.4f\t%d' % (m['validation_best']['recall@20'], m['best_epoch']))"
  done
done | tee "$out/grid.tsv"
echo "best by validation recall@20:"; sort -t$'\t' -k3 -gr "$out/grid.tsv" | head -1
rm -rf "$out"
