#!/bin/bash
# Issue 34: a third seed of random weights of the recipe's shape and vocabulary, fine-tuned as the recipe's
# starts are (make recipe-transfer's random start; seeds 0 and 1 are recipe 4's, docs/runs/recipe4/transfer).
# Run beside the pre-training runs, one thread (OMP_NUM_THREADS=1); --random-init reads only the checkpoint's
# configuration and vocabulary, which every run of the recipe shares.
cd "$(dirname "$0")/../../.."
make recipe-transfer DATA_DIR=../shared/data RECIPE_DIR=runs/recipe-seed2 TRANSFER_STARTS=random TRANSFER_SEEDS=2
