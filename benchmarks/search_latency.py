"""Semantic search at scale: the index's memory, its scan against the machine's memory bandwidth, and /search
latency under concurrent clients, from 10,000 to 1,000,000 sentences.

    python benchmarks/search_latency.py --model runs/recipe/sbert --data-dir data [--sizes 10000 100000]
        [--synthetic-sizes 1000000] [--index-rows int8|fp32] [--no-int8] [--clients 8] [--requests 400] [--k 10]

First the memory bandwidth (benchmarks/memory_bandwidth.py) with serve.py's --threads: the least time a scan of
rows that do not fit the caches can take. Then for each size N of --sizes, the first N distinct sentences of
Wikipedia (split into sentences with NLTK, 5 to 60 words each) go into a one-sentence-per-line file, and
search_index.build_index encodes them from scratch (a fresh cache directory), timed: sentences per second. For
each of --synthetic-sizes, N random unit-length rows of the model's width are written into the cache's format
instead, one made-up sentence each: what a corpus that large costs to hold and to scan, without the hours its
encoding would take. Memory: the rows as the index holds them (--index-rows, as serve.py) and the growth of
this process's resident memory over the build, both also per 100,000 sentences, and the resident memory of
each encoder process (which holds its own copy of the model and of the rows), its own and its mapped files'.
The scan alone: the median time of `rows.nearest` for 1 and 8 queries, and the rows' bytes it reads per second;
for real sentences, how often its top k is the exact fp32 scan's for --agreement-queries unseen sentences. Then serve.py's server runs
with that index (with serve.py's --threads, in an encoder process as serve.py, or in the server's own with
--in-process), and `--clients` threads of another process send `--requests` GET /search?q=...&k=K in all:
median and 99th-percentile time per request, searches per second.
"""
import argparse
import gzip
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from data import split_sentences, use_nltk_data  # noqa: E402
from agree.web.encoder_process import resident_bytes  # noqa: E402
from latency import PAIRS, Accounting, add_serving_options, encoder_threads, run_clients, serving, summary, \
    timed, where_the_model_runs  # noqa: E402
from sbert import SentenceBERT  # noqa: E402
from agree.web.index_rows import ROW_FORMATS, Fp32Rows, Int8Rows, rows_of, top  # noqa: E402
from agree.web.search_index import SentenceIndex, build_index  # noqa: E402
from memory_bandwidth import read_bandwidth  # noqa: E402
from serve import make_server  # noqa: E402

QUERIES = [sentence for pair in PAIRS for sentence in pair]
SCAN_BATCHES = (1, 8)
SCAN_REPEATS = 20
SYNTHETIC_CHUNK = 65_536  # rows written at a time
TIE = 1e-6  # cosines closer than this are the same (fp32 sums in another order differ by about 1e-7)


def wikipedia_sentences(files, count):
    """The first `count` distinct sentences of 5 to 60 words in the files (one paragraph per line)."""
    sentences = {}
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                for sentence in split_sentences(line.strip()) if line.strip() else ():
                    if 5 <= len(sentence.split()) <= 60:
                        sentences.setdefault(sentence, None)
                        if len(sentences) == count:
                            return list(sentences)
    raise SystemExit(f"only {len(sentences):,} sentences in {', '.join(map(str, files))}; {count:,} asked for")


def own_resident_bytes():
    """This process's resident memory now (Linux)."""
    size = resident_bytes()
    if size is None:
        raise SystemExit("no VmRSS in /proc/self/status: this benchmark reads memory the Linux way")
    return size


