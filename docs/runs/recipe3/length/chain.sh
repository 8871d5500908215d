#!/bin/bash
# The recipe's fine-tuning three times as long (4,500 steps instead of 1,500), seed 0, from the 60-minute
# checkpoint (contrastive weight 0.3) and from random weights (0.1): each start's chosen weight (RESULTS §5).
# Outputs go to runs/recipe3/length/; each fine-tuning is scored on stsb:train (what §5's rule reads) and then
# on snli:test and stsb:dev. Ran from a clone of the repository at the commit named in the log.
set -x
cd /tmp/snap7
git rev-parse HEAD
S=/work/main/runs/recipe3/length
D=/work/shared/data
mkdir -p $S
ft() {
    out=$S/$1; shift
    [ -f $out/report.json ] && return
    .venv/bin/python finetune.py --train snli:dev,mnli:dev_matched --val-fraction 0.05 --data-dir $D \
        --batch-size 32 --features "u,v,|u-v|" --epochs 100 --max-steps 4500 --eval-every 250 --lr 3e-4 "$@" \
        --out $out > $out.log 2>&1
    .venv/bin/python evaluate.py --model $out --sts stsb:train --data-dir $D --out $out/stsb-train > $out.eval.log 2>&1
    .venv/bin/python evaluate.py --model $out --test snli:test --sts stsb:dev --data-dir $D >> $out.eval.log 2>&1
}
ft ft4500-60min-c0.3-seed0 --bert /work/main/runs/recipe3/bert --contrastive-weight 0.3 --seed 0
ft ft4500-random-c0.1-seed0 --bert /work/main/runs/recipe3/bert --random-init --contrastive-weight 0.1 --seed 0
touch $S/.chain-done
