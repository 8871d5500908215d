"""Latency of the web page's JSON API under concurrent clients: /predict, with or without its explanation.

    python benchmarks/latency.py --model runs/recipe/sbert [--clients 8] [--requests 400] [--explain]

Starts serve.py's server in this process on a free loopback port, warms it up, then lets `--clients` threads
of another process send `--requests` POST /predict requests in all (real SNLI-like sentence pairs, varied
lengths) and reports the median and 99th-percentile time per request, the throughput, how many pairs the
server encoded per forward pass (requests that arrive together are encoded as one batch) and where the CPU
time went. With --explain every request also asks for the occlusion of each word (/predict?explain=1); run
it with --clients 1 beside a run without, to see what the explanation costs a request. With --in-process
the model runs in the server's process, as serve.py --in-process, to compare with serve.py's encoder process;
with --no-int8 it computes in fp32, as serve.py --no-int8.
"""
import argparse
import http.client
import json
import multiprocessing
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from sbert import SentenceBERT  # noqa: E402
from serve import ENCODER_PROCESSES, make_server, serving_threads  # noqa: E402

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


def timed(port, job):
    """Seconds from sending one request to having read its JSON answer. `job`: (method, path, body or None,
    headers). http.client rather than urllib: the clients share the machine's cores with the server, so the
    less work each request costs them, the more of the CPU the measurement leaves to the server."""
    method, path, body, headers = job
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request(method, path, body, headers)
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise SystemExit(f"{method} {path} answered {response.status}: {answer[:200]!r}")
    json.loads(answer)
    return time.perf_counter() - started


def predict_job(path, number):
    premise, hypothesis = PAIRS[number % len(PAIRS)]
    body = json.dumps({"premise": premise, "hypothesis": hypothesis}).encode()
    return "POST", path, body, {"Content-Type": "application/json"}


def run_clients(port, make_job, clients, requests):
    """`clients` threads, each sending its share of `requests` one after another: (latencies, seconds, CPU
    seconds the clients' process spent meanwhile).

    The clients run in a process of their own, as a browser or another program would: threads in the
    server's process would hold its interpreter lock for their own HTTP work, and each time the model's worker
    thread came back from a torch operation it would wait for them (up to one `sys.getswitchinterval()`)."""
    jobs = [make_job(number) for number in range(requests)]
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(client_threads, (port, jobs, clients))


def client_threads(port, jobs, clients):
    latencies, threads = [], []

    def client(first):
        for job in jobs[first::clients]:
            latencies.append(timed(port, job))

    started, cpu = time.perf_counter(), time.process_time()
    for c in range(clients):
        threads.append(threading.Thread(target=client, args=(c,)))
        threads[-1].start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, time.process_time() - cpu


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(latencies, seconds):
    return (f"p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
            f"{len(latencies) / seconds:.1f} requests/s")


