"""The server's faults replayed against a real serve.py on 127.0.0.1, with the latencies each one costs.

    python benchmarks/faults.py --model runs/demo/sbert [--cases burst,slow,fairness,kill,stop,nan]
        [--serve path/to/serve.py] [--out FILE]

Each case starts its own `serve.py --model ... --port P --quiet` (from --serve, so that an older checkout can
be measured the same way) and stops it afterwards:

    burst     16 and 64 clients that each open a connection at the same moment and POST /predict, 4 rounds:
              latencies, answers slower than 1 s (a dropped SYN waits 1 s before it is sent again), connection
              errors, and the kernel's ListenOverflows counter before and after
    slow      --slow-clients connections that send one header byte every 3 s; beside them 16 /predict one
              after another: their latencies, the server's thread count, and how long the slow connections
              were held (at most --slow-seconds, when the case ends)
    fairness  /predict alone, then beside 12 explanations of the longest pair the page accepts
    kill      the encoder child killed (SIGKILL), then a /predict and a /health every half second: when the
              answers came back to 200
    stop      the encoder child stopped (SIGSTOP): how long a /predict waits and what it gets, then how long
              the server takes to end after SIGINT (Ctrl+C)
    term      the encoder child stopped (SIGSTOP), then SIGTERM to the server (a service manager's stop): how
              long it takes to end, its exit status, and whether the child is gone
    nan       a copy of the model with a word embedding of 3e38 (finite, so it loads; its first LayerNorm
              overflows to NaN): what /predict answers for a sentence with that word, as JSON and as a page

Timings are wall-clock seconds on this machine; the header says which machine.
"""
import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHORT_PAIR = {"premise": "A man is playing a guitar on stage.", "hypothesis": "The man is performing music."}
WORDS = "a man is playing a guitar on the stage while the crowd sings along with him".split()
LONGEST = " ".join(WORDS[i % len(WORDS)] for i in range(400))[:2000]  # the page's limit: 2,000 characters
MAX_PAIR = {"premise": LONGEST, "hypothesis": LONGEST}


# --- a server of its own for each case ----------------------------------------------------------------------

