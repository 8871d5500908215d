"""How fast this machine reads memory: the bound on any scan of an index too large for the caches.

    python benchmarks/memory_bandwidth.py [--gib 1] [--threads 1 2]

Sums a float32 tensor of --gib GiB (far larger than any cache) with torch, once to fault its pages in and then
five times, with each thread count asked for: the median bytes read per second. A search index's scan reads
its rows once per batch of queries, so rows bytes / this rate is the least time a scan can take.
"""
import argparse
import statistics
import time

import torch

REPEATS = 5


def read_bandwidth(threads, gib=1.0):
    """Bytes per second torch reads from memory with `threads` threads (the median of REPEATS sums)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        values = torch.ones(int(gib * 2**30) // 4)
        values.sum()
        seconds = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            values.sum()
            seconds.append(time.perf_counter() - started)
        return values.numel() * 4 / statistics.median(seconds)
    finally:
        torch.set_num_threads(before)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, torch.get_num_threads()])
    args = parser.parse_args()
    for threads in args.threads:
        print(f"{threads} thread{'s' if threads > 1 else ''}: {read_bandwidth(threads, args.gib) / 1e9:.1f} GB/s read "
              f"(sum of {args.gib:g} GiB of float32, median of {REPEATS})", flush=True)


if __name__ == "__main__":
    main()
