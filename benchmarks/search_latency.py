"""Semantic search at scale: building the index, its memory, and /search latency under concurrent clients.

    python benchmarks/search_latency.py --model runs/recipe/sbert --data-dir data [--sizes 10000 100000]
        [--clients 8] [--requests 400] [--k 10]

For each size N: the first N distinct sentences of Wikipedia (split into sentences with NLTK, 5 to 60 words
each) go into a one-sentence-per-line file, and search_index.build_index encodes them from scratch (a fresh cache
directory), timed: sentences per second. Memory: the embedding matrix's bytes (N x d float32) and the growth of
this process's resident memory over the build (the matrix, the sentences as Python strings, the encoder's
working memory), both also per 100,000 sentences, and the resident memory of each encoder process (which holds
its own copy of the model and of the matrix). Then serve.py's server runs with that index (with
serve.py's --threads, in an encoder process as serve.py, or in the server's own with --in-process), and
`--clients` threads of another process send `--requests` GET /search?q=...&k=K in
all: median and 99th-percentile time per request.
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

import torch  # noqa: E402

from data import split_sentences, use_nltk_data  # noqa: E402
from agree.web.encoder_process import resident_bytes  # noqa: E402
from latency import PAIRS, Accounting, add_serving_options, encoder_threads, run_clients, serving, summary, \
    timed, where_the_model_runs  # noqa: E402
from sbert import SentenceBERT  # noqa: E402
from agree.web.search_index import build_index  # noqa: E402
from serve import make_server  # noqa: E402

QUERIES = [sentence for pair in PAIRS for sentence in pair]


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


def measure(model, model_dir, sentences, args, scratch):
    index_file = scratch / f"sentences-{len(sentences)}.txt"
    index_file.write_text("".join(s + "\n" for s in sentences), encoding="utf-8")
    torch.set_num_threads(args.build_threads)  # as serve.py: the index is built with every core
    before, started = own_resident_bytes(), time.perf_counter()
    index = build_index(model, str(index_file), cache_dir=scratch / f"cache-{len(sentences)}", progress=False,
                        log=lambda line: None)
    seconds, grown = time.perf_counter() - started, own_resident_bytes() - before
    matrix = index.embeddings.element_size() * index.embeddings.numel()
    per_100k = 100_000 / len(index)
    print(f"{len(index):,} sentences: index built in {seconds:.1f} s ({len(index) / seconds:,.0f} sentences/s); "
          f"embeddings {matrix / 2**20:.1f} MiB ({matrix * per_100k / 2**20:.1f} MiB per 100k sentences), "
          f"resident memory +{grown / 2**20:.1f} MiB over the build ({grown * per_100k / 2**20:.1f} MiB per 100k)",
          flush=True)
    torch.set_num_threads(args.threads)  # and answers with --threads
    server = make_server(model, model_dir, "127.0.0.1", 0, quiet=True, index=index,
                         encoder_threads=encoder_threads(args), encoder_processes=args.encoders)
    port = serving(server)
    encoders = [process.resident_bytes() for process in server.encoder_processes]
    if encoders and None not in encoders:
        print(f"  resident memory of the encoder process{'es' if len(encoders) > 1 else ''} (the model, torch and "
              f"the index's embeddings): {' + '.join(f'{size / 2**20:.1f}' for size in encoders)} MiB", flush=True)

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
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--k", type=int, default=10)
    add_serving_options(parser)
    args = parser.parse_args()
    args.build_threads = torch.get_num_threads()
    use_nltk_data(args.data_dir)
    files = sorted(Path(args.data_dir, "wikipedia").glob("enwiki_*.txt.gz"))
    if not files:
        raise SystemExit(f"no wikipedia/enwiki_*.txt.gz in {args.data_dir}")
    model = SentenceBERT.load(args.model)
    sentences = wikipedia_sentences(files, max(args.sizes))
    print(f"model {args.model} (d = {model.config.bert.d_model}), torch {torch.__version__}, "
          f"{args.build_threads} threads building the index, {args.threads} answering "
          f"{where_the_model_runs(args)}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for size in sorted(args.sizes):
            measure(model, Path(args.model), sentences[:size], args, Path(scratch))


if __name__ == "__main__":
    main()
