OMP_NUM_THREADS=1 .venv/bin/python pretrain.py --resume --out runs/recipe-seed2/bert
