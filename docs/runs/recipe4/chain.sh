#!/bin/bash
# Issue 13: the recipe with the neighbour term, reproduced through the Makefile (commit d97f036), alone on the
# machine: make recipe-headline, the pre-trained encoder's zero-shot similarity, then recipe-transfer.
# Random weights: the same network as runs/recipe3's (same vocabulary and config, checked here), so its two
# fine-tunings are reused rather than repeated.
set -x
cd /tmp/snap8
git rev-parse HEAD
R=/work/main/runs/recipe4
D=/work/shared/data
date -u
make recipe-headline RECIPE_DIR=$R DATA_DIR=$D > $R/headline.log 2>&1 || exit 1
date -u
.venv/bin/python evaluate.py --model $R/bert --data-dir $D > $R/bert.eval.log 2>&1
cmp $R/bert/vocab.txt /work/main/runs/recipe3/bert/vocab.txt && cmp $R/bert/config.json /work/main/runs/recipe3/bert/config.json \
  && mkdir -p $R/transfer && for s in 0 1; do [ -d $R/transfer/sbert-random-seed$s ] || cp -r /work/main/runs/recipe3/transfer/sbert-random-seed$s $R/transfer/; done
make recipe-transfer RECIPE_DIR=$R DATA_DIR=$D TRANSFER_STARTS="random 60min 15min 30min" > $R/transfer.log 2>&1
date -u
touch $R/.chain-done
