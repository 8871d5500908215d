#!/bin/bash
# Session 10, second part: §5's rule (mean of the best validation accuracy and the stsb:train Spearman, seed 0)
# chooses the 60-minute start's weight; the 15- and 30-minute copies are fine-tuned with it (two seeds), and the
# 60-minute start with it for 4,500 steps (seed 0), as §4 did for d 128 without the term. Last, the random start
# of session 6 with the weight its rule chose (0.3, seed 0), again on this processor and this vocabulary, to
# show the reused random rows hold here. Waits for the first part.
set -x
source /tmp/snap9/finetune-run.sh  # ft NAME BERT_DIR STEPS [options]
R=/work/main/runs/shape/d128-neighbour
while [ ! -f $R/.ft-done ]; do sleep 20; done
rule() {  # §5's mean for one run
    /tmp/snap9/.venv/bin/python -c "
import json, sys
rows = [json.loads(l) for l in open('$1/metrics.jsonl') if l.strip()]
val = 100 * max(r['val_accuracy'] for r in rows if 'val_accuracy' in r)
sts = json.load(open('$1/stsb-train/report.json'))['sts'][0]['spearman']
print(f'{(val + sts) / 2:.4f}')"
}
m1=$(rule $R/ft-60min-c0.1-seed0); m3=$(rule $R/ft-60min-c0.3-seed0)
w=$(/tmp/snap9/.venv/bin/python -c "print('0.1' if $m1 >= $m3 else '0.3')")
echo "rule: weight 0.1 $m1, weight 0.3 $m3 -> $w"
for start in 15min 30min; do for s in 0 1; do
    ft ft-$start-c$w-seed$s $R/bert-$start 1500 --contrastive-weight $w --seed $s
done; done
ft ft4500-60min-c$w-seed0 $R/bert 4500 --contrastive-weight $w --seed 0
ft ft-random-c0.3-seed0 $R/bert 1500 --random-init --contrastive-weight 0.3 --seed 0
date -u
echo chain done
touch $R/.ft2-done
