#!/bin/bash
# Session 10, third part: the 4,500-step comparison again with seed 1, for both starts (the 60-minute d 128 +
# term checkpoint and random weights of its shape, weight 0.3 for both), so that the transfer with the
# fine-tuning's length among the choices rests on two seeds, as the 1,500-step figures do.
set -x
source /tmp/snap9/finetune-run.sh  # ft NAME BERT_DIR STEPS [options]
R=/work/main/runs/shape/d128-neighbour
ft ft4500-60min-c0.3-seed1 $R/bert 4500 --contrastive-weight 0.3 --seed 1
ft ft4500-random-c0.3-seed1 $R/bert 4500 --random-init --contrastive-weight 0.3 --seed 1
date -u
echo chain done
