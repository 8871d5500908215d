#!/bin/bash
# Model shape lever: the recipe's pre-training (RESULTS §2) with d_model 128, 2 heads, d_ff 512, alone, 60 min.
set -x
cd /tmp/snap6
.venv/bin/python pretrain.py --corpus /work/shared/data/wikipedia/enwiki_0{4,5,6,7}.txt.gz snli:dev mnli:dev_matched sick:train \
    --nli-share 0.9 --exclude-sentences-of snli:test,stsb:dev --no-nsp --max-len 64 --max-samples 0 \
    --data-dir /work/shared/data --preset small --d-model 128 --heads 2 --d-ff 512 --pre-layer-norm --dropout 0 --lr 5e-4 --warmup-fraction 0.05 \
    --batch-size 32 --eval-every 500 --eval-batches 20 --log-every 50 --seed 0 --max-minutes 60 \
    --keep-at-minutes 15 30 --out /work/main/runs/shape/d128/bert
echo pretrain done
