#!/bin/bash
# Session 6, third part: the d-128 shape's fine-tuning three times as long (4,500 steps, still within the
# 30 minutes allowed), each start with its chosen weight, seed 0.
set -x
cd /tmp/snap6
S=/work/main/runs/shape
D=/work/shared/data
ft() {  # name, bert dir, extra options...
    out=$S/$1; shift; bert=$1; shift
    [ -f $out/report.json ] && return
    .venv/bin/python finetune.py --bert $bert --train snli:dev,mnli:dev_matched --val-fraction 0.05 --data-dir $D \
        --batch-size 32 --features "u,v,|u-v|" --epochs 100 --eval-every 250 --lr 3e-4 "$@" --out $out > $out.log 2>&1
    .venv/bin/python evaluate.py --model $out --sts stsb:train --data-dir $D --out $out/stsb-train > $out.eval.log 2>&1
    .venv/bin/python evaluate.py --model $out --test snli:test --sts stsb:dev --data-dir $D >> $out.eval.log 2>&1
}
ft d128/ft4500-60min-c0.1-seed0 $S/d128/bert --max-steps 4500 --contrastive-weight 0.1 --seed 0
ft d128/ft4500-random-c0.3-seed0 $S/d128/bert --max-steps 4500 --random-init --contrastive-weight 0.3 --seed 0
echo chain done
