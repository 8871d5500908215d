"""The server survives its own faults (issue 33): an encoder process that dies or stops answering is replaced
while its requests get a 503 that says so and /health says what is happening; Ctrl+C and SIGTERM end the server
whatever the child does; a burst of connections waits in the backlog; slow clients lose their connection at
the request's deadline or when room is needed; explanations take turns with /predict; damaged weights never
put NaN into an answer. Every fault is injected (a signal to the child, a gate on its restart, a short
deadline, a stalled socket, a NaN in a weight), and every wait is on an event or a condition with a guard
far longer than anything takes: no test depends on how fast anything runs."""
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from served import GUARD_SECONDS, post_form, post_json, request, running
from tiny_sbert import untrained_model

import serve
from agree.web.connections import ConnectionLimit
from agree.web.encoder_process import EncoderFailure
from agree.web.supervision import EncoderUnavailable, SupervisedEncoder
from sbert import Prediction, SentenceBERT

ROOT = Path(__file__).resolve().parents[1]
PAIR = {"premise": "a man is playing guitar", "hypothesis": "the man is sleeping"}
SENTENCES = ["a man is playing guitar on stage .", "the dog runs", "a woman is sleeping"]


@pytest.fixture(scope="module")
def index_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "sentences.txt"
    path.write_text("".join(sentence + "\n" for sentence in SENTENCES), encoding="utf-8")
    return path


def not_json_constant(constant):
    raise ValueError(f"{constant} is not JSON")


# --- supervision, with stand-ins for the processes ----------------------------------------------------------

class FakeProcess:
    """An encoder process as SupervisedEncoder sees one: `call` gives `answer(method, argument)` (which may
    raise EncoderFailure, as a dead or silent child does); `sentinel` is ready once it has ended."""

    def __init__(self, answer=lambda method, argument: (method, argument)):
        self.answer, self.exitcode, self.killed = answer, None, False
        self.sentinel, self.running = os.pipe()
        self.ended = threading.Event()

    def call(self, method, argument, deadline=None):
        return self.answer(method, argument)

    def end(self, exitcode):
        if self.exitcode is None:
            self.exitcode = exitcode
            self.ended.set()
            os.close(self.running)

    def kill(self):
        self.killed = True
        self.end(-9)

    def stop(self, grace=None):
        self.end(0)

    def close(self, grace=None):
        self.stop()


class Starts:
    """start() for a SupervisedEncoder: each call takes the next step of `plan`: a FakeProcess (returned at
    once), an Event then a FakeProcess (returned once the event is set), or an exception (raised)."""

    def __init__(self, plan):
        self.plan, self.given = plan, []

    def __call__(self, spawned):
        step = self.plan.pop(0)
        if isinstance(step, threading.Event):
            assert step.wait(GUARD_SECONDS)
            step = self.plan.pop(0)
        if isinstance(step, Exception):
            raise step
        self.given.append(step)
        spawned(step)
        return step


@pytest.fixture
def supervise():
    """supervise(plan, **options) -> (SupervisedEncoder, Starts); each is stopped at the end of the test, its
    watcher threads are done, and the stand-ins' pipes closed."""
    made = []

    def make(plan, **options):
        starts = Starts(plan)
        made.append((SupervisedEncoder(starts, **options), starts))
        return made[-1]

    yield make
    for supervisor, starts in made:
        supervisor.stop()
        for process in starts.given:
            process.end(0)
    for thread in threading.enumerate():
        if thread.name in ("encoder-watch", "encoder-restart"):
            thread.join(GUARD_SECONDS)
    for _, starts in made:
        for process in starts.given:
            os.close(process.sentinel)


def fail(message):
    def answer(method, argument):
        raise EncoderFailure(message)
    return answer


def test_a_failed_batch_gets_a_503_that_says_so_and_a_new_encoder_serves_the_next(supervise):
    first, second, gate, log = FakeProcess(fail("the encoder process did not answer within 30 s")), FakeProcess(), \
        threading.Event(), []
    supervisor, _ = supervise([first, gate, second], log=log.append)
    with pytest.raises(EncoderUnavailable) as refused:
        supervisor.predict_ids([1])
    assert refused.value.status == 503 and ("Retry-After", "5") in refused.value.headers
    assert refused.value.message == "the encoder process did not answer within 30 s; a new one is starting: try " \
                                    "again in a moment"
    assert first.killed and supervisor.state == "restarting" and not supervisor.available
    with pytest.raises(EncoderUnavailable, match="the encoder is restarting"):  # no batch goes to a failed one
        supervisor.search_ids([2])
    gate.set()
    assert supervisor.wait_for_state("ok", GUARD_SECONDS)
    assert supervisor.predict_ids([3]) == ("predict_ids", [3]) and supervisor.restarts == 1
    assert log == ["the encoder process did not answer within 30 s; starting a new one",
                   "a new encoder process is serving"]


