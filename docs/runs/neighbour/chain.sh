#!/bin/bash
# Issue 13, the neighbour lever end to end: the recipe's hour of pre-training (make recipe-headline's command)
# plus --neighbour-contrastive-weight 1 and --length-passes 2 (the same arithmetic, 1.44x less time per
# masked-LM batch, so that the term costs fewer steps), alone on the machine; then fine-tuned as the recipe's
# 60-minute start (contrastive weight 0.3, seeds 0 and 1), as RESULTS section 4 measures a pre-training lever,
# then with weight 0.1 at seed 0 for section 5's rule. Waits for the fine-tuning-length chain to finish first.
# Ran from a clone of the repository at the commit the log names.
set -x
cd /tmp/snap7d
git rev-parse HEAD
S=/work/main/runs/neighbour
D=/work/shared/data
W=$D/wikipedia
mkdir -p $S
while [ ! -f /work/main/runs/recipe3/length/.chain-done ]; do sleep 15; done
if [ ! -f $S/bert/report.json ]; then
    .venv/bin/python pretrain.py --corpus $W/enwiki_04.txt.gz $W/enwiki_05.txt.gz $W/enwiki_06.txt.gz \
        $W/enwiki_07.txt.gz snli:dev mnli:dev_matched sick:train --nli-share 0.9 \
        --exclude-sentences-of snli:test,stsb:dev --no-nsp --max-len 64 --max-samples 0 --data-dir $D \
        --preset small --pre-layer-norm --dropout 0 --lr 5e-4 --warmup-fraction 0.05 --batch-size 32 \
        --eval-every 500 --eval-batches 20 --log-every 50 --seed 0 --max-minutes 60 --keep-at-minutes 15 30 \
        --precision auto --length-passes 2 --neighbour-contrastive-weight 1 --out $S/bert > $S/pretrain.log 2>&1
    .venv/bin/python evaluate.py --model $S/bert --data-dir $D > $S/bert.eval.log 2>&1
fi
ft() {
    out=$S/$1; shift
    [ -f $out/report.json ] && return
    .venv/bin/python finetune.py --bert $S/bert --train snli:dev,mnli:dev_matched --val-fraction 0.05 \
        --data-dir $D --batch-size 32 --features "u,v,|u-v|" --epochs 100 --max-steps 1500 --eval-every 250 \
        --lr 3e-4 "$@" --out $out > $out.log 2>&1
    .venv/bin/python evaluate.py --model $out --sts stsb:train --data-dir $D --out $out/stsb-train > $out.eval.log 2>&1
    .venv/bin/python evaluate.py --model $out --test snli:test --sts stsb:dev --data-dir $D >> $out.eval.log 2>&1
}
ft ft-60min-c0.3-seed0 --contrastive-weight 0.3 --seed 0
ft ft-60min-c0.3-seed1 --contrastive-weight 0.3 --seed 1
ft ft-60min-c0.1-seed0 --contrastive-weight 0.1 --seed 0
touch $S/.chain-done
