"""Requests that arrive together are answered together, by as many encoders as there are.

One forward pass over 16 sentences costs far less than 16 passes over one. So request threads do not call
the model: they add their items (sentence pairs, search queries) to a waiting list and wait. A worker thread
borrows an encoder (the model here, or a process holding a copy of it: encoder_process.py), takes whatever is
waiting, answers it as one batch and hands each request its own answers. There is no timer: a request that
finds an encoder idle is answered at once, and the requests that arrive while every encoder is busy make up
the next batch.

Batchers of different requests (pairs, search queries, explanation steps) share the encoders, which they
borrow in turn, first come first served, and a batch holds at most `max_items`: so a request waits for at
most one batch of each other kind, and a flood of explanations cannot hold back a plain /predict.
"""
import collections
import contextlib
import threading
from concurrent.futures import Future

from agree.web.request_fields import HttpError


def available(encoder):
    """Whether an encoder can take a batch now: a supervised one (supervision.py) says; the model here can."""
    return getattr(encoder, "available", True)


class Encoders:
    """The encoders a server has, lent to one batch at a time: each computes one batch after another, and
    several compute side by side (one process each, on cores of their own). They are lent in the order the
    batches asked for them, so that no kind of request keeps the others waiting: a batcher's next batch
    queues behind those already waiting. An encoder that is not up (a new process starting) is not lent; when
    none is up, borrowing raises at once the error the encoder gives (a 503) rather than waiting."""

    def __init__(self, encoders):
        self.all, self.count = list(encoders), len(encoders)
        self.free = list(self.all)
        self.changed = threading.Condition()  # guards `free` and `queue`; notified when either changes
        self.queue = collections.deque()  # one token per batch waiting for an encoder, first come first served

    def notify(self):
        """An encoder's state changed (supervision.py calls this): waiting batches look again."""
        with self.changed:
            self.changed.notify_all()

    @contextlib.contextmanager
    def borrowed(self):
        turn = object()
        with self.changed:
            self.queue.append(turn)
            self.changed.notify_all()  # for whoever watches the line (tests)
            try:
                while not (self.queue[0] is turn and any(available(encoder) for encoder in self.free)):
                    if not any(available(encoder) for encoder in self.all):
                        raise self.all[0].unavailable()
                    self.changed.wait()
            finally:
                self.queue.remove(turn)
                self.changed.notify_all()  # the next in line may go now
            encoder = next(encoder for encoder in self.free if available(encoder))
            self.free.remove(encoder)
        try:
            yield encoder
        finally:
            with self.changed:
                self.free.append(encoder)
                self.changed.notify_all()


class EncodingBatcher:
    """`encode(items)` for many threads, through one worker per encoder, each of which calls
    `encode_batch(encoder, items)` (-> one answer per item, a list or a tensor's rows) on the items of the
    requests waiting when it has borrowed an encoder: all of them, or the first up to `max_items` (so that
    one batch never holds an encoder long). The server's batchers share the same `encoders`."""

    def __init__(self, encode_batch, encoders, max_items=None):
        self.encode_batch, self.encoders, self.max_items = encode_batch, encoders, max_items
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
            if self.closed:  # the server is stopping: a request still arriving gets a 503
                raise HttpError(503, "the server is stopping: its encoders are closed")
            self.waiting.append((list(items), answer))
            self.arrived.notify_all()  # the workers, and whoever watches the waiting list (tests)
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
            try:
                with self.encoders.borrowed() as encoder:
                    requests = self.take(self.max_items)  # those that arrived while every encoder was busy too
                    if requests:  # none when another worker took them first
                        self.run(encoder, requests)
            except Exception as error:  # no encoder can take a batch now: everyone waiting is told why
                for _, answer in self.take(None):
                    answer.set_exception(error)

    def take(self, max_items):
        """The first waiting requests, up to `max_items` items in all (at least one request), or all of them."""
        with self.arrived:
            count, items = 0, 0
            while count < len(self.waiting) and (max_items is None or not count or
                                                 items + len(self.waiting[count][0]) <= max_items):
                items += len(self.waiting[count][0])
                count += 1
            requests, self.waiting = self.waiting[:count], self.waiting[count:]
            return requests

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
