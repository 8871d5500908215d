"""The smallest program we found that shows torch 2.13's gloo shutdown race: two ranks build a model and an
optimizer, all-reduce a few times, leave the process group and return normally. Run it many times and count
the aborts (count.sh does):

    for i in $(seq 30); do OMP_NUM_THREADS=1 python -m torch.distributed.run --standalone \\
        --nproc_per_node=2 shutdown_race.py || echo aborted; done
"""
import torch
import torch.distributed as dist

dist.init_process_group("gloo")
model = torch.nn.Linear(8, 8)
optimizer = torch.optim.AdamW(model.parameters())
for _ in range(6):
    value = torch.tensor([1.0], dtype=torch.float64)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
dist.destroy_process_group()
