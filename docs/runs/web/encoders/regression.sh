# Issue 16: does the encoder pool (batching.Encoders) cost anything with one encoder? The checkout before it
# (54e4b9c) and after it, --encoders 1, interleaved, three times each: /search over 10,000 sentences and
# /predict, 8 clients, 1,000 requests a run. $OLD and $NEW are the two checkouts, each with .venv.
set -x
O=$NEW/runs/web/encoders; mkdir -p $O
M=${M:-$NEW/runs/term0.3/sbert}; D=${D:-$(cd ../shared/data && pwd)}
for run in 1 2 3; do
  for side in old new; do
    dir=$OLD; [ $side = new ] && dir=$NEW
    (cd $dir && .venv/bin/python benchmarks/search_latency.py --model $M --data-dir $D --sizes 10000 --requests 1000 \
      --threads 1 > $O/search_${side}_run$run.txt 2>&1
     .venv/bin/python benchmarks/latency.py --model $M --clients 8 --requests 1000 --threads 1 \
      > $O/predict_${side}_run$run.txt 2>&1)
  done
done
echo compared
