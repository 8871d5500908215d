#!/bin/bash
# Issue 13, session 11: the recipe with a lighter sentence-level term (--neighbour-contrastive-weight 0.3
# instead of 1; RESULTS §9 item 3), alone on the machine. The pre-training is stopped at recipe 4's 5,907 steps
# (or at 60 minutes, whichever comes first), so that it compares with recipe 4 step for step on another
# processor. Then, as RESULTS §5 does for a start: fine-tuning weights 0.1 (the headline run) and 0.3 at seed 0,
# §5's rule choosing; the chosen weight at seed 1; then the 15- and 30-minute copies with it.
# Random weights: the same network as recipe 3's and 4's (config checked below), so their rows are reused.
set -x
cd /tmp/snap11
git rev-parse HEAD
R=/work/main/runs/term0.3
D=/work/shared/data
date -u
make recipe-headline RECIPE_DIR=$R DATA_DIR=$D \
    SENTENCE_LEVERS="--length-passes 2 --neighbour-contrastive-weight 0.3 --max-steps 5907" > $R/headline.log 2>&1 || exit 1
date -u
diff <(grep -v '"step"' $R/bert/config.json) <(grep -v '"step"' /work/main/docs/runs/recipe4/bert/config.json)
.venv/bin/python evaluate.py --model $R/bert --data-dir $D > $R/bert.eval.log 2>&1
stsb_train() { .venv/bin/python evaluate.py --model $1 --sts stsb:train --data-dir $D --out $1/stsb-train > $1.stsb-train.log 2>&1; }
transfer() {  # transfer WEIGHT STARTS SEEDS: make recipe-transfer into transfer-cWEIGHT, then stsb:train
    make recipe-transfer RECIPE_DIR=$R DATA_DIR=$D CONTRASTIVE_WEIGHT=$1 TRANSFER_STARTS="$2" TRANSFER_SEEDS="$3" \
        TRANSFER_DIR=$R/transfer-c$1 >> $R/transfer.log 2>&1 || exit 1
    for start in $2; do for seed in $3; do
        out=$R/transfer-c$1/sbert-$start-seed$seed; [ -d $out/stsb-train ] || stsb_train $out; done; done
}
mkdir -p $R/transfer-c0.1
[ -e $R/transfer-c0.1/sbert-60min-seed0 ] || ln -s ../sbert $R/transfer-c0.1/sbert-60min-seed0
[ -d $R/sbert/stsb-train ] || stsb_train $R/sbert
transfer 0.3 60min 0
date -u
# §5's rule: the weight whose seed-0 run has the higher mean of best validation accuracy and stsb:train Spearman.
W=$(.venv/bin/python - $R <<'PY'
import sys; from pathlib import Path
sys.path.insert(0, "docs/runs/shape"); from fine_tuning_rows import figures
score = {w: (lambda f: (f[3] + f[4]) / 2)(figures(Path(sys.argv[1]) / f"transfer-c{w}" / "sbert-60min-seed0"))
         for w in ("0.1", "0.3")}
print(max(score, key=score.get))
PY
)
echo "rule chose $W"
transfer $W 60min 1
date -u
transfer $W "15min 30min" 0
date -u
transfer $W "15min 30min" 1
date -u
touch $R/.chain-done
