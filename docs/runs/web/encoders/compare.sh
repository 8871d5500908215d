# Issue 16: one encoder process against two (serve.py --encoders), /search over 10,000 sentences and /predict,
# 8 clients, 1,000 requests a run, interleaved, four times each. Each encoder process has 1 torch thread.
# Run from the checkout with a `small` model in $M and the data in ../shared/data; nothing else running.
set -x
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
O=runs/web/encoders; mkdir -p $O
M=${M:-$PWD/runs/term0.3/sbert}; D=${D:-$(cd ../shared/data && pwd)}
lscpu > $O/lscpu.txt; git log --oneline -1 > $O/commit.txt; echo "$M" > $O/model.txt
for run in 1 2 3 4; do
  for encoders in 1 2; do
    .venv/bin/python benchmarks/search_latency.py --model $M --data-dir $D --sizes 10000 --requests 1000 \
      --threads 1 --encoders $encoders > $O/search_${encoders}_run$run.txt 2>&1
    .venv/bin/python benchmarks/latency.py --model $M --clients 8 --requests 1000 \
      --threads 1 --encoders $encoders > $O/predict_${encoders}_run$run.txt 2>&1
  done
done
echo compared
