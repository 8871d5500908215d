"""Latency of the web page's JSON API under concurrent clients.

    python benchmarks/latency.py --model runs/recipe/sbert [--clients 8] [--requests 400]

Starts serve.py's server in this process on a free loopback port, warms it up, then lets `--clients` threads
send `--requests` POST /predict requests in all (real SNLI-like sentence pairs, varied lengths) and reports
the median and 99th-percentile time per request and the throughput.
"""
import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from sbert import SentenceBERT  # noqa: E402
from serve import make_server  # noqa: E402

PAIRS = [
    ("A man is playing a guitar on stage.", "The man is performing music."),
    ("Two dogs are running through a field of tall grass.", "The animals are sleeping indoors."),
    ("A woman in a red coat is waiting for the bus while it snows.", "A woman is outside."),
    ("Children are playing soccer in the park.", "Kids are at school."),
    ("A chef is slicing vegetables in a busy restaurant kitchen.", "Someone is cooking dinner for guests."),
    ("An old man reads a newspaper on a bench.", "A man is reading."),
    ("A group of people are hiking up a steep mountain trail on a sunny day.", "People are outdoors."),
    ("The girl is swimming.", "The girl is dry."),
]


def post(url, premise, hypothesis):
    body = json.dumps({"premise": premise, "hypothesis": hypothesis}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        json.load(response)
    return time.perf_counter() - started


def client(url, count, offset, latencies):
    for i in range(count):
        latencies.append(post(url, *PAIRS[(offset + i) % len(PAIRS)]))


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    server = make_server(SentenceBERT.load(args.model), Path(args.model), "127.0.0.1", 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/predict"
    for premise, hypothesis in PAIRS:  # warm-up
        post(url, premise, hypothesis)
    latencies, threads = [], []
    started = time.perf_counter()
    for c in range(args.clients):
        count = args.requests // args.clients
        threads.append(threading.Thread(target=client, args=(url, count, c, latencies)))
        threads[-1].start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    server.shutdown()
    print(f"{len(latencies)} requests from {args.clients} concurrent clients, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads: p50 {statistics.median(latencies) * 1000:.1f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, {len(latencies) / seconds:.1f} requests/s")


if __name__ == "__main__":
    main()
