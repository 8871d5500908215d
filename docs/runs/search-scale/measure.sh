#!/bin/bash
# Issue 32: /predict and /search with int8 inference and int8 index rows (serve.py's defaults) against fp32, and
# search at 10,000, 100,000 and 1,000,000 sentences. Run alone on the machine, after the pre-training runs:
#   bash docs/runs/search-scale/measure.sh runs/recipe-seed0/sbert
# The model: any of the headline's shape (small preset, d = 256). Outputs land here.
set -euo pipefail
cd "$(dirname "$0")/../../.."
model=${1:?usage: measure.sh MODEL_DIR}
out=docs/runs/search-scale
{ date -u +%Y-%m-%dT%H:%MZ; git rev-parse --short HEAD; echo "model $model"; lscpu | grep -E 'Model name|^CPU\(s\)|Flags' | cut -c1-400; } \
    > $out/machine.txt
py=.venv/bin/python
$py benchmarks/memory_bandwidth.py --threads 1 2 | tee $out/memory_bandwidth.txt
for run in 1 2; do
    $py benchmarks/latency.py --model "$model" | tee $out/predict_int8_run$run.txt
    $py benchmarks/latency.py --model "$model" --no-int8 | tee $out/predict_fp32_run$run.txt
done
$py benchmarks/search_latency.py --model "$model" --data-dir ../shared/data --sizes 10000 100000 \
    --synthetic-sizes 1000000 2>&1 | grep -v "^note" | tee $out/search_int8.txt
$py benchmarks/search_latency.py --model "$model" --data-dir ../shared/data --sizes 10000 100000 \
    --synthetic-sizes 1000000 --no-int8 --index-rows fp32 2>&1 | grep -v "^note" | tee $out/search_fp32.txt
