#!/bin/bash
# Session 10: fine-tune the d 128 + neighbour-term hour (runs/shape/d128-neighbour) as §5 does for a start:
# contrastive weights 0.1 and 0.3, seeds 0 and 1, from the 60-minute checkpoint. Random weights of this shape
# were fine-tuned in session 6 (docs/runs/shape/d128/ft-random-*); --random-init reads only the config and the
# vocabulary, the config is checked equal here (all but the step) and the vocabulary is counted from the same
# corpus, so those rows are reused; finetune-chain2.sh repeats one of them on this processor to show they hold.
# Waits for the pre-training to end.
set -x
source /tmp/snap9/finetune-run.sh  # ft NAME BERT_DIR STEPS [options]
R=/work/main/runs/shape/d128-neighbour
while [ ! -f $R/.pretrain-done ]; do sleep 20; done
diff <(grep -v '"step"' $R/bert/config.json) <(grep -v '"step"' /work/main/docs/runs/shape/d128/bert/config.json) || exit 1
for w in 0.1 0.3; do for s in 0 1; do ft ft-60min-c$w-seed$s $R/bert 1500 --contrastive-weight $w --seed $s; done; done
date -u
echo chain done
touch $R/.ft-done