def test_an_encoder_that_dies_between_requests_is_replaced_before_any_request_finds_out(supervise):
    first, second, gate, log = FakeProcess(), FakeProcess(), threading.Event(), []
    supervisor, _ = supervise([first, gate, second], log=log.append)
    first.end(-9)  # as SIGKILL or the kernel's out-of-memory killer ends it
    assert supervisor.wait_for_state("restarting", GUARD_SECONDS)
    gate.set()
    assert supervisor.wait_for_state("ok", GUARD_SECONDS) and supervisor.process is second
    assert log[0] == "the encoder process has stopped (exit code -9); starting a new one"


def test_a_new_encoder_that_cannot_start_is_down_and_tried_again_until_one_does(supervise):
    first, last, gate, log = FakeProcess(), FakeProcess(), threading.Event(), []
    supervisor, _ = supervise([first, RuntimeError("the encoder process failed: MemoryError"),
                               RuntimeError("the encoder process failed: MemoryError"), gate, last],
                              log=log.append, retry_seconds=(0,))
    first.end(-9)
    assert supervisor.wait_for_state("down", GUARD_SECONDS)
    with pytest.raises(EncoderUnavailable, match="the encoder is down"):
        supervisor.predict_ids([1])
    gate.set()
    assert supervisor.wait_for_state("ok", GUARD_SECONDS) and supervisor.process is last
    assert log.count("cannot start a new encoder process: the encoder process failed: MemoryError; trying again "
                     "in 0 s") == 2


def test_stopping_ends_a_busy_encoder_its_request_gets_a_503_and_nothing_is_started_again(supervise):
    def answer_at_the_end(method, argument):
        assert busy.ended.wait(GUARD_SECONDS)  # as a child's pipe ends when it is killed mid-batch
        raise EncoderFailure("the encoder process has stopped (exit code -9)")

    busy = FakeProcess(answer_at_the_end)
    supervisor, starts = supervise([busy], log=lambda line: pytest.fail(line))  # a second start would fail
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(supervisor.predict_ids, [1])
        supervisor.stop()
        with pytest.raises(EncoderUnavailable, match="the server is stopping"):
            waiting.result(timeout=GUARD_SECONDS)
    assert busy.exitcode == 0 and supervisor.state == "ok" and starts.plan == []


def test_stopping_while_a_new_encoder_starts_kills_it_and_starts_no_other():
    first, starting, log = FakeProcess(), FakeProcess(), []

    def start(spawned):
        if first.exitcode is None:
            return first
        spawned(starting)  # it exists, and is not ready until it ends: as a child stopped while loading
        assert starting.ended.wait(GUARD_SECONDS)
        raise EncoderFailure("the encoder process has stopped (exit code -9)")  # EncoderProcess's, then

    supervisor = SupervisedEncoder(start, log=log.append)
    first.end(-9)
    with supervisor.changed:
        assert supervisor.changed.wait_for(lambda: supervisor.starting is starting, timeout=GUARD_SECONDS)
    supervisor.stop()
    assert starting.killed
    for thread in threading.enumerate():
        if thread.name in ("encoder-watch", "encoder-restart"):
            thread.join(GUARD_SECONDS)
    assert supervisor.state == "restarting" and log == ["the encoder process has stopped (exit code -9); "
                                                        "starting a new one"]
    for process in (first, starting):
        os.close(process.sentinel)


# --- supervision of real encoder processes, through HTTP ------------------------------------------------------

@pytest.fixture
def gated_restarts(monkeypatch):
    """After the first, each encoder process starts only once the returned event is set."""
    gate, started, start = threading.Event(), [], serve.EncoderProcess

    def gated(work, threads, spawned):
        if started:
            assert gate.wait(GUARD_SECONDS)
        started.append(start(work, threads, spawned))
        return started[-1]

    monkeypatch.setattr(serve, "EncoderProcess", gated)
    return gate


