"""Where the encoder's time goes when it answers a batch of search queries (docs/web.md, issue 16).

For batches of 1, 4 and 8 of the web benchmarks' short queries, against a random unit-length index of 10,000
fp32 rows: the median milliseconds of the forward pass (`packing.encode_ids`), of the index scan (`nearest`), of
both (`ModelWork.search_ids`), of both against an index of 100 rows (where the scan leaves the weights in the
cache) and of both through an encoder process's pipe; the forward pass with the
sentences padded against packed into one row, for batches of 1 to 64 sentences; then the same forward pass with
the weights in bf16, with int8 dynamic quantization of the linear layers, and compiled (`--compile`, which
needs a C++ compiler), with how far each answer moves; and the operations that took the time.

    python benchmarks/encoder_cost.py --model runs/recipe/sbert [--compile]
"""
import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from agree.web import packing  # noqa: E402
from agree.web.encoder_process import EncoderProcess, ModelWork  # noqa: E402
from agree.web.packing import embed_packed, encode_ids  # noqa: E402
from agree.web.index_rows import Fp32Rows  # noqa: E402
from sbert import SentenceBERT  # noqa: E402
from search_latency import QUERIES  # noqa: E402

INDEX_ROWS = 10_000
SMALL_INDEX_ROWS = 100
BATCHES = (1, 4, 8)


def median_ms(work, repeats=200, warm_up=10):
    for _ in range(warm_up):
        work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def batch_of(ids, size):
    return [ids[i % len(ids)] for i in range(size)]


def eager_costs(model, index, ids):
    work = ModelWork(model, Fp32Rows(index))
    small_work = ModelWork(model, Fp32Rows(index[:SMALL_INDEX_ROWS].clone()))
    for size in BATCHES:
        batch = batch_of(ids, size)
        queries = encode_ids(model, batch)
        requests = [(query, 10) for query in batch]
        print(f"batch {size}: forward pass {median_ms(lambda: encode_ids(model, batch)):.2f} ms, "
              f"index scan {median_ms(lambda: Fp32Rows(index).nearest(queries, 10)):.2f} ms, "
              f"both {median_ms(lambda: work.search_ids(requests)):.2f} ms, "
              f"both with {SMALL_INDEX_ROWS} rows {median_ms(lambda: small_work.search_ids(requests)):.2f} ms")
    process = EncoderProcess(work, threads=1)
    try:
        for size in BATCHES:
            requests = [(query, 10) for query in batch_of(ids, size)]
            print(f"batch {size}: both, through the encoder process's pipe "
                  f"{median_ms(lambda: process.search_ids(requests)):.2f} ms")
    finally:
        process.close()


def packing_costs(model, ids):
    """The forward pass with the sentences padded to the longest of the batch, against packed into one row
    (packing.forward_packed), for batches of 1 to 64 of the queries (a premise and its hypothesis one after
    another, as the two sentences of a /predict request are encoded together)."""
    for size in (1, 4, 8, 16, 32, 64):
        batch = batch_of(ids, size)
        with padding_only():
            padded = median_ms(lambda: encode_ids(model, batch), repeats=100)
            padded_embeddings = encode_ids(model, batch)
        with torch.inference_mode():  # packed whatever encode_ids would choose (it pads a lone sentence)
            packed = median_ms(lambda: embed_packed(model, batch), repeats=100)
            moved = (embed_packed(model, batch) - padded_embeddings).abs().max().item()
        print(f"{size} sentences, {sum(map(len, batch))} tokens ({size * max(map(len, batch))} padded): "
              f"padded {padded:.2f} ms, packed {packed:.2f} ms (largest change of an embedding's coordinate "
              f"{moved:.1e})")
    print(f"encode_ids packs batches of up to {packing.PACKED_TOKENS} tokens in all whose sentences differ in length")


@contextlib.contextmanager
def padding_only():
    """encode_ids pads every batch while inside."""
    default, packing.PACKED_TOKENS = packing.PACKED_TOKENS, 0
    try:
        yield
    finally:
        packing.PACKED_TOKENS = default


def variant_costs(name, variant, model, ids):
    for size in (4, 8):
        batch = batch_of(ids, size)
        moved = (encode_ids(variant, batch).float() - encode_ids(model, batch)).abs().max().item()
        print(f"batch {size}: forward pass {name} {median_ms(lambda: encode_ids(variant, batch)):.2f} ms "
              f"(largest change of an embedding's coordinate {moved:.1e})")


def compiled(model, ids):
    started = time.perf_counter()
    model.bert = torch.compile(model.bert, dynamic=True)
    for size in (4, 8):
        encode_ids(model, batch_of(ids, size))
    print(f"compiling took {time.perf_counter() - started:.1f} s")
    return model


def busiest_operations(model, ids):
    batch = batch_of(ids, 4)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        for _ in range(50):
            encode_ids(model, batch)
    print("50 forward passes of 4 queries:")
    print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a fine-tuned SentenceBERT directory")
    parser.add_argument("--compile", action="store_true", help="also time a torch.compile'd encoder")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as serve.py's encoder process on a machine of 2 cores
    torch.manual_seed(0)

    def load():
        return SentenceBERT.load(args.model).eval()
    model = load()
    index = torch.nn.functional.normalize(torch.randn(INDEX_ROWS, model.config.bert.d_model), dim=1)
    ids = model.tokenize(QUERIES)
    print(f"model {args.model}, torch {torch.__version__}, 1 thread; queries of "
          f"{min(map(len, ids))}-{max(map(len, ids))} tokens; index of {INDEX_ROWS:,} rows")
    eager_costs(model, index, ids)
    packing_costs(model, ids)
    variant_costs("with bf16 weights", load().to(torch.bfloat16), model, ids)
    quantized = torch.ao.quantization.quantize_dynamic(load(), {torch.nn.Linear}, dtype=torch.qint8)
    variant_costs("with int8 dynamic quantization", quantized, model, ids)
    if args.compile:
        variant_costs("compiled", compiled(load(), ids), model, ids)
    busiest_operations(model, ids)


if __name__ == "__main__":
    main()
