"""Requests that arrive together are answered together.

On a CPU one forward pass already keeps every core busy, so the server runs the model for one caller at a
time; but one pass over 16 sentences costs far less than 16 passes over one. So request threads do not call
the model: they add their items (sentence pairs, search queries) to a waiting list and wait. One worker
thread takes whatever is waiting, answers it as one batch and hands each request its own answers. There is no
timer: a request that finds the worker idle is answered at once, and the requests that arrive while the model
is busy make up the next batch.
"""
import threading
from concurrent.futures import Future


class EncodingBatcher:
    """`encode(items)` for many threads, through one worker that calls `encode_batch` (items -> one answer
    per item, a list or a tensor's rows) on the items of every request waiting, while holding `lock`. Whoever
    else runs the model takes the same lock."""

    def __init__(self, encode_batch, lock):
        self.encode_batch, self.lock = encode_batch, lock
        self.arrived = threading.Condition()  # guards `waiting` and `closed`, notified when either changes
        self.waiting = []  # (items, Future) of each request not yet taken into a batch
        self.closed = False
        self.worker = threading.Thread(target=self.work, name="encoder", daemon=True)
        self.worker.start()

    def encode(self, items):
        """The answers to one request's items, in order, once the batch holding them has run."""
        answer = Future()
        with self.arrived:
            if self.closed:
                raise RuntimeError("the encoder has been closed")
            self.waiting.append((list(items), answer))
            self.arrived.notify_all()
        return answer.result()

    def close(self):
        """Stop the worker once every request that arrived has its answer."""
        with self.arrived:
            self.closed = True
            self.arrived.notify_all()
        self.worker.join()

    def work(self):
        while True:
            with self.arrived:
                self.arrived.wait_for(lambda: self.waiting or self.closed)
                if not self.waiting:
                    return
            with self.lock:
                with self.arrived:  # the requests that arrived while the model was busy join this batch
                    requests, self.waiting = self.waiting, []
                self.run(requests)

    def run(self, requests):
        items = [item for request_items, _ in requests for item in request_items]
        try:
            answers = self.encode_batch(items)
        except Exception as error:  # every request of the batch gets the error; the worker goes on
            for _, answer in requests:
                answer.set_exception(error)
            return
        start = 0
        for request_items, answer in requests:
            answer.set_result(answers[start:start + len(request_items)])
            start += len(request_items)