def kill_if_alive(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_a_killed_encoder_is_a_503_while_a_new_one_starts_then_it_serves_with_the_index(checkpoint, index_file,
                                                                                        tmp_path, gated_restarts):
    model = SentenceBERT.load(checkpoint)
    with running(checkpoint, index_file=index_file, cache_dir=tmp_path, encoder_threads=1) as server:
        port, [supervisor], [child] = server.server_address[1], server.supervisors, server.encoder_processes
        search = "/search?q=a+dog&k=2&format=json"
        found = json.loads(request(port, "GET", search)[2])
        os.kill(child.process.pid, signal.SIGKILL)
        assert supervisor.wait_for_state("restarting", GUARD_SECONDS)
        status, headers, answer = post_json(port, PAIR)
        assert status == 503 and headers["Retry-After"] == "5"
        assert answer == {"error": "the encoder is restarting (it failed and a new one is starting): try again "
                                   "in a moment"}
        status, _, page = post_form(port, PAIR)
        assert status == 503 and "the encoder is restarting" in page and "a man is playing guitar" in page
        status, _, text = request(port, "GET", "/health")
        assert status == 503 and json.loads(text) == {"status": "restarting", "model": "tiny-sbert",
                                                      "encoders": [{"state": "restarting", "restarts": 0}]}
        gated_restarts.set()
        assert supervisor.wait_for_state("ok", GUARD_SECONDS)
        status, _, answer = post_json(port, PAIR)
        assert status == 200 and answer["label"] == model.predict(*PAIR.values()).label
        assert json.loads(request(port, "GET", search)[2]) == found  # the new process has the index too
        assert post_json(port, PAIR, path="/predict?explain=1")[0] == 200
        status, _, text = request(port, "GET", "/health")
        assert status == 200 and json.loads(text)["encoders"] == [{"state": "ok", "restarts": 1}]
    assert child.process.exitcode == -signal.SIGKILL


def test_an_encoder_that_stops_answering_is_a_503_at_the_batch_deadline_and_is_replaced(checkpoint):
    with running(checkpoint, encoder_threads=1, batch_deadline=0.5) as server:
        port, [supervisor], [child] = server.server_address[1], server.supervisors, server.encoder_processes
        os.kill(child.process.pid, signal.SIGSTOP)  # alive and silent, as a stuck process is
        try:
            status, _, answer = post_json(port, PAIR)
            assert status == 503 and answer["error"].startswith("the encoder process did not answer within 0.5 s; "
                                                                "a new one is starting")
            assert supervisor.wait_for_state("ok", GUARD_SECONDS)
            assert child.process.exitcode == -signal.SIGKILL  # killed though stopped
            assert post_json(port, PAIR)[0] == 200
        finally:
            kill_if_alive(child.process.pid)


def encoder_child(pid):
    """The pid of the encoder process among a server's children (multiprocessing's spawn_main runs it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
    return None


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the encoder process the Linux way")
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_ends_the_server_and_its_encoder_even_a_stopped_one(checkpoint, stop_signal):
    server = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "--model", str(checkpoint), "--port", "0",
                               "--threads", "1", "--quiet"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    child = None
    try:
        assert server.stdout.readline().startswith("Serving")
        child = encoder_child(server.pid)
        os.kill(child, signal.SIGSTOP)
        server.send_signal(stop_signal)
        assert server.wait(timeout=GUARD_SECONDS) == 0
        with pytest.raises(ProcessLookupError):  # ended and reaped
            os.kill(child, 0)
    finally:
        server.kill()
        server.wait()
        if child is not None:
            kill_if_alive(child)


# --- bursts and slow clients --------------------------------------------------------------------------------

def test_a_burst_of_64_connections_waits_in_the_backlog_and_every_one_is_answered(checkpoint):
    server = serve.make_server(SentenceBERT.load(checkpoint), checkpoint, port=0, quiet=True, client_timeout=2)
    port, connections, serving = server.server_address[1], [], None
    try:
        for _ in range(64):  # not accepted yet: with a backlog of 5 the 7th would wait for a SYN retry
            connections.append(socket.create_connection(("127.0.0.1", port), timeout=GUARD_SECONDS))
        serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        serving.start()
        body = json.dumps(PAIR).encode()
        for connection in connections:
            connection.sendall(b"POST /predict HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: "
                               + str(len(body)).encode() + b"\r\n\r\n" + body)
        assert [connection.makefile("rb").readline().split()[1] for connection in connections] == [b"200"] * 64
    finally:
        for connection in connections:
            connection.close()
        if serving:  # shutdown() waits for serve_forever to return: it must have begun
            server.shutdown()
        server.server_close()


def hung_up(connection):
    """Whether the server has closed the connection without an answer (it may reset it, or not)."""
    try:
        return connection.recv(1024) == b""
    except ConnectionResetError:
        return True


def trickle_until_hung_up(connection, pause=0.02):
    """Send a byte every `pause` seconds, each far sooner than a per-read timeout, until the server closes the
    connection without an answer (True); False if it answered, or kept waiting for the guard's length."""
    for _ in range(int(GUARD_SECONDS / pause)):
        try:
            connection.sendall(b"G")
            if select.select([connection], [], [], pause)[0]:
                return connection.recv(1024) == b""
        except (BrokenPipeError, ConnectionResetError):
            return True
    return False


def test_a_client_that_sends_its_request_too_slowly_is_hung_up_on_at_the_request_deadline(checkpoint):
    with running(checkpoint, client_timeout=None, request_deadline=0.3) as server:  # no per-read limit
        with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=GUARD_SECONDS) as slow:
            assert trickle_until_hung_up(slow)
        assert post_json(server.server_address[1], PAIR)[0] == 200


