#!/bin/bash
# Issue 13, session 11: the slower encoder (--encoder-lr-scale 0.3, RESULTS §5) on a d 256 checkpoint
# pre-trained with the sentence-level term (the weight-0.3 hour; §9 listed it as untried at d 256), with the
# checkpoint's chosen contrastive weight 0.3, seed 0, for §5's rule.
set -x
cd /tmp/snap11b
git rev-parse HEAD
R=/work/main/runs/term0.3
D=/work/shared/data
out=$R/slower-encoder/sbert-60min-seed0
mkdir -p $R/slower-encoder
date -u
.venv/bin/python finetune.py --bert $R/bert --train snli:dev,mnli:dev_matched --val-fraction 0.05 \
    --data-dir $D --batch-size 32 --features "u,v,|u-v|" --epochs 100 --max-steps 1500 --eval-every 250 \
    --lr 3e-4 --contrastive-weight 0.3 --encoder-lr-scale 0.3 --seed 0 --out $out > $out.log 2>&1 || exit 1
.venv/bin/python evaluate.py --model $out --sts stsb:train --data-dir $D --out $out/stsb-train > $out.eval.log 2>&1
.venv/bin/python evaluate.py --model $out --test snli:test --sts stsb:dev --data-dir $D >> $out.eval.log 2>&1
date -u
touch $R/.slower-done
