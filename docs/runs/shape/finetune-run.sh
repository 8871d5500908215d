# Sourced by the finetune-chain*.sh scripts of this folder and of neighbour-d128/: where they run and one
# fine-tuning with its two evaluations. ft NAME BERT_DIR STEPS [finetune.py options...] fine-tunes into
# $RUN_DIR/NAME (default runs/shape; skipped when its report exists), then scores it on stsb:train (what §5's
# rule reads) and on snli:test and stsb:dev. The commands run in the snapshot $SNAPSHOT (default /tmp/snap6).
cd ${SNAPSHOT:-/tmp/snap6}
S=${RUN_DIR:-/work/main/runs/shape}
D=/work/shared/data
ft() {
    out=$S/$1; bert=$2; steps=$3; shift 3
    [ -f $out/report.json ] && return
    .venv/bin/python finetune.py --bert $bert --train snli:dev,mnli:dev_matched --val-fraction 0.05 --data-dir $D \
        --batch-size 32 --features "u,v,|u-v|" --epochs 100 --max-steps $steps --eval-every 250 --lr 3e-4 "$@" \
        --out $out > $out.log 2>&1
    .venv/bin/python evaluate.py --model $out --sts stsb:train --data-dir $D --out $out/stsb-train > $out.eval.log 2>&1
    .venv/bin/python evaluate.py --model $out --test snli:test --sts stsb:dev --data-dir $D >> $out.eval.log 2>&1
}