def memory_kinds(pid):
    """(anonymous, file-backed) resident bytes of a process (Linux's RssAnon and RssFile)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[name].split()[0]) * 1024 for name in ("RssAnon", "RssFile"))


def real_index(model, sentences, args, scratch):
    """build_index on a file of these sentences, from scratch, timed; the index and its resident memory."""
    index_file = scratch / f"sentences-{len(sentences)}.txt"
    index_file.write_text("".join(s + "\n" for s in sentences), encoding="utf-8")
    torch.set_num_threads(args.build_threads)  # as serve.py: the index is built with every core
    before, started = own_resident_bytes(), time.perf_counter()
    index = build_index(model, str(index_file), cache_dir=scratch / f"cache-{len(sentences)}", progress=False,
                        log=lambda line: None, rows=args.index_rows)
    seconds = time.perf_counter() - started
    print(f"{len(index):,} sentences: index built in {seconds:.1f} s ({len(index) / seconds:,.0f} sentences/s)",
          flush=True)
    return index, own_resident_bytes() - before


def synthetic_index(model, size, args, scratch):
    """`size` random unit-length rows of the model's width, written into the cache's format a chunk at a time,
    one made-up sentence each; the index and its resident memory."""
    path, width = scratch / f"synthetic-{size}.npy", model.config.bert.d_model
    rows = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(size, width))
    generator = torch.Generator().manual_seed(size)
    for start in range(0, size, SYNTHETIC_CHUNK):
        count = min(SYNTHETIC_CHUNK, size - start)
        rows[start:start + count] = F.normalize(torch.randn(count, width, generator=generator), dim=1).numpy()
    rows.flush()
    del rows
    before = own_resident_bytes()
    index = SentenceIndex(path.stem, [f"synthetic row {number}" for number in range(size)],
                          rows_of(path, args.index_rows))
    print(f"{size:,} synthetic rows (random unit vectors, d = {width})", flush=True)
    return index, own_resident_bytes() - before


def report_memory(index, grown):
    per_100k = 100_000 / len(index)
    print(f"  {args_rows(index)} rows held: {index.rows.nbytes / 2**20:.1f} MiB "
          f"({index.rows.nbytes * per_100k / 2**20:.1f} MiB per 100k sentences); resident memory "
          f"+{grown / 2**20:.1f} MiB ({grown * per_100k / 2**20:.1f} MiB per 100k)", flush=True)


def args_rows(index):
    return "int8" if isinstance(index.rows, Int8Rows) else "fp32"


def report_scan(model, index, args, bandwidth):
    """The scan alone in this process with --threads: median time for 1 and 8 queries, rows' bytes per second."""
    torch.set_num_threads(args.threads)
    queries = model.encode(QUERIES[:max(SCAN_BATCHES)])
    scanned = index.rows.embeddings.numel() * (1 if args_rows(index) == "int8" else 4)
    parts = []
    for batch in SCAN_BATCHES:
        index.rows.nearest(queries[:batch], args.k)  # warm-up
        seconds = []
        for _ in range(SCAN_REPEATS):
            started = time.perf_counter()
            index.rows.nearest(queries[:batch], args.k)
            seconds.append(time.perf_counter() - started)
        median = statistics.median(seconds)
        rate = scanned / median
        parts.append(f"{batch} quer{'y' if batch == 1 else 'ies'} {median * 1e3:.2f} ms "
                     f"({rate / 1e9:.1f} GB/s of rows, {rate / bandwidth:.0%} of the bandwidth)")
    print(f"  scan, k={args.k}, {args.threads} thread{'s' if args.threads > 1 else ''}: {'; '.join(parts)}", flush=True)


def report_agreement(model, index, queries, k):
    """How often the index's top k is the exact fp32 scan's, over `queries`; and, beside it, fp16-rounded rows and
    the int8 scan's own ranking, for comparison. Identical: the same rows in the same order. Besides those, the
    answers whose rows have, rank by rank, the same exact cosines as the fp32 scan's: they differ only where rows
    tie (sentences that tokenize alike have one embedding), whose order no scan defines."""
    embeddings = F.normalize(model.encode(queries), dim=1)
    exact = Fp32Rows(index.embeddings).nearest(embeddings, k)
    ways = {f"--index-rows {args_rows(index)}": index.rows.nearest(embeddings, k),
            "fp16 rows": Fp32Rows(index.embeddings.half().float()).nearest(embeddings, k)}
    if args_rows(index) == "int8":
        rough = torch.ops.quantized.linear_dynamic(embeddings, index.rows.quantized(), True)
        ways["the int8 scan without re-ranking"] = top(rough, k)

    def rows(found):
        return [row for row, _ in found]

    def ties_only(query, found, wanted):  # the exact cosines of both answers' rows agree at every rank
        return torch.allclose(index.embeddings[rows(found)] @ query, index.embeddings[rows(wanted)] @ query,
                              rtol=0, atol=TIE)

    parts = []
    for name, answers in ways.items():
        identical = sum(rows(found) == rows(wanted) for found, wanted in zip(answers, exact))
        tied = sum(rows(found) != rows(wanted) and ties_only(query, found, wanted)
                   for query, found, wanted in zip(embeddings, answers, exact))
        parts.append(f"{name} {identical} identical + {tied} differing only among tied rows")
    print(f"  top {k} against the fp32 scan's, {len(queries):,} queries not in the index: {'; '.join(parts)}",
          flush=True)


