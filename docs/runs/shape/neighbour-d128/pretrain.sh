#!/bin/bash
# Issue 13, session 10 (a first try in session 9 was lost with its machine): two levers together — the recipe (RESULTS §2: the neighbour term, two length passes) at
# the narrower width of §4 (d_model 128, 2 heads, d_ff 512), alone on the machine for 60 minutes, keeping copies
# at 15 and 30 minutes; then the checkpoint's zero-shot similarity.
set -x
cd /tmp/snap9
git rev-parse HEAD
R=/work/main/runs/shape/d128-neighbour
D=/work/shared/data
date -u
.venv/bin/python pretrain.py --corpus $D/wikipedia/enwiki_0{4,5,6,7}.txt.gz snli:dev mnli:dev_matched sick:train \
    --nli-share 0.9 --exclude-sentences-of snli:test,stsb:dev --no-nsp --max-len 64 --max-samples 0 \
    --data-dir $D --preset small --d-model 128 --heads 2 --d-ff 512 --pre-layer-norm --dropout 0 --lr 5e-4 \
    --warmup-fraction 0.05 --batch-size 32 --eval-every 500 --eval-batches 20 --log-every 50 --seed 0 \
    --length-passes 2 --neighbour-contrastive-weight 1 --max-minutes 60 --keep-at-minutes 15 30 --out $R/bert \
    > $R/pretrain.log 2>&1 || exit 1
date -u
.venv/bin/python evaluate.py --model $R/bert --data-dir $D > $R/bert.eval.log 2>&1
date -u
echo pretrain done
touch $R/.pretrain-done
