#!/bin/bash
# Issue 13, the rest of runs/recipe4/chain.sh. Its `cmp` of config.json stopped the copy of the random start's
# runs because the files differ in one field, the checkpoint's step (5,907 here, 7,750 in runs/recipe3), which
# --random-init does not read; the vocabulary is byte for byte the same. So the random fine-tunings it had
# begun were stopped, and the two of runs/recipe3 (the same network, seeds and fine-tuning) are copied here,
# as that round copied recipe 2's; then recipe-transfer fine-tunes the pre-trained copies.
set -x
cd /tmp/snap8
git rev-parse HEAD
R=/work/main/runs/recipe4
date -u
cmp $R/bert/vocab.txt /work/main/runs/recipe3/bert/vocab.txt || exit 1
diff <(grep -v '"step"' $R/bert/config.json) <(grep -v '"step"' /work/main/runs/recipe3/bert/config.json) || exit 1
for s in 0 1; do [ -d $R/transfer/sbert-random-seed$s ] || cp -r /work/main/runs/recipe3/transfer/sbert-random-seed$s $R/transfer/; done
make recipe-transfer RECIPE_DIR=$R DATA_DIR=/work/shared/data TRANSFER_STARTS="random 60min 15min 30min" > $R/transfer.log 2>&1
date -u
touch $R/.chain-done
