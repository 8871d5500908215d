"""Everything a request asks of the model, in a process of its own.

Why a process and not a thread: a PyTorch operation on the CPU lets go of Python's global interpreter lock
while it computes and takes it back when it returns, and a forward pass is hundreds of operations. Each time
the model's thread wants the lock back while a request thread is running Python (reading HTTP, writing JSON,
tokenizing), it waits until the interpreter makes that thread give it up, which it asks for only once per
switch interval (`sys.getswitchinterval()`), far longer than most of those operations take. So beside one
busy Python thread a forward pass takes many times as long as alone (benchmarks/gil_convoy.py measures it;
docs/web.md has the figures). A process has its own interpreter and its own lock, so the model computes
while the server talks.

`ModelWork` is that work: the predictions of tokenized pairs, the nearest sentences of the index to tokenized
queries (both packed into one row when that saves padding: packing.py), and the steps of explanations
(occlusion.py). The server calls it directly (serve.py --in-process) or through `EncoderProcess`, which
sends the arguments through a pipe to a child holding its own `ModelWork` and brings back the answers, so
that no torch operation runs in the server's process on a request's path.

A child can die (killed, out of memory) or stop answering (stopped, stuck). `EncoderProcess.call` then raises
`EncoderFailure` instead of waiting for ever: at once when the pipe closes, after `deadline` seconds when no
answer comes. What to do about it (a new child) is supervision.py's business.
"""
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from pathlib import Path

import torch

from agree.quantize import quantization_warnings_silenced
from agree.web.occlusion import STEPS
from agree.web.packing import encode_ids, predict_ids

START_TIMEOUT_SECONDS = 120  # loading torch and the weights; far longer than it takes
CLOSE_GRACE_SECONDS = 0.2  # a child told to finish that has not within this is killed: it holds nothing to save


class EncoderFailure(RuntimeError):
    """The child can answer no more: it has died, or it did not answer in time. Its pipe may still hold a late
    answer, so the process must be replaced, not asked again."""


class ModelWork:
    """What requests ask of the model, one batch at a time; `rows`: the search index's rows (index_rows.py),
    or None without an index."""

    def __init__(self, model, rows=None):
        self.model, self.rows = model.eval(), rows

    def predict_ids(self, pairs):
        """[Prediction] of pairs already tokenized: [(premise ids, hypothesis ids)]."""
        return predict_ids(self.model, pairs)

    def search_ids(self, requests):
        """For each (query's token ids, k), its k nearest rows of the index, best first: [[(row, cosine)]]."""
        found = self.rows.nearest(encode_ids(self.model, [ids for ids, _ in requests]), max(k for _, k in requests))
        return [rows[:k] for rows, (_, k) in zip(found, requests)]

    def explain_steps(self, steps):
        """The answers to steps of explanations, [(name, *arguments)] (occlusion.STEPS), one after another:
        each is already a batch of its own (the shortened variants of a sentence, up to occlusion.STEP_TOKENS)."""
        return [STEPS[name](self.model, *arguments) for name, *arguments in steps]


class EncoderCalls:
    """What a batch asks of an encoder, one method a kind of work; `call` (the subclass's) sends it."""

    def predict_ids(self, pairs):
        return self.call("predict_ids", pairs)

    def search_ids(self, requests):
        return self.call("search_ids", requests)

    def explain_steps(self, steps):
        return self.call("explain_steps", steps)


