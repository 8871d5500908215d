# RESULTS §5's fine-tuning of a new 60-minute checkpoint (and of random weights of a new shape), shared by
# docs/runs/term0.3/chain.sh, docs/runs/late/chain.sh and docs/runs/deep/chain2.sh (sourced, from a snapshot of
# the repository). Needs R (the run folder, with the
# checkpoint in $R/bert and the headline's fine-tuning at weight 0.1 in $R/sbert), D (the data) and
# TRANSFER_LOG (where make's output goes). W is the chosen weight afterwards.
stsb_train() { .venv/bin/python evaluate.py --model $1 --sts stsb:train --data-dir $D --out $1/stsb-train > $1.stsb-train.log 2>&1; }
transfer() {  # transfer WEIGHT STARTS SEEDS: make recipe-transfer into transfer-cWEIGHT, then stsb:train; the
              # weight is every start's, random weights' included
    make recipe-transfer RECIPE_DIR=$R DATA_DIR=$D CONTRASTIVE_WEIGHT=$1 RANDOM_INIT_CONTRASTIVE_WEIGHT=$1 \
        TRANSFER_STARTS="$2" TRANSFER_SEEDS="$3" TRANSFER_DIR=$R/transfer-c$1 >> $TRANSFER_LOG 2>&1 || exit 1
    for start in $2; do for seed in $3; do
        out=$R/transfer-c$1/sbert-$start-seed$seed; [ -d $out/stsb-train ] || stsb_train $out; done; done
}
weights_at_seed_0() {  # the headline run as weight 0.1's seed 0, then weight 0.3 at seed 0
    mkdir -p $R/transfer-c0.1
    [ -e $R/transfer-c0.1/sbert-60min-seed0 ] || ln -s ../sbert $R/transfer-c0.1/sbert-60min-seed0
    [ -d $R/sbert/stsb-train ] || stsb_train $R/sbert
    transfer 0.3 60min 0
}
chosen_weight() {  # chosen_weight [START]: §5's rule for START (60min unless given): the weight whose seed-0 run
                   # has the higher mean of best validation accuracy and stsb:train Spearman
    .venv/bin/python - $R ${1:-60min} <<'PY'
import sys; from pathlib import Path
sys.path.insert(0, "docs/runs/shape"); from fine_tuning_rows import figures
run_dir, start = Path(sys.argv[1]), sys.argv[2]
score = {w: (lambda f: (f[3] + f[4]) / 2)(figures(run_dir / f"transfer-c{w}" / f"sbert-{start}-seed0"))
         for w in ("0.1", "0.3")}
print(max(score, key=score.get))
PY
}
checkpoint_checks() {  # the same network as recipe 4's random weights, and the checkpoint's held-out scores
    diff <(grep -v '"step"' $R/bert/config.json) <(grep -v '"step"' /work/main/docs/runs/recipe4/bert/config.json)
    .venv/bin/python evaluate.py --model $R/bert --data-dir $D > $R/bert.eval.log 2>&1
}
rule_then_seed_1() {  # both weights at seed 0, §5's rule, then the chosen weight at seed 1
    weights_at_seed_0
    date -u
    W=$(chosen_weight)
    echo "rule chose $W"
    transfer $W 60min 1
    date -u
}
