# Issue 16, a trial: does a shorter interpreter switch interval in the server's process (0.5 ms instead of
# Python's 5 ms) shorten /search and /predict under 8 clients? The request threads and the batcher's worker
# share the server's interpreter lock; the worker waits for it each time the encoder process answers.
# sitecustomize.py (this folder, on PYTHONPATH) sets it from AGREE_SI in the server's process only (not in the
# spawned encoder and client processes). Default and shorter interleaved, four times each, 1,000 requests a run.
# Run from the checkout with a `small` model in $M and the data in ../shared/data; nothing else running.
set -x
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
O=runs/web/switch; mkdir -p $O
M=${M:-$PWD/runs/term0.3/sbert}; D=$(cd ../shared/data && pwd)
lscpu > $O/lscpu.txt; git log --oneline -1 > $O/commit.txt; echo "$M" > $O/model.txt
for run in 1 2 3 4; do
  for side in default short; do
    si=; [ $side = short ] && si=0.0005
    export AGREE_SI=$si PYTHONPATH=$PWD/docs/runs/web/switch
    .venv/bin/python benchmarks/search_latency.py --model $M --data-dir $D --sizes 10000 --requests 1000 > $O/search_${side}_run$run.txt 2>&1
    .venv/bin/python benchmarks/latency.py --model $M --clients 8 --requests 1000 > $O/predict_${side}_run$run.txt 2>&1
  done
done
echo compared
