#!/bin/bash
# Session 6: fine-tune the d_model-128 shape (runs/shape/d128/bert) from its 60 minutes and from random weights,
# contrastive weights 0.3 and 0.1 at seed 0 (RESULTS §5's rule chooses per start); then the frozen-word-embeddings
# lever on the recipe's 60-minute checkpoint. Waits for the pre-training to end.
set -x
source "$(dirname "$0")/finetune-run.sh"  # ft NAME BERT_DIR STEPS [options]; S, D
while ! grep -q "pretrain done" $S/pretrain-d128.log; do sleep 20; done
ft d128/ft-60min-c0.3-seed0 $S/d128/bert 1500 --contrastive-weight 0.3 --seed 0
ft d128/ft-random-c0.1-seed0 $S/d128/bert 1500 --random-init --contrastive-weight 0.1 --seed 0
ft d128/ft-60min-c0.1-seed0 $S/d128/bert 1500 --contrastive-weight 0.1 --seed 0
ft d128/ft-random-c0.3-seed0 $S/d128/bert 1500 --random-init --contrastive-weight 0.3 --seed 0
ft frozen-emb/ft-60min-c0.3-seed0 /work/main/runs/recipe3/bert 1500 --freeze-word-embeddings --contrastive-weight 0.3 --seed 0
echo chain done