def serving(server):
    """Start `server` in a background thread; returns its port."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


class Accounting:
    """Where the CPU time goes while the clients run: the model (every pass of one of the server's batchers,
    and how many pairs or queries each held; the encoder process's CPU time, or the batcher thread's when
    the model runs in the server's process), the rest of the server's process (request threads; also torch's
    helper threads when --threads is above 1 in-process), the clients' process, and the share of the
    machine's cores left idle (from /proc/stat, where there is one)."""

    def __init__(self, server, batcher):
        self.sizes, self.pass_seconds, self.encoder_processes = [], [], server.encoder_processes
        encode = batcher.encode_batch

        def timed_pass(encoder, items):
            started = time.thread_time()
            try:
                return encode(encoder, items)
            finally:
                self.sizes.append(len(items))
                self.pass_seconds.append(time.thread_time() - started)

        batcher.encode_batch = timed_pass
        self.process_seconds, self.ticks = time.process_time(), cpu_ticks()
        self.encoder_seconds = self.encoders_cpu_seconds()

    def encoders_cpu_seconds(self):
        """The encoder processes' CPU time so far, all together; None where it cannot be read."""
        seconds = [process.cpu_seconds() for process in self.encoder_processes]
        return None if None in seconds else sum(seconds)

    def summary(self, requests, client_seconds):
        server = time.process_time() - self.process_seconds
        per_request = lambda seconds: f"{seconds / requests * 1000:.2f} ms"
        ticks = cpu_ticks()
        idle = (f"; cores idle {100 * (ticks[0] - self.ticks[0]) / (ticks[1] - self.ticks[1]):.0f}% of the time"
                if ticks and self.ticks else "")
        if self.encoder_processes:  # the batchers' threads only wait on pipes; the model's time is the children's
            named = "encoder process" if len(self.encoder_processes) == 1 else "encoder processes"
            model = (f"{named} {per_request(self.encoders_cpu_seconds() - self.encoder_seconds)}"
                     if self.encoder_seconds is not None else f"{named} not measured (no /proc)")
            rest = server
        else:
            thread = sum(self.pass_seconds)
            model, rest = f"model thread {per_request(thread)}", server - thread
        return (f"CPU per request: {model}, rest of the server {per_request(rest)}, "
                f"clients {per_request(client_seconds)}{idle}")


def cpu_ticks():
    """(idle, total) clock ticks of all cores since boot, or None off Linux."""
    try:
        fields = [int(field) for field in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]
    except (OSError, ValueError):
        return None
    return fields[3], sum(fields)


def add_serving_options(parser):
    """serve.py's --int8, --threads, --encoders and --in-process, with its defaults."""
    parser.add_argument("--int8", action=argparse.BooleanOptionalAction, default=True,
                        help="the encoder's linear layers in int8, as serve.py (its default); --no-int8: fp32")
    parser.add_argument("--threads", type=int, default=serving_threads(),
                        help="torch threads, as serve.py --threads (default: serve.py's, %(default)s here)")
    parser.add_argument("--encoders", type=int, default=ENCODER_PROCESSES,
                        help="encoder processes, as serve.py --encoders (default: serve.py's, %(default)s here)")
    parser.add_argument("--in-process", action="store_true",
                        help="the model in the server's process, as serve.py --in-process (the default: in an "
                             "encoder process of its own, as serve.py)")


def encoder_threads(args):
    return None if args.in_process else args.threads


def where_the_model_runs(args):
    """How and where the model computes, for the benchmark's first line."""
    precision = "int8" if args.int8 else "fp32"
    if args.in_process:
        return f"in {precision} in the server"
    processes = "an encoder process" if args.encoders == 1 else f"{args.encoders} encoder processes"
    return f"in {precision} in {processes}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--explain", action="store_true", help="ask for each word's occlusion (?explain=1)")
    add_serving_options(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    server = make_server(SentenceBERT.load(args.model, int8=args.int8), Path(args.model), "127.0.0.1", 0, quiet=True,
                         encoder_threads=encoder_threads(args), encoder_processes=args.encoders)
    port, path = serving(server), "/predict?explain=1" if args.explain else "/predict"
    for number in range(len(PAIRS)):  # warm-up
        timed(port, predict_job(path, number))
    accounting = Accounting(server, server.predictor)
    latencies, seconds, client_seconds = run_clients(port, lambda number: predict_job(path, number), args.clients,
                                                     args.requests)
    cpu = accounting.summary(args.requests, client_seconds)  # before the encoder process stops
    server.shutdown()
    server.server_close()
    batches = accounting.sizes
    batching = (f", {statistics.mean(batches):.2f} pairs per forward pass ({len(batches)} passes)"
                if batches else ", explained one request at a time")
    print(f"POST /predict{'?explain=1' if args.explain else ''}: {len(latencies)} requests from {args.clients} "
          f"concurrent clients, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{where_the_model_runs(args)}: "
          f"{summary(latencies, seconds)}{batching}\n  {cpu}")


if __name__ == "__main__":
    main()
