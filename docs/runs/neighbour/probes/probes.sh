#!/bin/bash
# Two 300-step pre-training probes with the recipe's settings (RESULTS section 2), with and without the
# neighbour term, to see what it costs per step and whether it moves the transfer signals; ran with the
# fine-tuning chain paused (SIGSTOP), from a clone of the repository at the commit the log names.
set -x
cd /tmp/snap7b
git rev-parse HEAD
S=/work/main/runs/recipe3/neighbour
D=/work/shared/data
W=$D/wikipedia
mkdir -p $S
probe() {
    name=$1; shift
    [ -f $S/$name/config.json ] && return
    .venv/bin/python pretrain.py --corpus $W/enwiki_04.txt.gz $W/enwiki_05.txt.gz $W/enwiki_06.txt.gz \
        $W/enwiki_07.txt.gz snli:dev mnli:dev_matched sick:train --nli-share 0.9 \
        --exclude-sentences-of snli:test,stsb:dev --max-samples 0 --data-dir $D --preset small --max-len 64 \
        --no-nsp --pre-layer-norm --dropout 0 --lr 5e-4 --warmup-fraction 0.05 --batch-size 32 \
        --max-steps 300 --eval-every 150 "$@" --out $S/$name > $S/$name.log 2>&1
}
probe probe-w0
probe probe-w1 --neighbour-contrastive-weight 1
touch $S/.probes-done
