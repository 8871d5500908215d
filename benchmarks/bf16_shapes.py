"""Why bf16 autocast helps fine-tuning little on a CPU (docs/performance.md): a matrix multiply in bf16 costs
much more the first time it meets a shape than when the shape repeats, and fine-tuning batches keep bringing
new shapes (rows = sentences × their padded length).

    python benchmarks/bf16_shapes.py [--calls 200] [--threads 2]

Times the `small` preset's feed-forward up-projection (256 -> 1024) in bf16 autocast on 300 rows repeated, and
on 301, 302, ... rows, a new shape every call; then the same two in fp32.
"""
import argparse
import os
import time

import torch


def microseconds_per_call(layer, row_counts, bf16):
    inputs = [torch.randn(rows, layer.in_features) for rows in row_counts]
    start = time.perf_counter()
    for x in inputs:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            layer(x)
    return (time.perf_counter() - start) / len(inputs) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="(default: %(default)s)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="(default: all cores, %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    layer = torch.nn.Linear(256, 1024)
    repeated, new = [300] * args.calls, list(range(301, 301 + args.calls))
    for name, bf16 in (("bf16 autocast", True), ("fp32", False)):
        microseconds_per_call(layer, repeated, bf16)  # warm-up: the repeated shape is known from here on
        print(f"{name:14s} 300 rows every call: {microseconds_per_call(layer, repeated, bf16):7.0f} us per call;"
              f"  301, 302, ... rows (a new shape each call): {microseconds_per_call(layer, new, bf16):7.0f} us")


if __name__ == "__main__":
    main()