def stalled(port, sent=b"GET /hea"):
    connection = socket.create_connection(("127.0.0.1", port), timeout=GUARD_SECONDS)
    connection.sendall(sent)
    return connection


def test_at_the_cap_the_connection_sending_its_request_longest_is_closed_to_make_room(checkpoint):
    limit = ConnectionLimit(limit=2, give_way_seconds=0)
    with running(checkpoint, client_timeout=None, request_deadline=None, connections=limit) as server:
        port = server.server_address[1]
        first = stalled(port)
        with limit.changed:
            assert limit.changed.wait_for(lambda: len(limit.reading) == 1, timeout=GUARD_SECONDS)
        second = stalled(port)
        with first, second:
            status, _, answer = post_json(port, PAIR)  # a third connection: the cap is 2
            assert status == 200 and limit.full.is_set()
            assert hung_up(first)
            second.setblocking(False)
            with pytest.raises(BlockingIOError):  # the younger one is still connected and waited for
                second.recv(1024)


def test_at_the_cap_connections_being_answered_are_never_cut_off_and_a_newcomer_waits_for_one(checkpoint):
    limit = ConnectionLimit(limit=2, give_way_seconds=0)
    with running(checkpoint, connections=limit) as server:
        port = server.server_address[1]
        with ThreadPoolExecutor(max_workers=3) as pool:
            with server.encoders.borrowed():  # the two requests wait for the model, their requests all read
                answers = [pool.submit(post_json, port, PAIR) for _ in range(2)]
                with server.predictor.arrived:
                    assert server.predictor.arrived.wait_for(lambda: len(server.predictor.waiting) == 2,
                                                             timeout=GUARD_SECONDS)
                health = pool.submit(request, port, "GET", "/health")
                assert limit.full.wait(GUARD_SECONDS) and not health.done()  # in the backlog, not refused
            assert [answer.result()[0] for answer in answers] == [200, 200]
            assert health.result()[0] == 200


# --- fairness -----------------------------------------------------------------------------------------------

def test_a_predict_waits_for_one_step_of_an_explanation_not_for_the_explanations_ahead_of_it(checkpoint,
                                                                                           monkeypatch):
    monkeypatch.setattr("agree.web.occlusion.STEP_TOKENS", 8)  # a few steps for each of these sentences
    long_pair = {"premise": "a man is playing guitar on the stage", "hypothesis": "the woman is sleeping"}
    with running(checkpoint) as server:
        batches, port = [], server.server_address[1]
        for name in ("predictor", "explainer"):
            batcher = getattr(server, name)
            batcher.encode_batch = lambda encoder, items, run=batcher.encode_batch, name=name: \
                batches.append((name, len(items))) or run(encoder, items)
        with ThreadPoolExecutor(max_workers=4) as pool:
            with server.encoders.borrowed():
                explanations = [pool.submit(post_json, port, long_pair, "/predict?explain=1") for _ in range(3)]
                with server.explainer.arrived:
                    assert server.explainer.arrived.wait_for(lambda: len(server.explainer.waiting) == 3,
                                                             timeout=GUARD_SECONDS)
                with server.encoders.changed:  # the explanations' worker is in line for the encoder
                    assert server.encoders.changed.wait_for(lambda: len(server.encoders.queue) == 1,
                                                            timeout=GUARD_SECONDS)
                plain = pool.submit(post_json, port, PAIR)
                with server.encoders.changed:  # and /predict's behind it
                    assert server.encoders.changed.wait_for(lambda: len(server.encoders.queue) == 2,
                                                            timeout=GUARD_SECONDS)
            assert plain.result()[0] == 200 and [e.result()[0] for e in explanations] == [200] * 3
    assert batches[:2] == [("explainer", 1), ("predictor", 1)]
    assert len(batches) > 3 * 3  # each explanation took several steps, each a batch of its own


