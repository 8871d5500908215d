#!/bin/bash
# Issue 13, session 11: the recipe with a lighter sentence-level term (--neighbour-contrastive-weight 0.3
# instead of 1; RESULTS §9 item 3), alone on the machine. The pre-training is stopped at recipe 4's 5,907 steps
# (or at 60 minutes, whichever comes first), so that it compares with recipe 4 step for step on another
# processor. Then, as RESULTS §5 does for a start: fine-tuning weights 0.1 (the headline run) and 0.3 at seed 0,
# §5's rule choosing; the chosen weight at seed 1; then the 15- and 30-minute copies with it.
# Random weights: the same network as recipe 3's and 4's (config checked below), so their rows are reused.
# The fine-tuning helpers live in docs/runs/shape/weight-rule.sh since this ran (the same commands).
set -x
cd /tmp/snap11
git rev-parse HEAD
R=/work/main/runs/term0.3
D=/work/shared/data
date -u
make recipe-headline RECIPE_DIR=$R DATA_DIR=$D \
    SENTENCE_LEVERS="--length-passes 2 --neighbour-contrastive-weight 0.3 --max-steps 5907" > $R/headline.log 2>&1 || exit 1
date -u
TRANSFER_LOG=$R/transfer.log
source docs/runs/shape/weight-rule.sh
checkpoint_checks
rule_then_seed_1
transfer $W "15min 30min" 0
date -u
transfer $W "15min 30min" 1
date -u
touch $R/.chain-done
