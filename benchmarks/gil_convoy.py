"""Why serve.py runs the model in a process of its own: a forward pass beside a thread that runs Python.

    python benchmarks/gil_convoy.py --model runs/recipe/sbert [--passes 50] [--threads 1]

Times a forward pass of 8 short sentences (the /predict benchmark's) alone, then while another thread of the
same process runs pure Python (as the server's request threads do when they read HTTP, tokenize and write
JSON), then the same beside a thread of another process. Each torch operation lets go of the interpreter lock
while it computes and must take it back when it returns; a Python thread holding the lock gives it up only
when the interpreter asks, every `sys.getswitchinterval()` seconds.
"""
import argparse
import multiprocessing
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from agree.web.packing import encode_ids  # noqa: E402
from latency import PAIRS  # noqa: E402
from sbert import SentenceBERT  # noqa: E402


def milliseconds_per_pass(model, ids, passes):
    started = time.perf_counter()
    for _ in range(passes):
        encode_ids(model, ids)
    return (time.perf_counter() - started) / passes * 1000


def busy_python(stop):
    while not stop.is_set():
        sum(range(200))


def beside(start_busy, model, ids, passes):
    """The time per pass while `start_busy(stop)` keeps something else busy."""
    stop = start_busy()
    try:
        time.sleep(0.2)  # let it get going
        return milliseconds_per_pass(model, ids, passes)
    finally:
        stop.set()


def a_thread():
    stop = threading.Event()
    threading.Thread(target=busy_python, args=(stop,), daemon=True).start()
    return stop


def a_process():
    stop = multiprocessing.get_context("spawn").Event()
    multiprocessing.get_context("spawn").Process(target=busy_python, args=(stop,), daemon=True).start()
    return stop


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--passes", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: serve.py's here, 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = SentenceBERT.load(args.model).eval()
    ids = model.tokenize([premise for premise, _ in PAIRS[:8]])
    milliseconds_per_pass(model, ids, 10)  # warm-up
    alone = milliseconds_per_pass(model, ids, args.passes)
    with_thread = beside(a_thread, model, ids, args.passes)
    with_process = beside(a_process, model, ids, args.passes)
    print(f"torch {torch.__version__}, {args.threads} thread(s), switch interval "
          f"{sys.getswitchinterval() * 1000:g} ms; a forward pass of {len(ids)} sentences ({sum(map(len, ids))} "
          f"tokens): {alone:.1f} ms alone, "
          f"{with_thread:.1f} ms beside a thread of this process running Python, "
          f"{with_process:.1f} ms beside another process running Python")


if __name__ == "__main__":
    main()
