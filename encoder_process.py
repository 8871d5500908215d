"""The server's forward passes, in a process of their own.

Why a process and not a thread: a PyTorch operation on the CPU lets go of Python's global interpreter lock
while it computes and takes it back when it returns, and a forward pass of the `small` model is some two
hundred operations. Each time the model's thread wants the lock back while a request thread is running
Python (reading HTTP, writing JSON, tokenizing), it waits for that thread to give it up, which the
interpreter asks for only every 5 ms (`sys.getswitchinterval()`). Measured on this project's machine
(docs/web.md): a forward pass of 8 short sentences that takes 10 ms alone took 194 ms beside one busy Python
thread. A process has its own interpreter and its own lock, so the model computes while the server talks.

The parent sends the token ids of a batch through a pipe and gets their embeddings back as a float32 array;
everything else (tokenizing, the classifier on (u, v, |u-v|), explanations, search scoring) stays in the
server's process, which keeps its own copy of the model for them.
"""
import multiprocessing
import os
import pickle
from pathlib import Path

import torch

START_TIMEOUT_SECONDS = 120  # loading torch and the weights; far longer than it takes


class EncoderProcess:
    """`encode_ids(ids)` as `SentenceBERT.encode_ids`, computed in a child process with `threads` torch
    threads. One caller at a time: the server's batchers share a lock around it."""

    def __init__(self, model, threads):
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: forking a process that runs
        self.connection, child_end = context.Pipe()     # torch's thread pools is not safe
        weights = pickle.dumps(model)  # tensors pickle as plain bytes; torch's shared-memory path is not needed
        self.process = context.Process(target=serve_encodings, args=(child_end, weights, threads),
                                       name="agree-encoder", daemon=True)
        self.process.start()
        child_end.close()
        if not self.connection.poll(START_TIMEOUT_SECONDS):
            self.close()
            raise RuntimeError(f"the encoder process did not start within {START_TIMEOUT_SECONDS} s")
        self.answer()  # "ready", or the child's error

    def encode_ids(self, ids):
        """Embeddings (len(ids), d) of sentences given as lists of token ids."""
        try:
            self.connection.send(ids)
        except (BrokenPipeError, OSError):
            raise self.stopped() from None
        return torch.from_numpy(self.answer())

    def answer(self):
        try:
            status, value = self.connection.recv()
        except (EOFError, OSError):
            raise self.stopped() from None
        if status == "error":
            raise RuntimeError(f"the encoder process failed: {value}")
        return value

    def stopped(self):
        self.process.join(timeout=1)
        return RuntimeError(f"the encoder process has stopped (exit code {self.process.exitcode})")

    def cpu_seconds(self):
        """CPU time the child has used so far (Linux), for the benchmarks' accounting; None elsewhere."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def close(self):
        """Ask the child to finish; stop it if it does not."""
        try:
            self.connection.send(None)
        except OSError:
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        self.connection.close()


def serve_encodings(connection, weights, threads):
    """The child: load the model, say "ready", then answer each list of token ids until told to stop."""
    try:
        torch.set_num_threads(threads)
        model = pickle.loads(weights).eval()
    except Exception as error:  # the parent reports it; nothing else here can
        connection.send(("error", f"{type(error).__name__}: {error}"))
        return
    connection.send(("ready", None))
    while (ids := receive(connection)) is not None:
        try:
            connection.send(("ok", model.encode_ids(ids).numpy()))
        except Exception as error:  # a bad batch fails its requests, not the process
            connection.send(("error", f"{type(error).__name__}: {error}"))


def receive(connection):
    try:
        return connection.recv()
    except EOFError:  # the parent has gone
        return None