def test_an_explanation_beyond_the_cap_is_refused_at_once(checkpoint):
    with running(checkpoint) as server:
        server.explaining = threading.BoundedSemaphore(1)
        port = server.server_address[1]
        with ThreadPoolExecutor(max_workers=1) as pool:
            with server.encoders.borrowed():
                first = pool.submit(post_json, port, PAIR, "/predict?explain=1")
                with server.explainer.arrived:
                    assert server.explainer.arrived.wait_for(lambda: server.explainer.waiting, timeout=GUARD_SECONDS)
                status, headers, answer = post_json(port, PAIR, "/predict?explain=1")
                assert status == 503 and headers["Retry-After"] == "1"
                assert answer == {"error": "16 explanations are being computed: try again in a moment"}
            assert first.result()[0] == 200


# --- answers that are not numbers ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """A checkpoint whose word "dog" has an embedding of 3e38: finite, so the checkpoint loads, but the first
    LayerNorm overflows on it, and any sentence with that word gives NaN."""
    model = untrained_model()
    with torch.no_grad():
        model.bert.embeddings.token.weight[model.vocab.ids["dog"]] = 3e38
    directory = tmp_path_factory.mktemp("models") / "damaged"
    model.save(directory)
    return directory


NOT_A_NUMBER = ("the model answered with a value that is not a number (NaN or infinity), so there is no answer to "
                "give: its weights may be damaged; see the server's log")


@pytest.mark.parametrize("path, value", [
    ("/predict", {"premise": "the dog runs", "hypothesis": "a man"}),
    ("/predict?explain=1", {"premise": "a man", "hypothesis": "the dog runs"}),
    ("/search", {"q": "a dog"}),
    ("/search", {"q": "a man"}),  # the index's sentences with "dog" are NaN: every ranking is
])
def test_an_answer_that_is_not_a_number_is_a_500_that_says_so_in_valid_json(damaged, index_file, tmp_path, path,
                                                                            value, capsys):
    with running(damaged, index_file=index_file, cache_dir=tmp_path) as server:
        status, _, text = request(server.server_address[1], "POST", path, json.dumps(value),
                                  {"Content-Type": "application/json"})
        assert status == 500 and json.loads(text, parse_constant=not_json_constant) == {"error": NOT_A_NUMBER}
        assert post_json(server.server_address[1], {"premise": "a man", "hypothesis": "a woman"})[0] == 200
    assert "the model answered NaN or infinity" in capsys.readouterr().err


def test_a_page_never_shows_nan(damaged):
    with running(damaged) as server:
        status, _, page = post_form(server.server_address[1], {"premise": "the dog runs", "hypothesis": "a man"})
    assert status == 500 and "not a number (NaN or infinity)" in page
    assert not re.search(r"nan%|value=\"nan", page, re.IGNORECASE)  # no probability or meter of NaN


def test_json_is_never_sent_with_nan_even_if_an_answer_escaped_the_check(checkpoint):
    with running(checkpoint) as server:
        probabilities = {"entailment": float("nan"), "neutral": 0.5, "contradiction": 0.5}
        server.predict = lambda premise, hypothesis: Prediction("entailment", probabilities, 0.5)
        status, _, text = request(server.server_address[1], "POST", "/predict", json.dumps(PAIR),
                                  {"Content-Type": "application/json"})
    assert status == 500 and json.loads(text, parse_constant=not_json_constant) == \
        {"error": "the server failed to answer; see its log"}
