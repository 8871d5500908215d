#!/bin/bash
# Issue 34: pre-training seed 1 run again by `make recipe-headline` (its first run's weights were not kept), so that
# it too is fine-tuned with two seeds: seed 0 again (which checks that the recipe by steps is the same run twice)
# and seed 1. Two threads, the machine to itself. The logs without the weights are copied here at the end.
cd "$(dirname "$0")/../../../.."
here=docs/runs/seed1/rerun
{ date -u +%Y-%m-%dT%H:%MZ; git rev-parse --short HEAD; lscpu | grep -E 'Model name|^CPU\(s\)|Flags' | cut -c1-400; } \
    > $here/machine.txt
make recipe-headline DATA_DIR=../shared/data RECIPE_DIR=runs/recipe-seed1 PRETRAIN_SEED=1 && \
make recipe-transfer DATA_DIR=../shared/data RECIPE_DIR=runs/recipe-seed1 TRANSFER_STARTS=step5907 TRANSFER_SEEDS=1 || exit 1
copy() {  # copy RUN_DIR DEST: a run's logs and reports, not its weights
    mkdir -p "$2" && for f in args.json config.json metrics.jsonl report.json report.md loss.svg accuracy.svg \
        confusion_matrix.svg f1.svg; do [ -f "$1/$f" ] && cp "$1/$f" "$2/"; done
}
copy runs/recipe-seed1/bert $here/bert
copy runs/recipe-seed1/sbert $here/sbert
copy runs/recipe-seed1/transfer/sbert-step5907-seed1 $here/transfer/sbert-step5907-seed1
