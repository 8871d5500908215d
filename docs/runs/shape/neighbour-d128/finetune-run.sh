# Sourced by the finetune-chain*.sh scripts of this folder: docs/runs/shape/finetune-run.sh's ft() for the runs
# of runs/shape/d128-neighbour, run from the snapshot /tmp/snap9 (where these scripts sourced a copy of it).
RUN_DIR=/work/main/runs/shape/d128-neighbour
SNAPSHOT=/tmp/snap9
source /work/main/docs/runs/shape/finetune-run.sh