class Server:
    def __init__(self, serve, model, extra=()):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = tempfile.TemporaryFile()  # the server's stderr: its tracebacks would drown the figures
        self.process = subprocess.Popen([sys.executable, str(serve), "--model", str(model), "--port",
                                         str(self.port), "--quiet", *extra], stdout=subprocess.PIPE, text=True,
                                        stderr=self.log)
        for line in self.process.stdout:
            if line.startswith("Serving"):
                break
        else:
            raise SystemExit(f"{serve} did not start (exit code {self.process.wait()})")

    def encoder_pid(self):
        """The encoder child: the child process started by multiprocessing's spawn_main."""
        for pid in children(self.process.pid):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        return None

    def threads(self):
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))

    def stop(self):
        pids = children(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in pids:  # a child left stopped would never end by itself
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def children(pid):
    pids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            pids += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return pids


def ask(port, method, path, body=None, headers=None, timeout=300):
    """(status, seconds, body text) of one request; status is the error's name when there was no answer."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        return response.status, time.perf_counter() - started, response.read().decode("utf-8", "replace")
    except OSError as error:
        return type(error).__name__, time.perf_counter() - started, ""
    finally:
        connection.close()


def predict(port, pair=SHORT_PAIR, explain=False, timeout=300):
    path = "/predict?explain=1" if explain else "/predict"
    return ask(port, "POST", path, json.dumps(pair), {"Content-Type": "application/json"}, timeout)


def listen_overflows():
    lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines() if line.startswith("TcpExt")]
    return int(dict(zip(lines[0], lines[1]))["ListenOverflows"])


def summary(latencies):
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (f"median {1000 * statistics.median(ordered):.0f} ms, p99 {1000 * p99:.0f} ms, "
            f"max {1000 * ordered[-1]:.0f} ms")


# --- the cases -------------------------------------------------------------------------------------------

def burst(server, say, rounds=4):
    predict(server.port)  # warm
    for clients in (16, 64):
        latencies, failures, overflows = [], [], listen_overflows()
        for _ in range(rounds):
            start = threading.Barrier(clients)
            results = [None] * clients

            def client(number):
                start.wait()
                results[number] = predict(server.port)

            threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            latencies += [seconds for status, seconds, _ in results if status == 200]
            failures += [status for status, _, _ in results if status != 200]
        slow = sum(seconds > 1 for seconds in latencies)
        say(f"burst {clients} clients x {rounds}: {len(latencies)} answered 200, {summary(latencies)}, "
            f"{slow} over 1 s, failures {sorted(set(failures)) or 'none'} ({len(failures)}), "
            f"ListenOverflows +{listen_overflows() - overflows}")


def slow(server, say, count, seconds):
    predict(server.port)
    opened, sockets = time.perf_counter(), []
    for _ in range(count):
        sockets.append(socket.create_connection(("127.0.0.1", server.port)))
    held, closed, request = {}, set(), b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    stop = threading.Event()

    def trickle():
        position = 0
        while not stop.is_set() and len(closed) < len(sockets):
            for number, connection in enumerate(sockets):
                if number in closed:
                    continue
                try:
                    connection.sendall(request[position % len(request):position % len(request) + 1])
                    connection.setblocking(False)
                    connection.recv(1)  # b"" (hung up) or the start of an answer: the server let go either way
                    raise ConnectionResetError
                except BlockingIOError:
                    pass
                except OSError:
                    closed.add(number)
                    held[number] = time.perf_counter() - opened
                finally:
                    connection.setblocking(True)
            position += 1
            stop.wait(3)

    thread = threading.Thread(target=trickle)
    thread.start()
    stop.wait(1)
    threads = server.threads()
    answers = [predict(server.port, timeout=seconds) for _ in range(16)]
    latencies = [s for status, s, _ in answers if status == 200]
    failures = [status for status, _, _ in answers if status != 200]
    say(f"slow {count} clients (a byte every 3 s): /predict x16 beside them: "
        f"{summary(latencies) if latencies else 'no answer'}, failures {failures or 'none'}; "
        f"server threads {threads}")
    remaining = seconds - (time.perf_counter() - opened)
    while remaining > 0 and len(closed) < len(sockets):
        stop.wait(min(1, remaining))
        remaining = seconds - (time.perf_counter() - opened)
    stop.set()
    thread.join()
    still = len(sockets) - len(closed)
    longest = max(held.values(), default=0)
    say(f"slow: the server hung up on {len(closed)} of {count} within {seconds} s (the last after "
        f"{longest:.1f} s); {still} still held at the end; server threads then {server.threads()}")
    for connection in sockets:
        connection.close()


def fairness(server, say):
    predict(server.port, MAX_PAIR, explain=True)  # warm, and the cost of one
    alone = [predict(server.port)[1] for _ in range(5)]
    say(f"fairness: /predict alone x5: {summary(alone)}")
    status, one, _ = predict(server.port, MAX_PAIR, explain=True)
    say(f"fairness: one explanation of the longest pair alone: {one:.2f} s ({status})")
    explanations = []
    threads = [threading.Thread(target=lambda: explanations.append(predict(server.port, MAX_PAIR, explain=True)))
               for _ in range(12)]
    for thread in threads:
        thread.start()
    time.sleep(1)  # every explanation has arrived
    beside = [predict(server.port) for _ in range(5)]
    for thread in threads:
        thread.join()
    say(f"fairness: /predict x5 beside 12 explanations of the longest pair: "
        f"{summary([s for _, s, _ in beside])}, statuses {sorted({s for s, _, _ in beside})}; the explanations: "
        f"{summary([s for _, s, _ in explanations])}, statuses {sorted({s for s, _, _ in explanations})}")


def kill(server, say, seconds=30):
    """A line each time what /predict and /health answer changes, every half second for up to `seconds`."""
    predict(server.port)
    pid = server.encoder_pid()
    os.kill(pid, signal.SIGKILL)
    killed, last, asked = time.perf_counter(), None, 0
    say(f"kill: SIGKILL to the encoder child {pid}")
    while time.perf_counter() - killed < seconds:
        status, _, text = predict(server.port)
        health, _, health_text = ask(server.port, "GET", "/health")
        asked += 1
        if (status, health) != last:
            say(f"kill: +{time.perf_counter() - killed:4.1f} s  /predict {status} {text[:90]!r}  "
                f"/health {health} {health_text[:60]!r}")
            last = (status, health)
        if status == 200 and health == 200:
            break
        time.sleep(0.5)
    say(f"kill: {asked} rounds of /predict and /health in {time.perf_counter() - killed:.1f} s; the last: "
        f"{last[0]} and {last[1]}")


def stop_child(server, say, seconds=120):
    predict(server.port)
    pid = server.encoder_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        status, waited, text = predict(server.port, timeout=seconds)
        say(f"stop: SIGSTOP to the encoder child; /predict answered {status} after {waited:.1f} s: {text[:100]!r}")
        health, _, health_text = ask(server.port, "GET", "/health", timeout=10)
        say(f"stop: /health {health} {health_text[:80]!r}")
        waited = time.perf_counter()
        while health != 200 and time.perf_counter() - waited < 30:  # a new encoder, where there is one
            time.sleep(0.5)
            health = ask(server.port, "GET", "/health", timeout=10)[0]
        if health == 200 and server.encoder_pid() not in (None, pid):
            pid = server.encoder_pid()
            say(f"stop: /health 200 again after {time.perf_counter() - waited:.1f} s more; /predict "
                f"{predict(server.port)[0]}")
            os.kill(pid, signal.SIGSTOP)  # the new one stopped too, for the Ctrl+C case
        started = time.perf_counter()
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=30)
            say(f"stop: SIGINT with the child stopped: the server ended after {time.perf_counter() - started:.2f} s")
        except subprocess.TimeoutExpired:
            say("stop: SIGINT with the child stopped: the server was still running after 30 s")
    finally:
        for child in [pid, *children(server.process.pid)]:
            try:
                os.kill(child, signal.SIGCONT)
            except ProcessLookupError:
                pass


def term(server, say):
    predict(server.port)
    pid = server.encoder_pid()
    os.kill(pid, signal.SIGSTOP)
    started = time.perf_counter()
    server.process.send_signal(signal.SIGTERM)
    try:
        status = server.process.wait(timeout=30)
        say(f"term: SIGTERM with the child stopped: the server ended after {time.perf_counter() - started:.2f} s "
            f"with status {status}; the child {'is gone' if not Path(f'/proc/{pid}').exists() else 'is left'}")
    except subprocess.TimeoutExpired:
        say("term: SIGTERM with the child stopped: the server was still running after 30 s")
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def nan(serve, model, say):
    import torch
    damaged = Path(tempfile.mkdtemp()) / "damaged"
    shutil.copytree(model, damaged, ignore=shutil.ignore_patterns("last", "*.svg"))
    vocab = (damaged / "vocab.txt").read_text(encoding="utf-8").split("\n")
    weights = torch.load(damaged / "model.pt", weights_only=True)
    name = next(key for key in weights if key.endswith("embeddings.token.weight"))
    weights[name][vocab.index("dog")] = 3e38
    torch.save(weights, damaged / "model.pt")
    config = json.loads((damaged / "config.json").read_text(encoding="utf-8"))
    config.pop("sha256", None)  # as a checkpoint saved before digests: the change is not caught at loading
    (damaged / "config.json").write_text(json.dumps(config), encoding="utf-8")
    server = Server(serve, damaged)
    try:
        pair = {"premise": "A dog runs.", "hypothesis": "An animal moves."}
        status, _, text = predict(server.port, pair)
        try:
            json.loads(text, parse_constant=lambda constant: (_ for _ in ()).throw(ValueError(constant)))
            valid = "valid JSON"
        except ValueError as error:
            valid = f"not valid JSON ({error})"
        say(f"nan: a word embedding of 3e38; /predict with that word: {status}, {valid}: {text[:120]!r}")
        page = ask(server.port, "POST", "/predict", "premise=A+dog+runs.&hypothesis=An+animal+moves.",
                   {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})
        say(f"nan: the same as a form post: {page[0]}, 'nan%' on the page: {'nan%' in page[2]}")
    finally:
        server.stop()
        shutil.rmtree(damaged.parent)


def machine():
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        name = platform.processor()
    return f"{name}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--serve", default=str(ROOT / "serve.py"), help="the serve.py to run (default: this one)")
    parser.add_argument("--cases", default="burst,slow,fairness,kill,stop,term,nan")
    parser.add_argument("--slow-clients", type=int, default=300)
    parser.add_argument("--slow-seconds", type=int, default=40)
    parser.add_argument("--out", help="also write the lines here")
    args = parser.parse_args()
    lines = []

    def say(line):
        print(line, flush=True)
        lines.append(line)

    say(f"# benchmarks/faults.py --serve {args.serve} --model {args.model}; machine: {machine()}")
    for case in args.cases.split(","):
        if case == "nan":
            nan(args.serve, args.model, say)
            continue
        server = Server(args.serve, args.model)
        try:
            {"burst": lambda: burst(server, say),
             "slow": lambda: slow(server, say, args.slow_clients, args.slow_seconds),
             "fairness": lambda: fairness(server, say),
             "kill": lambda: kill(server, say),
             "stop": lambda: stop_child(server, say),
             "term": lambda: term(server, say)}[case]()
        finally:
            server.stop()
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
