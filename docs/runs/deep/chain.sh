#!/bin/bash
# Issue 13, RESULTS §9 item 4's untried "depth": the recipe (make recipe-headline, sentence-level term included)
# with 6 encoder layers instead of the small preset's 4, the width and everything else unchanged, alone on the
# machine for its 60 minutes, then the headline's fine-tuning (weight 0.1, seed 0) and evaluation, alone too.
# The rest of RESULTS §5's protocol for both starts is chain2.sh. (As first written, this script went on to
# run those fine-tunings one after another; it was stopped during the pre-training, leaving make to finish,
# and chain2.sh runs them two at a time instead, one torch thread each, which takes less of the session.)
set -x
cd /tmp/snap13
git rev-parse HEAD
R=/work/main/runs/deep
D=/work/shared/data
lscpu > $R.machine.txt
date -u
make recipe-headline RECIPE_DIR=$R DATA_DIR=$D \
    SENTENCE_LEVERS="--length-passes 2 --neighbour-contrastive-weight 1 --layers 6" > $R.headline.log 2>&1 || exit 1
