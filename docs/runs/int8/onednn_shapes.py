"""Why torch's oneDNN engine is not the int8 default: one int8 linear layer of the `small` encoder (256 -> 1024),
per call, on FBGEMM (torch's default engine) and on oneDNN, with the input's rows the same every call or
changing from call to call, as the server's batches do.

    .venv/bin/python docs/runs/int8/onednn_shapes.py
"""
import random
import statistics
import time
import warnings

import torch
from torch import nn

CASES = {"26 rows every call": [26] * 400, "20 to 40 rows, changing": None,
         "1,280 rows every call": [1280] * 60, "600 to 1,300 rows, changing": None}


def rows_of(case, generator):
    if CASES[case] is not None:
        return CASES[case]
    low, high, count = (20, 40, 400) if case.startswith("20") else (600, 1300, 60)
    return [generator.randint(low, high) for _ in range(count)]


def per_call_us(layer, shapes):
    inputs = [torch.randn(rows, 256) for rows in shapes]
    for x in inputs[:5]:
        layer(x)
    times = []
    for x in inputs:
        start = time.perf_counter()
        layer(x)
        times.append(time.perf_counter() - start)
    return 1e6 * statistics.mean(times)  # what a stream of such calls costs, the slow ones included


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    fp32 = nn.Sequential(nn.Linear(256, 1024)).eval()
    layers = {"fp32": fp32}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        for engine in ("fbgemm", "onednn"):
            torch.backends.quantized.engine = engine  # the weights are packed for the engine set now
            layers[engine] = quantize_dynamic(fp32, {nn.Linear: per_channel_dynamic_qconfig})
    print("mean µs per call, one thread:\n")
    print("| input | " + " | ".join(layers) + " |\n|---|" + "---:|" * len(layers))
    with torch.inference_mode():
        for case in CASES:
            shapes = rows_of(case, random.Random(0))
            print(f"| {case} | " + " | ".join(f"{per_call_us(layer, shapes):,.0f}" for layer in layers.values()) + " |")


if __name__ == "__main__":
    main()