def serve_and_search(model, model_dir, index, args):
    torch.set_num_threads(args.threads)  # and answers with --threads
    server = make_server(model, model_dir, "127.0.0.1", 0, quiet=True, index=index,
                         encoder_threads=encoder_threads(args), encoder_processes=args.encoders)
    port = serving(server)
    for process in server.encoder_processes:
        anonymous, mapped = memory_kinds(process.process.pid)
        print(f"  resident memory of an encoder process: {(anonymous + mapped) / 2**20:.1f} MiB, of which its own "
              f"{anonymous / 2**20:.1f} MiB (the model, torch, the rows it holds) and {mapped / 2**20:.1f} MiB pages "
              "of mapped files (libraries; int8 rows: the cache file, which the kernel may drop and read again)",
              flush=True)

    def search_job(number):
        query = urllib.parse.urlencode({"q": QUERIES[number % len(QUERIES)], "k": args.k, "format": "json"})
        return "GET", f"/search?{query}", None, {}

    for number in range(len(QUERIES)):  # warm-up
        timed(port, search_job(number))
    accounting = Accounting(server, server.searcher)
    latencies, seconds, client_seconds = run_clients(port, search_job, args.clients, args.requests)
    cpu = accounting.summary(args.requests, client_seconds)  # before the encoder process stops
    server.shutdown()
    server.server_close()
    print(f"  GET /search k={args.k}: {len(latencies)} requests from {args.clients} concurrent clients: "
          f"{summary(latencies, seconds)}, {statistics.mean(accounting.sizes):.2f} queries per forward pass\n"
          f"  {cpu}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data-dir", default="data", help="holds wikipedia/enwiki_*.txt.gz and nltk_data")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--synthetic-sizes", type=int, nargs="*", default=[])
    parser.add_argument("--index-rows", choices=ROW_FORMATS, default="int8", help="as serve.py (its default)")
    parser.add_argument("--agreement-queries", type=int, default=1_000,
                        help="Wikipedia sentences beyond the largest index, searched in each real index to compare "
                             "its top k with the exact fp32 scan's")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--k", type=int, default=10)
    add_serving_options(parser)
    args = parser.parse_args()
    args.build_threads = torch.get_num_threads()
    model = SentenceBERT.load(args.model, int8=args.int8)
    bandwidth = read_bandwidth(args.threads)
    print(f"model {args.model} (d = {model.config.bert.d_model}), torch {torch.__version__}, "
          f"{args.build_threads} threads building the index, {args.threads} answering "
          f"{where_the_model_runs(args)}; memory read at {bandwidth / 1e9:.1f} GB/s with {args.threads} "
          f"thread{'s' if args.threads > 1 else ''} (benchmarks/memory_bandwidth.py)", flush=True)
    sentences, queries = [], []
    if args.sizes:
        use_nltk_data(args.data_dir)
        files = sorted(Path(args.data_dir, "wikipedia").glob("enwiki_*.txt.gz"))
        if not files:
            raise SystemExit(f"no wikipedia/enwiki_*.txt.gz in {args.data_dir}")
        sentences = wikipedia_sentences(files, max(args.sizes) + args.agreement_queries)
        sentences, queries = sentences[:max(args.sizes)], sentences[max(args.sizes):]
    with tempfile.TemporaryDirectory() as scratch:
        for size, synthetic in sorted([(size, False) for size in args.sizes] +
                                      [(size, True) for size in args.synthetic_sizes]):
            if synthetic:
                index, grown = synthetic_index(model, size, args, Path(scratch))
            else:
                index, grown = real_index(model, sentences[:size], args, Path(scratch))
            report_memory(index, grown)
            report_scan(model, index, args, bandwidth)
            if not synthetic and queries:
                report_agreement(model, index, queries, args.k)
            serve_and_search(model, Path(args.model), index, args)
            del index


if __name__ == "__main__":
    main()
