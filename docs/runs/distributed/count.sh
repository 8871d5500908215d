#!/bin/sh
# How often the shutdown race aborts: 30 runs of shutdown_race.py, then 30 of tests/test_distributed.py.
cd "$(dirname "$0")"
python="$(cd ../../.. && pwd)/.venv/bin/python"
aborted=0
for i in $(seq 30); do
    OMP_NUM_THREADS=1 $python -m torch.distributed.run --standalone --nproc_per_node=2 shutdown_race.py \
        >/dev/null 2>&1 || aborted=$((aborted + 1))
done
echo "shutdown_race.py: $aborted of 30 runs aborted"
failed=0
for i in $(seq 30); do
    (cd ../../.. && $python -m pytest -q tests/test_distributed.py >/dev/null 2>&1) || failed=$((failed + 1))
done
echo "tests/test_distributed.py: $failed of 30 runs failed"
