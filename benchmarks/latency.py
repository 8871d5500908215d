"""Latency of the web page's JSON API under concurrent clients: /predict, with or without its explanation.

    python benchmarks/latency.py --model runs/recipe/sbert [--clients 8] [--requests 400] [--explain]

Starts serve.py's server in this process on a free loopback port, warms it up, then lets `--clients` threads
send `--requests` POST /predict requests in all (real SNLI-like sentence pairs, varied lengths) and reports
the median and 99th-percentile time per request, the throughput, and how many pairs the server encoded per
forward pass (requests that arrive together are encoded as one batch). With --explain every request also asks
for the occlusion of each word (/predict?explain=1); run it with --clients 1 beside a run without, to see
what the explanation costs a request.
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


def timed(request):
    """Seconds from sending `request` (a urllib Request) to having read its JSON answer."""
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        json.load(response)
    return time.perf_counter() - started


def predict_request(url, number):
    premise, hypothesis = PAIRS[number % len(PAIRS)]
    body = json.dumps({"premise": premise, "hypothesis": hypothesis}).encode()
    return urllib.request.Request(url, body, {"Content-Type": "application/json"})


def run_clients(make_request, clients, requests):
    """`clients` threads, each sending its share of `requests` one after another: (latencies, seconds)."""
    latencies, threads = [], []

    def client(first):
        for number in range(first, requests, clients):
            latencies.append(timed(make_request(number)))

    started = time.perf_counter()
    for c in range(clients):
        threads.append(threading.Thread(target=client, args=(c,)))
        threads[-1].start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(latencies, seconds):
    return (f"p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
            f"{len(latencies) / seconds:.1f} requests/s")


def serving(server):
    """Start `server` in a background thread; returns its base URL."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def recording_batches(server):
    """Record the number of sentences of each forward pass the server's encoder runs."""
    sizes, encode = [], server.encoder.encode_batch
    server.encoder.encode_batch = lambda sentences: sizes.append(len(sentences)) or encode(sentences)
    return sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--explain", action="store_true", help="ask for each word's occlusion (?explain=1)")
    args = parser.parse_args()
    server = make_server(SentenceBERT.load(args.model), Path(args.model), "127.0.0.1", 0, quiet=True)
    url = serving(server) + ("/predict?explain=1" if args.explain else "/predict")
    for number in range(len(PAIRS)):  # warm-up
        timed(predict_request(url, number))
    batches = recording_batches(server)
    latencies, seconds = run_clients(lambda number: predict_request(url, number), args.clients, args.requests)
    server.shutdown()
    batching = (f", {statistics.mean(batches) / 2:.2f} pairs per forward pass ({len(batches)} passes)"
                if batches else ", explained one request at a time")
    print(f"POST /predict{'?explain=1' if args.explain else ''}: {len(latencies)} requests from {args.clients} "
          f"concurrent clients, torch {torch.__version__}, {torch.get_num_threads()} threads: "
          f"{summary(latencies, seconds)}{batching}")


if __name__ == "__main__":
    main()
