"""Data-parallel training with PyTorch's own engine, for runs started by `torchrun`.

    torchrun --nproc_per_node=4 pretrain.py ...                       # 4 GPUs (or 4 CPU processes)
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 \\
        --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 pretrain.py ...  # then node_rank=1 on the other

Every process ("rank") holds a full copy of the model and trains on its own slice of each global batch;
DistributedDataParallel averages the gradients, so all copies take the same optimizer step. Only rank 0
writes logs and checkpoints. Without torchrun (no WORLD_SIZE in the environment) everything here is a
no-op and the scripts run as one ordinary process.
"""
import contextlib
import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Cluster:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # which GPU of this machine

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def distributed(self):
        return self.world_size > 1


def join(device):
    """Join the process group torchrun set up: NCCL between GPUs, gloo between CPU processes. Returns the
    cluster and this process's device (its own GPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Cluster(), device
    cluster = Cluster(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        device = torch.device("cuda", cluster.local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return cluster, device


def leave(cluster):
    """A rank's last act: leave the process group and end the process without the interpreter's shutdown.

    Why not return normally: gloo's worker threads release the tensors of the last collective a moment after
    the caller has moved on, and releasing a tensor Python created needs the interpreter lock. If the
    interpreter is shutting down by then, the thread is stopped inside C++ and the process aborts
    ("terminate called without an active exception": tests/test_distributed.py failed that way now and then;
    docs/usage.md has the trace). A barrier or a pause before leaving only makes that race rarer. Everything
    is saved and closed by now, so the rank flushes its output and exits at once."""
    if cluster.distributed:
        dist.destroy_process_group()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def wrap(model, cluster, device):
    """The model as DistributedDataParallel when there are several ranks; `unwrap` gives it back."""
    if not cluster.distributed:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def unwrap(model):
    return model.module if isinstance(model, DistributedDataParallel) else model


def per_rank_batch_size(batch_size, cluster):
    if batch_size % cluster.world_size:
        raise SystemExit(f"--batch-size {batch_size} is the global batch; it must divide evenly among "
                         f"{cluster.world_size} processes")
    return batch_size // cluster.world_size


def agree_max(cluster, values):
    """The largest of each value over all ranks. Used every step for the run's progress and whether to stop:
    each rank has its own clock and its own signals, and ranks that disagreed would wait for each other
    forever or step with different learning rates."""
    if not cluster.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor.tolist()


def sum_over_ranks(cluster, counts):
    """Add up a dict of numbers (losses, correct predictions, tokens) over all ranks, for logging."""
    if not cluster.distributed:
        return counts
    tensor = torch.tensor(list(counts.values()), dtype=torch.float64)
    dist.all_reduce(tensor)
    return dict(zip(counts, tensor.tolist()))


def gather(cluster, value):
    """One number from every rank, in rank order (e.g. a checksum of each rank's batch)."""
    if not cluster.distributed:
        return [value]
    values = [None] * cluster.world_size
    dist.all_gather_object(values, value)
    return values


@contextlib.contextmanager
def main_first(cluster):
    """Rank 0 runs the block first (building a token cache, repairing a checkpoint directory); the other
    ranks run it afterwards and find the work done, instead of racing to do it at the same time."""
    if cluster.distributed and not cluster.is_main:
        dist.barrier()
    yield
    if cluster.distributed and cluster.is_main:
        dist.barrier()
