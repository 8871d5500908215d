"""batching.py: requests that arrive together are answered as one batch, each request gets its own answers,
and with several encoders batches are answered side by side, each encoder lent to one batch at a time. The
encoders here are names, and the batches' work a function of them, so that every test can hold a batch where
it wants to (a barrier or an event) instead of racing it."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from agree.web.batching import Encoders, EncodingBatcher
from agree.web.request_fields import HttpError

GUARD_SECONDS = 60  # only a hung batcher ever waits this long


def wait_for_waiting(batcher, count):
    with batcher.arrived:
        assert batcher.arrived.wait_for(lambda: len(batcher.waiting) == count, timeout=GUARD_SECONDS)


def test_requests_waiting_for_the_encoder_make_one_batch_and_each_gets_its_own_answers():
    encoders, batches = Encoders(["model"]), []
    batcher = EncodingBatcher(lambda encoder, items: batches.append(list(items)) or [2 * i for i in items], encoders)
    with ThreadPoolExecutor(max_workers=3) as pool:
        with encoders.borrowed():  # the encoder is busy, so the requests wait for it together
            answers = [pool.submit(batcher.encode, items) for items in ([1, 2], [3], [4, 5, 6])]
            wait_for_waiting(batcher, 3)
        assert sorted(answer.result(timeout=GUARD_SECONDS) for answer in answers) == [[2, 4], [6], [8, 10, 12]]
    batcher.close()
    assert len(batches) == 1 and sorted(batches[0]) == [1, 2, 3, 4, 5, 6]


def test_two_encoders_answer_two_batches_side_by_side_each_lent_to_one_batch_at_a_time():
    both_running = threading.Barrier(2, timeout=GUARD_SECONDS)  # broken unless two batches run at once
    first_started, running, lock = threading.Event(), set(), threading.Lock()

    def encode_batch(encoder, items):
        with lock:
            assert encoder not in running  # an encoder is never lent twice at once
            running.add(encoder)
        first_started.set()
        both_running.wait()
        with lock:
            running.remove(encoder)
        return [(encoder, item) for item in items]

    batcher = EncodingBatcher(encode_batch, Encoders(["first", "second"]))
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = [pool.submit(batcher.encode, ["a"])]
        assert first_started.wait(timeout=GUARD_SECONDS)  # so that "b" is a batch of its own
        answers.append(pool.submit(batcher.encode, ["b"]))
        answers = [answer.result(timeout=GUARD_SECONDS) for answer in answers]
    batcher.close()
    assert sorted(encoder for [(encoder, _)] in answers) == ["first", "second"]
    assert [item for [(_, item)] in answers] == ["a", "b"]


def test_batchers_sharing_encoders_never_run_one_encoder_twice_at_once():
    encoders, busy, overlaps = Encoders(["model"]), threading.Lock(), []

    def encode_batch(encoder, items):
        if not busy.acquire(blocking=False):
            overlaps.append(items)
            return items
        try:
            threading.Event().wait(0.001)  # long enough for the other batcher to try to start
            return items
        finally:
            busy.release()

    first, second = EncodingBatcher(encode_batch, encoders), EncodingBatcher(encode_batch, encoders)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [pool.submit((first, second)[n % 2].encode, [n]) for n in range(40)]
        assert [answer.result(timeout=GUARD_SECONDS) for answer in answers] == [[n] for n in range(40)]
    first.close()
    second.close()
    assert overlaps == []


def test_a_failing_batch_fails_its_own_requests_and_the_worker_goes_on():
    encoders = Encoders(["model"])
    batcher = EncodingBatcher(lambda encoder, items: [1 / item for item in items], encoders)
    with pytest.raises(ZeroDivisionError):
        batcher.encode([0])
    assert batcher.encode([4]) == [0.25]
    batcher.close()


def test_closing_answers_every_request_that_arrived_and_then_refuses_new_ones():
    encoders = Encoders(["first", "second"])
    batcher = EncodingBatcher(lambda encoder, items: items, encoders)
    with ThreadPoolExecutor(max_workers=4) as pool:
        with encoders.borrowed(), encoders.borrowed():  # both busy: the requests wait
            answers = [pool.submit(batcher.encode, [n]) for n in range(4)]
            wait_for_waiting(batcher, 4)
            closing = pool.submit(batcher.close)
        closing.result(timeout=GUARD_SECONDS)
        assert [answer.result(timeout=GUARD_SECONDS) for answer in answers] == [[0], [1], [2], [3]]
    with pytest.raises(HttpError, match="the server is stopping: its encoders are closed") as refused:
        batcher.encode([5])
    assert refused.value.status == 503
    assert not any(worker.is_alive() for worker in batcher.workers)


class Encoder:
    """An encoder as a supervised one looks to Encoders: up or not, and the error to give when none is."""

    def __init__(self, name, available=True):
        self.name, self.available = name, available

    def unavailable(self):
        return HttpError(503, f"{self.name} is restarting")


def test_encoders_are_lent_first_come_first_served():
    encoders, lent = Encoders(["model"]), []

    def borrow(name):
        with encoders.borrowed():
            lent.append(name)

    with ThreadPoolExecutor(max_workers=3) as pool:
        with encoders.borrowed():  # busy: the three line up
            for number, name in enumerate(["first", "second", "third"], start=1):
                pool.submit(borrow, name)
                with encoders.changed:
                    assert encoders.changed.wait_for(lambda: len(encoders.queue) == number, timeout=GUARD_SECONDS)
    assert lent == ["first", "second", "third"]


def test_an_encoder_that_is_not_up_is_not_lent_and_when_none_is_borrowing_fails_at_once_with_its_error():
    restarting, up = Encoder("first", available=False), Encoder("second")
    encoders = Encoders([restarting, up])
    for _ in range(2):
        with encoders.borrowed() as encoder:
            assert encoder is up
    up.available = False
    with pytest.raises(HttpError, match="first is restarting"):
        with encoders.borrowed():
            pass


def test_a_batcher_whose_encoders_are_all_down_fails_its_waiting_requests_with_their_error_and_goes_on():
    encoder = Encoder("model", available=False)
    batcher = EncodingBatcher(lambda encoder, items: items, Encoders([encoder]))
    with pytest.raises(HttpError, match="model is restarting"):
        batcher.encode([1])
    encoder.available = True
    assert batcher.encode([2]) == [2]
    batcher.close()


def test_a_batch_holds_at_most_max_items_and_the_requests_after_them_wait_for_the_next():
    encoders, batches = Encoders(["model"]), []
    batcher = EncodingBatcher(lambda encoder, items: batches.append(list(items)) or items, encoders, max_items=3)
    with ThreadPoolExecutor(max_workers=4) as pool:
        with encoders.borrowed():
            answers = []
            for items in ([1, 2], [3], [4], [5, 6, 7, 8]):  # one at a time, so that they wait in this order
                answers.append(pool.submit(batcher.encode, items))
                wait_for_waiting(batcher, len(answers))
        assert [answer.result(timeout=GUARD_SECONDS) for answer in answers] == [[1, 2], [3], [4], [5, 6, 7, 8]]
    batcher.close()
    assert batches == [[1, 2, 3], [4], [5, 6, 7, 8]]  # a request over the limit still goes, alone
