# serve.py's encoder process against --in-process, interleaved, four times each; 1,000 requests a run
# run from a checkout with a model in runs/recipe/sbert and the data in ../shared/data; nothing else running
set -x
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"  # the checkout, wherever it is
O=runs/web/compare; mkdir -p $O
PY=.venv/bin/python; M=runs/recipe/sbert; D=../shared/data
$PY benchmarks/gil_convoy.py --model $M > $O/gil_convoy.txt 2>&1
for run in 1 2 3 4; do
  $PY benchmarks/search_latency.py --model $M --data-dir $D --sizes 10000 --requests 1000 > $O/search_process_run$run.txt 2>&1
  $PY benchmarks/search_latency.py --model $M --data-dir $D --sizes 10000 --requests 1000 --in-process > $O/search_in_process_run$run.txt 2>&1
  $PY benchmarks/latency.py --model $M --clients 8 --requests 1000 > $O/predict_process_run$run.txt 2>&1
  $PY benchmarks/latency.py --model $M --clients 8 --requests 1000 --in-process > $O/predict_in_process_run$run.txt 2>&1
done
echo compared
