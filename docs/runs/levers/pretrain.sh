#!/bin/bash
# Issue 34, item 3: the levers are judged on all three pre-training runs, so runs 0 and 2 are pre-trained
# again (run 1's weights were still on the machine), side by side with one thread each as they first ran.
# Only the pre-training step of `make recipe-headline`; its logs are copied here when both are done.
# Run 2 was stopped at step 1,847 (SIGTERM) to give its core to the levers' fine-tunings, so this script kept only
# run 0's logs (seed0-bert/); the next session resumed run 2 (pretrain-seed2-resume.command) and copied its logs the
# same way, its console being both sessions' (seed2-bert/).
cd "$(dirname "$0")/../../.."
out=docs/runs/levers
{ date -u +%Y-%m-%dT%H:%MZ; git rev-parse --short HEAD; echo "OMP_NUM_THREADS=1"; lscpu | grep -E 'Model name|^CPU\(s\)|^CPU family|^Model:'; grep -o 'avx512[a-z_0-9]*\|amx[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' '; echo; } \
    > $out/machine.txt
for seed in 0 2; do
    command=$(make -n recipe-headline DATA_DIR=../shared/data RECIPE_DIR=runs/recipe-seed$seed PRETRAIN_SEED=$seed \
        | sed -e :a -e '/\\$/N; s/\\\n//; ta' | grep '^.venv/bin/python pretrain.py')
    echo "$command" > $out/pretrain-seed$seed.command
    OMP_NUM_THREADS=1 nohup bash -c "$command" > runs/pretrain-seed$seed.log 2>&1 &
done
wait
for seed in 0 2; do
    mkdir -p $out/seed$seed-bert
    cp runs/recipe-seed$seed/bert/metrics.jsonl runs/recipe-seed$seed/bert/args.json $out/seed$seed-bert/
    tr '\r' '\n' < runs/pretrain-seed$seed.log | grep -v '%|' > $out/seed$seed-bert/pretrain.log
done
