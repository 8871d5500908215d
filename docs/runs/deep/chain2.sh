#!/bin/bash
# Issue 13, the depth lever's fine-tuning (chain.sh pre-trained runs/deep/bert and fine-tuned its headline run,
# weight 0.1 at seed 0). RESULTS §5's protocol for both starts: random weights of this new shape cannot reuse
# earlier rows, so each start gets weights 0.1 and 0.3 at seed 0, §5's rule choosing, and its chosen weight at
# seed 1, through the same helpers (as run, random weights had copies of their own that passed make only their
# weight: the same commands; chain2.log shows those names). The two starts run side by side, one torch thread
# each (fine-tunings count steps, not minutes; the headline run's time, alone, is the one that says what a
# fine-tuning costs). Waits for chain.sh's make.
set -x
cd /tmp/snap13
R=/work/main/runs/deep
D=/work/shared/data
while pgrep -f "make recipe-headline RECIPE_DIR=$R" > /dev/null; do sleep 20; done
[ -f $R/sbert/report.json ] || exit 1
date -u
export OMP_NUM_THREADS=1
source docs/runs/shape/weight-rule.sh  # stsb_train, transfer, chosen_weight, rule_then_seed_1
(   TRANSFER_LOG=$R.transfer.log
    .venv/bin/python evaluate.py --model $R/bert --data-dir $D > $R/bert.eval.log 2>&1
    .venv/bin/python evaluate.py --model $R/bert --sts stsb:dev --data-dir $D --out $R/bert-stsb-dev \
        > $R/bert-stsb-dev.log 2>&1
    rule_then_seed_1 ) &
(   TRANSFER_LOG=$R.transfer-random.log
    transfer 0.1 random 0
    transfer 0.3 random 0
    W=$(chosen_weight random)
    echo "rule chose $W for random weights"
    transfer $W random 1 ) &
wait
date -u
touch $R/.chain-done
