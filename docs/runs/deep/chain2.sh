#!/bin/bash
# Issue 13, the depth lever's fine-tuning (chain.sh pre-trained runs/deep/bert and fine-tuned its headline run,
# weight 0.1 at seed 0). RESULTS §5's protocol for both starts: random weights of this new shape cannot reuse
# earlier rows, so each start gets weights 0.1 and 0.3 at seed 0, §5's rule choosing, and its chosen weight at
# seed 1. The two starts run side by side, one torch thread each (fine-tunings count steps, not minutes; the
# headline run's time, alone, is the one that says what a fine-tuning costs). Waits for chain.sh's make.
set -x
cd /tmp/snap13
R=/work/main/runs/deep
D=/work/shared/data
while pgrep -f "make recipe-headline RECIPE_DIR=$R" > /dev/null; do sleep 20; done
[ -f $R/sbert/report.json ] || exit 1
date -u
export OMP_NUM_THREADS=1
source docs/runs/shape/weight-rule.sh  # stsb_train, transfer, weights_at_seed_0, rule_then_seed_1
random_transfer() {  # random_transfer WEIGHT SEEDS: random weights of this shape, fine-tuned into transfer-cWEIGHT
    make recipe-transfer RECIPE_DIR=$R DATA_DIR=$D RANDOM_INIT_CONTRASTIVE_WEIGHT=$1 TRANSFER_STARTS=random \
        TRANSFER_SEEDS="$2" TRANSFER_DIR=$R/transfer-c$1 >> $TRANSFER_LOG 2>&1 || exit 1
    for seed in $2; do out=$R/transfer-c$1/sbert-random-seed$seed; [ -d $out/stsb-train ] || stsb_train $out; done
}
random_rule() {  # §5's rule for random weights, as chosen_weight does for the 60-minute start
    .venv/bin/python - $R <<'PY'
import sys; from pathlib import Path
sys.path.insert(0, "docs/runs/shape"); from fine_tuning_rows import figures
score = {w: (lambda f: (f[3] + f[4]) / 2)(figures(Path(sys.argv[1]) / f"transfer-c{w}" / "sbert-random-seed0"))
         for w in ("0.1", "0.3")}
print(max(score, key=score.get))
PY
}
(   TRANSFER_LOG=$R.transfer.log
    .venv/bin/python evaluate.py --model $R/bert --data-dir $D > $R/bert.eval.log 2>&1
    .venv/bin/python evaluate.py --model $R/bert --sts stsb:dev --data-dir $D --out $R/bert-stsb-dev \
        > $R/bert-stsb-dev.log 2>&1
    rule_then_seed_1 ) &
(   TRANSFER_LOG=$R.transfer-random.log
    random_transfer 0.1 0
    random_transfer 0.3 0
    W=$(random_rule)
    echo "rule chose $W for random weights"
    random_transfer $W 1 ) &
wait
date -u
touch $R/.chain-done
