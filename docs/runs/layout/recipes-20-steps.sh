#!/usr/bin/env bash
# Issue 30's check that the layout's move changed no recipe: `make demo`'s training stages, `make recipe-headline`
# and `make recipe-transfer` (random weights and the 60-minute start, seed 0) run as make runs them, with the real
# data, except that pretrain.py and finetune.py stop after 20 steps (PY is a wrapper that appends --max-steps 20;
# argparse keeps the last value given), into a scratch folder.
# Usage: bash docs/runs/layout/recipes-20-steps.sh [DATA_DIR] > docs/runs/layout/recipes-20-steps.txt 2>&1
set -euo pipefail
cd "$(dirname "$0")/../../.."
data=${1:-../shared/data}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cat > "$scratch/python" <<'WRAP'
#!/bin/sh
echo "\$ python $*" | sed "s|$SCRATCH|SCRATCH|g"
case "$1" in pretrain.py|finetune.py) exec .venv/bin/python "$@" --max-steps 20;; esac
exec .venv/bin/python "$@"
WRAP
chmod +x "$scratch/python"
export SCRATCH=$scratch
echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), $(lscpu | sed -n 's/^Model name: *//p')"
quiet() { tr '\r' '\n' | grep -vE '^\s*$|(it|step|batch|sentence|pair)s?/s\]$|\| *[0-9]+/[0-9]+ \[|^tokenizing: ' ; }
for target in "$scratch/demo/sbert/.done" recipe-headline recipe-transfer; do
    echo "## make $target" | sed "s|$scratch|SCRATCH|g"
    make -s "$target" PY="$scratch/python" DATA_DIR="$data" RUN_DIR="$scratch/demo" RECIPE_DIR="$scratch/recipe" \
        TRANSFER_STARTS="random 60min" TRANSFER_SEEDS=0 2>&1 | quiet
    echo "exit status ${PIPESTATUS[0]}"
done
