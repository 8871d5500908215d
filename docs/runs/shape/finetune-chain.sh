#!/bin/bash
# Session 6: fine-tune the d_model-128 shape (runs/shape/d128/bert) from its 60 minutes and from random weights,
# contrastive weights 0.3 and 0.1 at seed 0 (RESULTS §5's rule chooses per start); then the frozen-word-embeddings
# lever on the recipe's 60-minute checkpoint. Waits for the pre-training to end.
set -x
cd /tmp/snap6
S=/work/main/runs/shape
D=/work/shared/data
while ! grep -q "pretrain done" $S/pretrain-d128.log; do sleep 20; done
ft() {  # name, bert dir, extra options...
    out=$S/$1; shift; bert=$1; shift
    [ -f $out/report.json ] && return
    .venv/bin/python finetune.py --bert $bert --train snli:dev,mnli:dev_matched --val-fraction 0.05 --data-dir $D \
        --batch-size 32 --features "u,v,|u-v|" --epochs 100 --max-steps 1500 --eval-every 250 --lr 3e-4 "$@" --out $out \
        > $out.log 2>&1
    .venv/bin/python evaluate.py --model $out --sts stsb:train --data-dir $D --out $out/stsb-train > $out.eval.log 2>&1
    .venv/bin/python evaluate.py --model $out --test snli:test --sts stsb:dev --data-dir $D >> $out.eval.log 2>&1
}
ft d128/ft-60min-c0.3-seed0 $S/d128/bert --contrastive-weight 0.3 --seed 0
ft d128/ft-random-c0.1-seed0 $S/d128/bert --random-init --contrastive-weight 0.1 --seed 0
ft d128/ft-60min-c0.1-seed0 $S/d128/bert --contrastive-weight 0.1 --seed 0
ft d128/ft-random-c0.3-seed0 $S/d128/bert --random-init --contrastive-weight 0.3 --seed 0
ft frozen-emb/ft-60min-c0.3-seed0 /work/main/runs/recipe3/bert --freeze-word-embeddings --contrastive-weight 0.3 --seed 0
echo chain done
