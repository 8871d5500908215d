"""How many GFLOPS this machine's matrix multiplies reach at the shapes of the `small` encoder's linear layers,
the ceiling on any BERT implementation's speed here (docs/performance.md).

    python benchmarks/gemm_rate.py [--tokens 8192] [--threads 2]

Each layer is one torch.addmm of (tokens x d_in) by (d_in x d_out), timed over 30 calls after 3 warm-up calls.
"""
import argparse
import os
import time

import torch

# name -> (d_in, d_out) of the small preset (d_model 256, d_ff 1024): 4 of each per layer's forward pass
LINEAR_LAYERS = {"queries, keys, values": (256, 768), "attention output": (256, 256),
                 "feed-forward up": (256, 1024), "feed-forward down": (1024, 256)}


def seconds_per_call(function, calls=30, warmup=3):
    for _ in range(warmup):
        function()
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=8192, help="rows of the input (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="(default: all cores, %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.tokens:,} tokens, {args.threads} threads, load average {os.getloadavg()[0]:.2f}")
    for name, (d_in, d_out) in LINEAR_LAYERS.items():
        inputs, weight, bias = torch.randn(args.tokens, d_in), torch.randn(d_out, d_in), torch.randn(d_out)
        seconds = seconds_per_call(lambda: torch.addmm(bias, inputs, weight.T))
        print(f"{name:24s} {d_in:>5} -> {d_out:<5} {2 * args.tokens * d_in * d_out / seconds / 1e9:6.1f} GFLOPS")


if __name__ == "__main__":
    main()