class EncoderProcess(EncoderCalls):
    """`ModelWork`'s methods, computed in a child process with `threads` torch threads. One caller at a time:
    the server's batchers share a lock around it. `spawned(self)`, when given, is called as soon as the child
    exists, before it is ready, so that whoever is waiting for it can kill it meanwhile."""

    def __init__(self, work, threads, spawned=None):
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: forking a process that runs
        self.connection, child_end = context.Pipe()     # torch's thread pools is not safe
        self.process = context.Process(target=serve_work, args=(child_end, threads), name="agree-encoder",
                                       daemon=True)
        # Whoever reaps the child first (a join, is_alive or exitcode) gets its exit code; another thread doing
        # so at the same moment would read None. So they take turns.
        self.reaping = threading.Lock()
        self.process.start()
        child_end.close()
        if spawned is not None:
            spawned(self)
        # The work goes through the pipe, not as the process's argument, which the child would keep beside
        # the unpickled copy as long as it lives (twice the index's memory). Tensors pickle as plain bytes,
        # int8 index rows as their file's path (index_rows.py); torch's shared-memory path is not needed. A
        # thread sends them, so that a child that never reads cannot hold the server past the timeout.
        threading.Thread(target=send_work, args=(self.connection, pickle.dumps(work)), daemon=True).start()
        if not self.connection.poll(START_TIMEOUT_SECONDS):
            self.close()
            raise RuntimeError(f"the encoder process did not start within {START_TIMEOUT_SECONDS} s")
        self.answer()  # "ready", or the child's error

    def call(self, method, argument, deadline=None):
        """The child's answer to `method(argument)`; EncoderFailure if it dies first or, with a `deadline`
        (seconds), does not answer within it; RuntimeError if the method raised there (the child goes on)."""
        try:
            self.connection.send((method, argument))
        except (BrokenPipeError, OSError):
            raise self.stopped() from None
        if deadline is not None and not self.connection.poll(deadline):
            raise EncoderFailure(f"the encoder process did not answer within {deadline:g} s")
        return self.answer()

    def answer(self):
        try:
            status, value = self.connection.recv()
        except (EOFError, OSError):
            raise self.stopped() from None
        if status == "error":
            raise RuntimeError(f"the encoder process failed: {value}")
        return value

    def stopped(self):
        with self.reaping:
            self.process.join(timeout=1)
        return EncoderFailure(f"the encoder process has stopped (exit code {self.exitcode})")

    @property
    def sentinel(self):
        """Ready (to multiprocessing.connection.wait) once the child has ended, however it ended."""
        return self.process.sentinel

    @property
    def exitcode(self):
        with self.reaping:
            return self.process.exitcode

    def cpu_seconds(self):
        """CPU time the child has used so far (Linux), for the benchmarks' accounting; None elsewhere."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def resident_bytes(self):
        """The child's resident memory now (Linux), for the benchmarks; None elsewhere."""
        return resident_bytes(self.process.pid)

    def stop(self, grace=CLOSE_GRACE_SECONDS):
        """Ask the child to finish and kill it if it has not within `grace` seconds. SIGKILL, because it is the
        one signal a stopped process cannot leave pending. The pipe stays open: another thread may be
        waiting on it, and it wakes now, at its end."""
        try:
            self.connection.send(None)
        except OSError:
            pass
        with self.reaping:
            self.process.join(timeout=grace)
        self.kill()

    def kill(self):
        with self.reaping:
            if self.process.exitcode is None:
                self.process.kill()
            self.process.join()

    def close(self, grace=CLOSE_GRACE_SECONDS):
        self.stop(grace)
        self.connection.close()


def resident_bytes(pid="self"):
    """A process's resident memory now (Linux); None elsewhere."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), None)


def send_work(connection, state):
    try:
        connection.send_bytes(state)
    except OSError:  # the child has gone; the parent's wait for "ready" reports it
        pass


def serve_work(connection, threads):
    """The child: receive the work, say "ready", then answer each (method, argument) until told to stop."""
    # Ctrl+C in a terminal interrupts the whole process group, this child too; the server stops it itself
    # (close(), or the pipe's end when the server has gone), so here it would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        torch.set_num_threads(threads)
        with quantization_warnings_silenced():  # an int8 model's
            work = pickle.loads(connection.recv_bytes())
    except Exception as error:  # the parent reports it; nothing else here can
        connection.send(("error", f"{type(error).__name__}: {error}"))
        return
    connection.send(("ready", None))
    while (request := receive(connection)) is not None:
        method, argument = request
        try:
            connection.send(("ok", getattr(work, method)(argument)))
        except Exception as error:  # a bad batch fails its requests, not the process
            connection.send(("error", f"{type(error).__name__}: {error}"))
    # Done. The interpreter's own teardown (torch's modules and threads) would take longer than the server
    # waits before it kills a child, and there is nothing here to save.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def receive(connection):
    try:
        return connection.recv()
    except EOFError:  # the parent has gone
        return None
