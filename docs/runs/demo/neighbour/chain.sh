#!/bin/bash
# Issue 13, after runs/recipe4/chain.sh: the validation figure §5's rule needs for the new headline
# (stsb:train), the best constant answer on the new checkpoint's held-out batches, then `make demo`'s training
# stages with the recipe's sentence-level term scaled down (DEMO_SENTENCE_LEVERS, commit 6f0b737), alone on
# the machine, fine-tuned with contrastive weight 0.1 (through make) and 0.3 (the same finetune.py command as
# the Makefile's, from the same checkpoint), for §5's rule against the demo as it is (docs/runs/demo/).
set -x
cd /tmp/snap8b
git rev-parse HEAD
R=/work/main/runs/recipe4
S=/work/main/runs/demo4
D=/work/shared/data
while [ ! -f $R/.chain-done ]; do sleep 15; done
date -u
.venv/bin/python evaluate.py --model $R/sbert --sts stsb:train --data-dir $D --out $R/sbert/stsb-train > $R/sbert.stsb-train.log 2>&1
.venv/bin/python docs/runs/recipe2/frequent_word_baseline.py --model $R/bert --data-dir $D > $R/frequent_word_baseline.txt 2> $R/frequent_word_baseline.err
date -u
make $S/sbert/.done RUN_DIR=$S DATA_DIR=$D DEMO_SENTENCE_LEVERS="--length-passes 2 --neighbour-contrastive-weight 1" \
    DEMO_CONTRASTIVE_WEIGHT=0.1 > $S/demo.log 2>&1
date -u
.venv/bin/python evaluate.py --model $S/sbert --sts stsb:train --data-dir $D --out $S/sbert/stsb-train > $S/sbert.stsb-train.log 2>&1
.venv/bin/python finetune.py --bert $S/bert --train snli:dev,mnli:dev_matched,sick:train --val-fraction 0.05 --data-dir $D \
    --lr 3e-4 --batch-size 32 --epochs 3 --contrastive-weight 0.3 --max-minutes 5 --out $S/sbert-c0.3 > $S/sbert-c0.3.log 2>&1
.venv/bin/python evaluate.py --model $S/sbert-c0.3 --test snli:test --sts stsb:dev --data-dir $D >> $S/sbert-c0.3.log 2>&1
.venv/bin/python evaluate.py --model $S/sbert-c0.3 --sts stsb:train --data-dir $D --out $S/sbert-c0.3/stsb-train > $S/sbert-c0.3.stsb-train.log 2>&1
.venv/bin/python docs/runs/recipe2/frequent_word_baseline.py --model $S/bert --data-dir $D > $S/frequent_word_baseline.txt 2> $S/frequent_word_baseline.err
date -u
touch $S/.chain-done
