"""How fast `corpus.load_corpus` tokenizes a corpus and caches its ids, on all cores.

    /usr/bin/time -v .venv/bin/python benchmarks/tokenize_speed.py ../shared/data/wikipedia/enwiki_00.txt.gz
    /usr/bin/time -v .venv/bin/python benchmarks/tokenize_speed.py ../shared/data/wikipedia/enwiki_*.txt.gz

The whole of `load_corpus` is timed, exactly as pre-training runs it: reading the gzip files, sentence
splitting and word tokenization in the worker processes, the vocabulary, and writing the memory-mapped
cache. The cache goes to a temporary folder that is deleted afterwards, so every run tokenizes from scratch.

Printed: tokens, wall-clock seconds, tokens/s, and the CPU seconds of this process and its workers. This
machine is shared, so wall-clock time depends on what else runs; CPU time hardly does. Tokens per CPU
second times the number of cores is what the run would reach with every core to itself. `/usr/bin/time -v`
adds the peak memory ("Maximum resident set size", of the largest single process).
"""
import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project's modules, from any directory
from agree.corpus import CorpusConfig, load_corpus  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside the checkout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="+", help="corpus files (.txt or .gz) or corpus names")
    parser.add_argument("--data-dir", default=SHARED_DATA if SHARED_DATA.is_dir() else None,
                        help="where NLTK's punkt_tab (<data-dir>/nltk_data) and named corpora are")
    parser.add_argument("--max-samples", type=int, default=0, help="paragraphs to read; 0 reads everything")
    parser.add_argument("--workers", type=int, default=0, help="tokenizer processes; 0 means one per core")
    args = parser.parse_args()

    config = CorpusConfig(max_samples=args.max_samples, workers=args.workers)
    cores = args.workers or os.cpu_count()
    print(f"{cores} tokenizer processes; load average before: {_load_average()}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="tokenize-speed-") as cache_dir:
        wall, cpu = time.perf_counter(), _cpu_seconds()
        corpus = load_corpus(args.corpus, data_dir=args.data_dir, cache_dir=cache_dir, config=config)
        wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
        tokens = len(corpus.token_ids)
        del corpus  # let go of the memory maps before their folder is deleted

    print(f"tokens          {tokens:,}")
    print(f"wall seconds    {wall:.1f}  (load average after: {_load_average()})")
    print(f"tokens/s        {tokens / wall:,.0f}  (wall clock)")
    print(f"CPU seconds     {cpu:.1f}  (user + system, this process and its {cores} workers)")
    print(f"tokens/CPU-s    {tokens / cpu:,.0f}  -> about {cores * tokens / cpu:,.0f} tokens/s with "
          f"{cores} free cores")


def _cpu_seconds():
    """User + system time of this process and of its finished child processes (the pool's workers are
    waited for when the pool closes, so theirs is counted once load_corpus returns)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _load_average():
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


if __name__ == "__main__":
    main()
