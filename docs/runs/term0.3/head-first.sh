#!/bin/bash
# Issue 13, session 11: fine-tuning that trains the classifier alone for its first 300 of 1,500 steps, the
# encoder frozen, then both (finetune.py --head-first-steps 300; linear probing then fine-tuning). Why: the
# weight-0.3 checkpoint scores 71.02 zero-shot on stsb:dev and 68.77 after fine-tuning, which spends the
# similarity pre-training built. Each start with its chosen contrastive weight (0.3 for this checkpoint, 0.1
# for random weights, §5), seed 0 for §5's rule, then seed 1. Waits for chain.sh to finish.
set -x
cd /tmp/snap11b
git rev-parse HEAD
R=/work/main/runs/term0.3
D=/work/shared/data
while [ ! -f $R/.chain-done ]; do sleep 20; done
for seed in 0 1; do
  for start in 60min random; do
    out=$R/head-first/sbert-$start-seed$seed; [ -f $out/report.json ] && continue
    from=$R/bert; weight=0.3; [ $start = random ] && from="$R/bert --random-init" && weight=0.1
    date -u
    .venv/bin/python finetune.py --bert $from --train snli:dev,mnli:dev_matched --val-fraction 0.05 \
        --data-dir $D --batch-size 32 --features "u,v,|u-v|" --epochs 100 --max-steps 1500 --eval-every 250 \
        --lr 3e-4 --contrastive-weight $weight --head-first-steps 300 --seed $seed --out $out > $out.log 2>&1 || exit 1
    .venv/bin/python evaluate.py --model $out --sts stsb:train --data-dir $D --out $out/stsb-train > $out.eval.log 2>&1
    .venv/bin/python evaluate.py --model $out --test snli:test --sts stsb:dev --data-dir $D >> $out.eval.log 2>&1
  done
done
date -u
touch $R/.head-first-done
