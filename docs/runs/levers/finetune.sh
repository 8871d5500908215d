#!/bin/bash
# Issue 34, item 3: the levers' fine-tunings, through `make recipe-transfer`, LANES (2) at a time with one thread each.
# Each line of the job file ($1) reads: LEVER RUN START SEED [make variables that set the lever], where RUN is
# the pre-training run (runs/recipe-seedRUN) and START is step5907 or random. Each fine-tuning's metrics,
# arguments, report and validation lines are copied to docs/runs/levers/LEVER/runRUN/ when it ends, with its
# Spearman on stsb:train: the similarity half of the rule that judges fine-tunings (RESULTS §7).
cd "$(dirname "$0")/../../.."
job() {
    lever=$1 run=$2 start=$3 seed=$4; shift 4
    dir=runs/levers/$lever/run$run name=sbert-$start-seed$seed
    mkdir -p $dir
    OMP_NUM_THREADS=1 make recipe-transfer DATA_DIR=../shared/data RECIPE_DIR=runs/recipe-seed$run TRANSFER_DIR=$dir \
        TRANSFER_STARTS=$start TRANSFER_SEEDS=$seed "$@" > $dir/$name.log 2>&1
    OMP_NUM_THREADS=1 .venv/bin/python evaluate.py --model $dir/$name --sts stsb:train --data-dir ../shared/data \
        --out $dir/$name/stsb-train >> $dir/$name.log 2>&1
    saved=docs/runs/levers/$lever/run$run/$name
    mkdir -p $saved/stsb-train
    cp $dir/$name/metrics.jsonl $dir/$name/args.json $dir/$name/report.json $saved/
    cp $dir/$name/stsb-train/report.json $saved/stsb-train/
    tr '\r' '\n' < $dir/$name.log | grep -v '%|' > $saved/console.log
    echo "$(date -u +%H:%MZ) $lever run $run $start seed $seed: $(grep -o '"accuracy": [0-9.]*' $saved/report.json)"
}
export -f job
grep -v '^#' "$1" | xargs -P ${LANES:-2} -L 1 bash -c 'job "$@"' _
