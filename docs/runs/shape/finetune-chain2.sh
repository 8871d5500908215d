#!/bin/bash
# Session 6, second part: seed 1 of each start's chosen fine-tuning (d 128: weight 0.1 pre-trained, 0.3 random),
# and the 15- and 30-minute copies of the d-128 run with the pre-trained start's choice, seeds 0 and 1.
set -x
source "$(dirname "$0")/finetune-run.sh"  # ft NAME BERT_DIR STEPS [options]; S, D
while ! grep -q "chain done" $S/finetune-chain.log; do sleep 20; done
ft d128/ft-60min-c0.1-seed1 $S/d128/bert 1500 --contrastive-weight 0.1 --seed 1
ft d128/ft-random-c0.3-seed1 $S/d128/bert 1500 --random-init --contrastive-weight 0.3 --seed 1
for m in 30 15; do for s in 0 1; do
    ft d128/ft-${m}min-c0.1-seed$s $S/d128/bert-${m}min 1500 --contrastive-weight 0.1 --seed $s
done; done
echo chain done
