#!/bin/bash
# Issue 34: the recipe defined by steps, with pre-training seed 1 (a second pre-training run beside recipe 4's
# seed 0), through the Makefile: pre-train 5,907 steps, fine-tune (seed 0), evaluate, export. Logs without the
# weights are copied here afterwards.
cd "$(dirname "$0")/../../.."
{ date -u +%Y-%m-%dT%H:%MZ; git rev-parse --short HEAD; lscpu | grep -E 'Model name|^CPU\(s\)|Flags' | cut -c1-400; } \
    > docs/runs/seed1/machine.txt
make recipe-headline DATA_DIR=../shared/data RECIPE_DIR=runs/recipe-seed1 PRETRAIN_SEED=1
