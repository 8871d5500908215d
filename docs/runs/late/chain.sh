#!/bin/bash
# Issue 13, RESULTS §9 item 3's "the term only in the second half of the hour": make recipe-headline with the
# sentence-level term switched on at 30 minutes (--neighbour-contrastive-from 0.5), alone on the machine; the
# encoder's zero-shot similarity; then, as RESULTS §5 does for a start, fine-tuning weights 0.1 (the headline
# run) and 0.3 at seed 0, §5's rule choosing, and the chosen weight at seed 1. Random weights: the same network
# as recipes 3 and 4 (config checked below), so their rows are reused.
# The fine-tuning helpers live in docs/runs/shape/weight-rule.sh since this ran (the same commands).
set -x
cd /tmp/snap12
git rev-parse HEAD
R=/work/main/runs/late
D=/work/shared/data
lscpu > $R.machine.txt
date -u
make recipe-headline RECIPE_DIR=$R DATA_DIR=$D \
    SENTENCE_LEVERS="--length-passes 2 --neighbour-contrastive-weight 1 --neighbour-contrastive-from 0.5" \
    > $R.headline.log 2>&1 || exit 1
date -u
TRANSFER_LOG=$R.transfer.log
source docs/runs/shape/weight-rule.sh
checkpoint_checks
.venv/bin/python evaluate.py --model $R/bert --sts stsb:dev --data-dir $D --out $R/bert-stsb-dev > $R/bert-stsb-dev.log 2>&1
rule_then_seed_1
touch $R/.chain-done
