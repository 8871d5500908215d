#!/bin/bash
# Session 10, fourth part: a fine-tuning that keeps more of what pre-training learnt, on the d 128 + term
# checkpoint: the encoder at 0.3 times the head's learning rate (--encoder-lr-scale 0.3) with the chosen
# weight 0.3, seeds 0 and 1; §5's rule compares it with the plain fine-tuning at seed 0.
set -x
source /tmp/snap9/finetune-run.sh  # ft NAME BERT_DIR STEPS [options]
R=/work/main/runs/shape/d128-neighbour
for s in 0 1; do ft ft-60min-c0.3-lrscale0.3-seed$s $R/bert 1500 --contrastive-weight 0.3 --encoder-lr-scale 0.3 --seed $s; done
date -u
echo chain done
