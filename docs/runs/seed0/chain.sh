#!/bin/bash
# Issue 34: the recipe defined by steps, with pre-training seed 0, through the Makefile: pre-train 5,907 steps,
# fine-tune with seeds 0 and 1, evaluate, export. Run beside another pre-training run, one thread each
# (OMP_NUM_THREADS=1): a run defined by steps is the same run however many threads share the machine.
# Logs without the weights are copied here afterwards.
cd "$(dirname "$0")/../../.."
{ date -u +%Y-%m-%dT%H:%MZ; git rev-parse --short HEAD; echo "OMP_NUM_THREADS=$OMP_NUM_THREADS"; lscpu | grep -E 'Model name|^CPU\(s\)|Flags' | cut -c1-400; } \
    > docs/runs/seed0/machine.txt
make recipe-headline DATA_DIR=../shared/data RECIPE_DIR=runs/recipe-seed0 PRETRAIN_SEED=0 && \
make recipe-transfer DATA_DIR=../shared/data RECIPE_DIR=runs/recipe-seed0 TRANSFER_STARTS=step5907 TRANSFER_SEEDS="0 1"
