# The same web benchmarks with the narrower model of RESULTS §4 (d 128, fine-tuned, seed 0), two runs each,
# 1,000 requests a run, 8 clients, encoder process, 1 torch thread. Nothing else running.
set -x
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
O=runs/web/packing; mkdir -p $O
M=$PWD/runs/shape/d128/ft-60min-c0.1-seed0; D=$(cd ../shared/data && pwd)
git log --oneline -1 > $O/narrow_commit.txt
for run in 1 2; do
  .venv/bin/python benchmarks/search_latency.py --model $M --data-dir $D --sizes 10000 --requests 1000 > $O/narrow_search_run$run.txt 2>&1
  .venv/bin/python benchmarks/latency.py --model $M --clients 8 --requests 1000 > $O/narrow_predict_run$run.txt 2>&1
done
echo measured
