#!/bin/bash
# Session 6, third part: the d-128 shape's fine-tuning three times as long (4,500 steps, still within the
# 30 minutes allowed), each start with its chosen weight, seed 0.
set -x
source "$(dirname "$0")/finetune-run.sh"  # ft NAME BERT_DIR STEPS [options]; S, D
ft d128/ft4500-60min-c0.1-seed0 $S/d128/bert 4500 --contrastive-weight 0.1 --seed 0
ft d128/ft4500-random-c0.3-seed0 $S/d128/bert 4500 --random-init --contrastive-weight 0.3 --seed 0
echo chain done
