#!/bin/bash
# Issue 13, session 11: the rest of chain.sh, which was stopped as it began the second seed of the 15- and
# 30-minute copies so that head-first.sh could run first (chain-stopped.txt). Waits for head-first.sh.
set -x
cd /tmp/snap11b
git rev-parse HEAD
R=/work/main/runs/term0.3
D=/work/shared/data
while [ ! -f $R/.head-first-done ]; do sleep 20; done
date -u
make recipe-transfer RECIPE_DIR=$R DATA_DIR=$D CONTRASTIVE_WEIGHT=0.3 TRANSFER_STARTS="15min 30min" TRANSFER_SEEDS=1 \
    TRANSFER_DIR=$R/transfer-c0.3 >> $R/transfer.log 2>&1 || exit 1
for start in 15min 30min; do
  out=$R/transfer-c0.3/sbert-$start-seed1
  .venv/bin/python evaluate.py --model $out --sts stsb:train --data-dir $D --out $out/stsb-train > $out.stsb-train.log 2>&1
done
date -u
touch $R/.chain2-done
