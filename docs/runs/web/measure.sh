# issue 16's measurements, run on a quiet machine: every output to runs/web/out/
# run from a checkout with a model in runs/recipe/sbert and the data in ../shared/data; nothing else running
set -x
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"  # the checkout, wherever it is
O=runs/web/out; mkdir -p $O
PY=.venv/bin/python; M=runs/recipe/sbert; D=../shared/data
lscpu > $O/lscpu.txt
git log --oneline -1 > $O/commit.txt
$PY benchmarks/search_latency.py --model $M --data-dir $D --sizes 10000 100000 > $O/search_latency.txt 2>&1
$PY benchmarks/search_latency.py --model $M --data-dir $D --sizes 10000 100000 --in-process > $O/search_latency_in_process.txt 2>&1
for run in 1 2; do
  $PY benchmarks/latency.py --model $M --clients 8 --requests 400 > $O/predict_latency_run$run.txt 2>&1
  $PY benchmarks/latency.py --model $M --clients 8 --requests 400 --in-process > $O/predict_latency_in_process_run$run.txt 2>&1
  $PY benchmarks/search_latency.py --model $M --data-dir $D --sizes 10000 > $O/search_latency_10k_run$run.txt 2>&1
done
$PY benchmarks/latency.py --model $M --clients 8 --requests 400 --threads 2 > $O/predict_latency_2threads.txt 2>&1
$PY benchmarks/search_latency.py --model $M --data-dir $D --sizes 10000 --threads 2 > $O/search_latency_2threads.txt 2>&1
$PY benchmarks/latency.py --model $M --clients 1 --requests 200 > $O/predict_one_client.txt 2>&1
$PY benchmarks/latency.py --model $M --clients 1 --requests 200 --explain > $O/explain_one_client.txt 2>&1
echo measured
