# Packed against padded encoding in the server (issue 16): the checkout before packing (a7b94de) and this one,
# interleaved, four times each, 1,000 requests a run, 8 clients, encoder process, 1 torch thread.
# Run from the checkout with the headline model in runs/recipe3/sbert and the data in ../shared/data; nothing else running.
set -x
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"  # the checkout, wherever it is
O=runs/web/packing; mkdir -p $O
M=$PWD/runs/recipe3/sbert; D=$(cd ../shared/data && pwd)
BEFORE=/tmp/agree-before-packing
[ -d $BEFORE ] || git worktree add -f $BEFORE a7b94de
ln -sfn $PWD/.venv $BEFORE/.venv
lscpu > $O/lscpu.txt; git log --oneline -1 > $O/commit.txt
.venv/bin/python benchmarks/encoder_cost.py --model $M > $O/encoder_cost.txt 2>&1
for run in 1 2 3 4; do
  for side in before after; do
    dir=$PWD; [ $side = before ] && dir=$BEFORE
    (cd $dir && .venv/bin/python benchmarks/search_latency.py --model $M --data-dir $D --sizes 10000 --requests 1000) > $O/search_${side}_run$run.txt 2>&1
    (cd $dir && .venv/bin/python benchmarks/latency.py --model $M --clients 8 --requests 1000) > $O/predict_${side}_run$run.txt 2>&1
  done
done
.venv/bin/python benchmarks/latency.py --model $M --clients 1 --requests 200 > $O/predict_one_client.txt 2>&1
.venv/bin/python benchmarks/latency.py --model $M --clients 1 --requests 200 --explain > $O/explain_one_client.txt 2>&1
echo compared
