"""Requests that arrive together are answered together, by as many encoders as there are.

One forward pass over 16 sentences costs far less than 16 passes over one. So request threads do not call
the model: they add their items (sentence pairs, search queries) to a waiting list and wait. A worker thread
borrows an encoder (the model here, or a process holding a copy of it: encoder_process.py), takes whatever is
waiting, answers it as one batch and hands each request its own answers. There is no timer: a request that
finds an encoder idle is answered at once, and the requests that arrive while every encoder is busy make up
the next batch.
"""
import contextlib
import queue
import threading
from concurrent.futures import Future


class Encoders:
    """The encoders a server has, lent to one batch at a time: each computes one batch after another, and
    several compute side by side (one process each, on cores of their own)."""

    def __init__(self, encoders):
        self.count = len(encoders)
        self.free = queue.SimpleQueue()
        for encoder in encoders:
            self.free.put(encoder)

    @contextlib.contextmanager
    def borrowed(self):
        encoder = self.free.get()
        try:
            yield encoder
        finally:
            self.free.put(encoder)


class EncodingBatcher:
    """`encode(items)` for many threads, through one worker per encoder, each of which calls
    `encode_batch(encoder, items)` (-> one answer per item, a list or a tensor's rows) on the items of every
    request waiting when it has borrowed an encoder. The server's batchers share the same `encoders`."""

    def __init__(self, encode_batch, encoders):
        self.encode_batch, self.encoders = encode_batch, encoders
        self.arrived = threading.Condition()  # guards `waiting` and `closed`, notified when either changes
        self.waiting = []  # (items, Future) of each request not yet taken into a batch
        self.closed = False
        self.workers = [threading.Thread(target=self.work, name="encoder", daemon=True)
                        for _ in range(encoders.count)]
        for worker in self.workers:
            worker.start()

    def encode(self, items):
        """The answers to one request's items, in order, once the batch holding them has run."""
        answer = Future()
        with self.arrived:
            if self.closed:
                raise RuntimeError("the encoder has been closed")
            self.waiting.append((list(items), answer))
            self.arrived.notify()
        return answer.result()

    def close(self):
        """Stop the workers once every request that arrived has its answer."""
        with self.arrived:
            self.closed = True
            self.arrived.notify_all()
        for worker in self.workers:
            worker.join()

    def work(self):
        while True:
            with self.arrived:
                self.arrived.wait_for(lambda: self.waiting or self.closed)
                if not self.waiting:
                    return
            with self.encoders.borrowed() as encoder:
                with self.arrived:  # the requests that arrived while every encoder was busy join this batch
                    requests, self.waiting = self.waiting, []
                if requests:  # none when another worker took them first
                    self.run(encoder, requests)

    def run(self, encoder, requests):
        items = [item for request_items, _ in requests for item in request_items]
        try:
            answers = self.encode_batch(encoder, items)
        except Exception as error:  # every request of the batch gets the error; the worker goes on
            for _, answer in requests:
                answer.set_exception(error)
            return
        start = 0
        for request_items, answer in requests:
            answer.set_result(answers[start:start + len(request_items)])
            start += len(request_items)
