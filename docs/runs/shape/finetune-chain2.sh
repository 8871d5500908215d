#!/bin/bash
# Session 6, second part: seed 1 of each start's chosen fine-tuning (d 128: weight 0.1 pre-trained, 0.3 random),
# and the 15- and 30-minute copies of the d-128 run with the pre-trained start's choice, seeds 0 and 1.
set -x
cd /tmp/snap6
S=/work/main/runs/shape
D=/work/shared/data
while ! grep -q "chain done" $S/finetune-chain.log; do sleep 20; done
ft() {  # name, bert dir, extra options...
    out=$S/$1; shift; bert=$1; shift
    [ -f $out/report.json ] && return
    .venv/bin/python finetune.py --bert $bert --train snli:dev,mnli:dev_matched --val-fraction 0.05 --data-dir $D \
        --batch-size 32 --features "u,v,|u-v|" --epochs 100 --max-steps 1500 --eval-every 250 --lr 3e-4 "$@" --out $out \
        > $out.log 2>&1
    .venv/bin/python evaluate.py --model $out --sts stsb:train --data-dir $D --out $out/stsb-train > $out.eval.log 2>&1
    .venv/bin/python evaluate.py --model $out --test snli:test --sts stsb:dev --data-dir $D >> $out.eval.log 2>&1
}
ft d128/ft-60min-c0.1-seed1 $S/d128/bert --contrastive-weight 0.1 --seed 1
ft d128/ft-random-c0.3-seed1 $S/d128/bert --random-init --contrastive-weight 0.3 --seed 1
for m in 30 15; do for s in 0 1; do
    ft d128/ft-${m}min-c0.1-seed$s $S/d128/bert-${m}min --contrastive-weight 0.1 --seed $s
done; done
echo chain done
