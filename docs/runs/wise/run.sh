#!/bin/bash
# Issue 13: weight-space ensembles (wise.py) of fine-tuned models and their starts, each scored by §5's rule on
# validation; the chosen model then on the test sets. The d = 128 runs with the sentence-level term (§4's fourth
# lever, on this machine since session 10) and the late-term hour of this session (docs/runs/late).
set -x
cd /tmp/snap13
git rev-parse HEAD
D=/work/shared/data
W=/work/main/runs/wise
mkdir -p $W
wise() {  # wise MODEL NAME [ALPHAS...]: wise.py into runs/wise/NAME, then the chosen model on the test sets
    local model=$1 out=$W/$2; shift 2
    [ -f $out/wise.json ] || .venv/bin/python wise.py --model $model --data-dir $D --out $out ${1:+--alphas "$@"} \
        > $out.log 2>&1 || exit 1
    [ -f $out/report.json ] || .venv/bin/python evaluate.py --model $out --test snli:test --sts stsb:dev \
        --data-dir $D > $out.eval.log 2>&1
}
S=/work/main/runs/shape/d128-neighbour
L=/work/main/runs/late
date -u
wise $S/ft-60min-c0.3-seed0 d128-60min-seed0
wise $S/ft-random-c0.3-seed0 d128-random-seed0 0.5 0.75 0.9 1
wise $S/ft-60min-c0.3-seed1 d128-60min-seed1 0.5 0.75 0.9 1
date -u
while [ ! -f $L/.chain-done ]; do sleep 30; done  # the late-term hour's fine-tunings (docs/runs/late/chain.sh)
C=$(grep -o "rule chose [0-9.]*" /work/main/runs/late.chain.log | tail -1 | cut -d" " -f3)
wise $L/transfer-c$C/sbert-60min-seed0 late-60min-seed0
wise $L/transfer-c$C/sbert-60min-seed1 late-60min-seed1
date -u
touch $W/.done
