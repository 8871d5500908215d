import contextlib
import http.client
import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
import torch

from bert import BertConfig
from data import SPECIAL_TOKENS, Vocab
from pages import EXAMPLES
from sbert import LABELS, Prediction, SentenceBERT, SentenceBertConfig
import serve
from serve import main, make_server

WORDS = "a man woman dog is playing guitar sleeping on stage the music performing runs .".split()
INJECTION = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny untrained Sentence-BERT saved the way finetune.py saves one."""
    vocab = Vocab(SPECIAL_TOKENS + tuple(WORDS))
    torch.manual_seed(0)
    model = SentenceBERT(SentenceBertConfig(BertConfig.preset("tiny", vocab_size=len(vocab))), vocab)
    directory = tmp_path_factory.mktemp("models") / "tiny-sbert"
    model.save(directory)
    return directory


@contextlib.contextmanager
def running(directory, client_timeout=2):
    """A real server on a free port, answering from a background thread."""
    server = make_server(SentenceBERT.load(directory), directory, port=0, quiet=True,
                         client_timeout=client_timeout)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def copy_checkpoint(checkpoint, directory):
    directory.mkdir()
    for name in ("config.json", "vocab.txt", "model.pt"):
        (directory / name).write_bytes((checkpoint / name).read_bytes())
    return directory


@pytest.fixture(scope="module")
def port(checkpoint):
    with running(checkpoint) as server:
        yield server.server_address[1]


@pytest.fixture(scope="module")
def evaluated_port(checkpoint, tmp_path_factory):
    """A server for a checkpoint that finetune.py and evaluate.py have both written into; beside it, and
    below it, charts that must stay out of reach."""
    around = tmp_path_factory.mktemp("around")
    directory = copy_checkpoint(checkpoint, around / "evaluated")
    (directory / "args.json").write_text(json.dumps({"train": "snli:train", "lr": 2e-05, "epochs": 1}))
    (directory / "report.md").write_text("# Report\n\naccuracy <b>0.61</b>\n")
    (directory / "loss.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><title>loss</title></svg>')
    (around / "secret.svg").write_text("<svg>secret</svg>")
    (directory / "sub").mkdir()
    (directory / "sub" / "inner.svg").write_text("<svg>inner</svg>")
    with running(directory) as server:
        yield server.server_address[1]


def request(port, method, path, body=None, headers=None):
    """(status, headers, body text) of one request."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode("utf-8")
    finally:
        connection.close()


def post_json(port, value):
    body = value if isinstance(value, bytes) else json.dumps(value).encode("utf-8")
    status, headers, text = request(port, "POST", "/predict", body, {"Content-Type": "application/json"})
    return status, headers, json.loads(text)


def post_form(port, fields, accept="text/html"):
    body = fields if isinstance(fields, bytes) else urlencode(fields).encode("ascii")
    return request(port, "POST", "/predict", body,
                   {"Content-Type": "application/x-www-form-urlencoded", "Accept": accept})


def raw_request(port, data, timeout=5):
    """Send bytes as they are (no header added) and return the status line's code."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(data)
        answer = connection.makefile("rb").readline()
    return int(answer.split()[1])


# --- the page ---------------------------------------------------------------------------------------------

def test_page_has_both_labelled_boxes_a_button_and_the_examples(port):
    status, headers, page = request(port, "GET", "/", headers={"Accept": "text/html"})
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    for field in ("premise", "hypothesis"):
        assert f'<label for="{field}">' in page
        assert re.search(f'<textarea id="{field}" name="{field}"[^>]*>', page)
    assert '<form id="pair" method="post" action="/predict">' in page and '<button type="submit">' in page
    for premise, hypothesis, _ in EXAMPLES:
        assert f'name="premise" value="{premise}"' in page and f'name="hypothesis" value="{hypothesis}"' in page
    assert {expected for _, _, expected in EXAMPLES} == set(LABELS)
    assert "http://" not in page and "https://" not in page  # no external assets
    assert 'fetch("/predict"' in page


def test_page_script_and_style_run_only_with_the_nonce_of_the_response(port):
    _, headers, page = request(port, "GET", "/")
    policy = headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([\w-]+)'", policy).group(1)
    assert "unsafe-inline" not in policy and "default-src 'none'" in policy
    assert page.count("<script") == 1 and f'<script nonce="{nonce}">' in page
    assert page.count("<style") == 1 and f'<style nonce="{nonce}">' in page
    assert headers["X-Content-Type-Options"] == "nosniff"
    _, again, _ = request(port, "GET", "/")
    assert again["Content-Security-Policy"] != policy  # a fresh nonce every time


def test_head_answers_the_headers_of_get_without_a_body(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
        answer = connection.makefile("rb").read()  # the server closes the connection after one answer
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.0 200") and b"Content-Length: " in head and body == b""


# --- predictions ------------------------------------------------------------------------------------------

def test_json_prediction_has_the_documented_shape(port, checkpoint):
    pair = {"premise": "A man is playing a guitar on stage.", "hypothesis": "The man is performing music."}
    status, headers, answer = post_json(port, pair)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert set(answer) == {"label", "probabilities", "cosine_similarity"}
    assert set(answer["probabilities"]) == set(LABELS)
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert answer["label"] == max(answer["probabilities"], key=answer["probabilities"].get)
    assert -1.0 <= answer["cosine_similarity"] <= 1.0
    expected = SentenceBERT.load(checkpoint).predict(pair["premise"], pair["hypothesis"]).to_dict()
    assert answer == expected  # JSON carries floats exactly


def test_form_post_renders_the_answer_with_the_boxes_refilled_and_escaped(port):
    status, headers, page = post_form(port, {"premise": INJECTION, "hypothesis": "a man & a dog"})
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    label = re.search(r'<span id="label">(\w+)</span>', page).group(1)
    assert label in LABELS
    assert '<section id="result" aria-live="polite" >' in page  # shown, not hidden
    assert len(re.findall(r'<meter id="meter-\w+" min="0" max="1" value="[\d.]+">', page)) == 3
    assert re.search(r'<strong id="cosine">-?\d\.\d{3}</strong>', page)
    assert INJECTION not in page and "&lt;script&gt;alert(1)&lt;/script&gt;</textarea>" in page
    assert ">a man &amp; a dog</textarea>" in page


def test_form_post_asking_for_json_gets_json(port):
    status, headers, text = post_form(port, {"premise": "a dog", "hypothesis": "a man"},
                                      accept="application/json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(text)["label"] in LABELS


# --- bad input --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, status, named", [
    ({"premise": "", "hypothesis": "a dog"}, 400, "premise"),
    ({"premise": "a dog", "hypothesis": " \n\t "}, 400, "hypothesis"),
    ({"premise": "a dog"}, 400, "hypothesis"),
    ({"premise": 3, "hypothesis": "a dog"}, 400, "premise"),
    ({"premise": "a dog", "hypothesis": None}, 400, "hypothesis"),
    ({"premise": ["a dog"], "hypothesis": "a man"}, 400, "premise"),
    ({"premise": "x" * 2001, "hypothesis": "a dog"}, 413, "premise"),
    ({"premise": "a dog", "hypothesis": "\ud800"}, 400, "hypothesis"),
    (["a dog", "a man"], 400, "JSON object"),
    (b'{"premise": "a dog", ', 400, "not valid JSON"),
    (b"[" * 5000, 400, "not valid JSON"),
    ('{"premise": "caf\xe9", "hypothesis": "a"}'.encode("latin-1"), 400, "UTF-8"),
])
def test_bad_json_gets_a_json_error_that_says_what_is_wrong(port, body, status, named):
    answer_status, headers, answer = post_json(port, body)
    assert answer_status == status and headers["Content-Type"] == "application/json"
    assert set(answer) == {"error"} and named in answer["error"]


def test_a_field_of_exactly_the_limit_is_accepted(port):
    status, _, answer = post_json(port, {"premise": "a " * 1000, "hypothesis": "a dog"})
    assert status == 200 and answer["label"] in LABELS


def test_form_errors_come_back_as_the_page_with_the_message_and_escaped_boxes(port):
    status, headers, page = post_form(port, {"premise": INJECTION, "hypothesis": "   "})
    assert status == 400 and headers["Content-Type"].startswith("text/html")
    assert '<p id="error" class="error" role="alert" >hypothesis is empty</p>' in page
    assert INJECTION not in page and "&lt;script&gt;alert(1)&lt;/script&gt;</textarea>" in page
    assert re.search(r'<textarea id="hypothesis" [^>]*>   </textarea>', page)
    assert '<section id="result" aria-live="polite" hidden>' in page


def test_form_that_is_not_utf8_is_refused(port):
    status, _, text = post_form(port, b"premise=caf%E9&hypothesis=a", accept="application/json")
    assert status == 400 and "UTF-8" in json.loads(text)["error"]


def test_json_sent_as_a_form_gets_a_hint(port):
    status, _, page = post_form(port, b'{"premise": "a", "hypothesis": "b"}')
    assert status == 400 and "send it with Content-Type: application/json" in page


def test_other_body_types_are_refused(port):
    status, _, text = request(port, "POST", "/predict", b"premise", {"Content-Type": "text/plain"})
    assert status == 415 and "application/json" in json.loads(text)["error"]


def test_a_body_over_64_kib_is_refused_from_its_content_length_before_it_is_read(port):
    # Only the headers are sent: a server that waited for the body would time out instead of answering.
    headers = b"POST /predict HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 65537\r\n\r\n"
    assert raw_request(port, headers, timeout=1.5) == 413  # the server waits 2 s for a stalled client
    status, _, answer = post_json(port, b" " * (64 * 1024 - 2) + b"{}")  # exactly 64 KiB is read
    assert status == 400 and "premise" in answer["error"]


@pytest.mark.parametrize("headers, status", [
    (b"", 411),
    (b"Content-Length: many\r\n", 400),
    (b"Content-Length: -5\r\n", 400),
    (b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n", 411),  # which one to believe? neither
])
def test_a_post_without_a_usable_content_length_is_refused(port, headers, status):
    start = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    assert raw_request(port, start + headers + b"\r\n", timeout=1.5) == status


def test_a_body_cut_short_of_its_content_length_is_refused(port):
    body = b'{"premise": "a dog", "hypothesis": "a man"}'
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(b"POST /predict HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % (len(body) + 10) + body)
        connection.shutdown(socket.SHUT_WR)  # the client is done: the ten missing bytes will never come
        head, text = connection.makefile("rb").read().split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.0 400") and "shorter" in json.loads(text)["error"]


@pytest.mark.parametrize("method, path, status, allow", [
    ("GET", "/nothing", 404, None),
    ("POST", "/health", 405, "GET, HEAD"),
    ("GET", "/predict", 405, "POST"),
    ("PUT", "/", 405, "GET, HEAD"),
    ("DELETE", "/about", 405, "GET, HEAD"),
])
def test_unknown_paths_and_wrong_methods(port, method, path, status, allow):
    answer_status, headers, text = request(port, method, path, headers={"Accept": "application/json"})
    assert answer_status == status and headers.get("Allow") == allow
    assert path in json.loads(text)["error"]


def test_a_browser_gets_errors_as_a_page(port):
    status, headers, page = request(port, "GET", f"/{INJECTION}", headers={"Accept": "text/html"})
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert INJECTION not in page and "nothing at /&lt;script&gt;" in page


# --- health, model card, charts -------------------------------------------------------------------------

def test_health_names_the_model_directory(port):
    status, _, text = request(port, "GET", "/health")
    assert status == 200 and json.loads(text) == {"status": "ok", "model": "tiny-sbert"}


def test_about_shows_the_configuration_even_without_reports(port):
    status, _, page = request(port, "GET", "/about")
    assert status == 200
    assert "<tr><th>bert.d_model</th><td>32</td></tr>" in page
    assert "<tr><th>pooling</th><td>mean</td></tr>" in page
    assert "evaluate.py writes report.md" in page and "<img" not in page


def test_about_shows_training_arguments_report_and_charts_when_the_checkpoint_has_them(evaluated_port):
    status, _, page = request(evaluated_port, "GET", "/about")
    assert status == 200
    assert "<tr><th>train</th><td>snli:train</td></tr>" in page and "<tr><th>lr</th><td>2e-05</td></tr>" in page
    assert "<pre># Report\n\naccuracy &lt;b&gt;0.61&lt;/b&gt;\n</pre>" in page
    assert '<img src="/charts/loss.svg" alt="chart loss.svg">' in page
    assert page.count("<img") == 1  # the charts beside and below the checkpoint are not listed
    status, headers, svg = request(evaluated_port, "GET", "/charts/loss.svg")
    assert status == 200 and headers["Content-Type"] == "image/svg+xml" and "<title>loss</title>" in svg
    assert "script-src" not in headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", [
    "/charts/../config.json", "/charts/..%2Fsecret.svg", "/charts/%2e%2e/secret.svg", "/charts/../secret.svg",
    "/charts/sub/inner.svg", "/charts/config.json", "/charts/missing.svg", "/charts/", "/charts/..",
])
def test_charts_serve_only_svg_files_named_plainly_in_the_model_directory(evaluated_port, path):
    status, _, text = request(evaluated_port, "GET", path, headers={"Accept": "application/json"})
    assert status == 404 and "<svg>" not in text and "kind" not in text


# --- robustness -----------------------------------------------------------------------------------------

def test_stalled_clients_neither_block_others_nor_keep_their_connection(checkpoint):
    with running(checkpoint, client_timeout=2) as server:
        port = server.server_address[1]
        half_line = socket.create_connection(("127.0.0.1", port))
        half_line.sendall(b"GET /hea")
        half_body = socket.create_connection(("127.0.0.1", port))
        half_body.sendall(b'POST /predict HTTP/1.1\r\nContent-Length: 99\r\n\r\n{"pr')
        started = time.monotonic()
        for _ in range(5):
            assert request(port, "GET", "/health")[0] == 200
            assert post_json(port, {"premise": "a dog", "hypothesis": "a man"})[0] == 200
        for stalled in (half_line, half_body):
            stalled.setblocking(False)
            with pytest.raises(BlockingIOError):  # still connected, still waited for: the others went first
                stalled.recv(1024)
        for stalled in (half_line, half_body):
            stalled.settimeout(5)
            assert stalled.recv(1024) == b""  # then the server hung up on it
            stalled.close()
        assert time.monotonic() - started < 4


def test_200_requests_from_8_threads_all_get_their_own_answer(port, checkpoint):
    model = SentenceBERT.load(checkpoint)
    pairs = [(f"a man is playing {'guitar ' * (i % 7)}", f"the dog {'runs ' * (i % 5)}") for i in range(200)]
    expected = [model.predict(premise, hypothesis).to_dict() for premise, hypothesis in pairs]

    def ask(pair):
        status, _, answer = post_json(port, {"premise": pair[0], "hypothesis": pair[1]})
        return status, answer

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, pairs))
    assert [status for status, _ in answers] == [200] * 200
    for (_, answer), wanted in zip(answers, expected):
        assert answer == wanted


def test_the_model_answers_one_request_at_a_time(checkpoint):
    class SlowModel:
        inside = most_inside = 0

        def predict(self, premise, hypothesis):
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            time.sleep(0.05)
            self.inside -= 1
            return Prediction("neutral", dict.fromkeys(LABELS, 1 / 3), 0.5)

    with running(checkpoint) as server:
        server.model = model = SlowModel()
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda _: post_json(server.server_address[1], {"premise": "a",
                                                                                 "hypothesis": "b"}), range(4)))
    assert [status for status, _, _ in answers] == [200] * 4 and model.most_inside == 1


def test_a_failure_inside_the_server_is_answered_and_the_server_goes_on(checkpoint, capsys):
    with running(checkpoint) as server:
        port = server.server_address[1]
        working, server.predict = server.predict, lambda premise, hypothesis: 1 / 0
        status, _, answer = post_json(port, {"premise": "a", "hypothesis": "b"})
        assert status == 500 and "failed" in answer["error"]
        server.predict = working
        assert post_json(port, {"premise": "a", "hypothesis": "b"})[0] == 200
    assert "ZeroDivisionError" in capsys.readouterr().err  # the traceback goes to the log, not to the client


# --- command line ---------------------------------------------------------------------------------------

def test_main_explains_a_missing_model_directory(tmp_path):
    with pytest.raises(SystemExit, match="model directory .*nowhere not found"):
        main(["--model", str(tmp_path / "nowhere"), "--port", "0"])


def test_main_explains_a_directory_that_is_not_a_checkpoint(tmp_path):
    with pytest.raises(SystemExit, match="config.json not found"):
        main(["--model", str(tmp_path), "--port", "0"])


def test_main_refuses_a_pretrained_bert_that_was_not_fine_tuned(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"kind": "bert", "model": {}}))
    with pytest.raises(SystemExit, match="not a fine-tuned Sentence-BERT"):
        main(["--model", str(tmp_path), "--port", "0"])


def test_main_explains_a_checkpoint_without_weights(checkpoint, tmp_path):
    (copy_checkpoint(checkpoint, tmp_path / "model") / "model.pt").unlink()
    with pytest.raises(SystemExit, match="not a complete Sentence-BERT checkpoint.*model.pt"):
        main(["--model", str(tmp_path / "model"), "--port", "0"])


def test_main_prints_the_url_and_serves_until_stopped(checkpoint, monkeypatch, capsys):
    servers = []
    monkeypatch.setattr(serve, "make_server", lambda *args: servers.append(make_server(*args)) or servers[-1])
    thread = threading.Thread(target=main, args=(["--model", str(checkpoint), "--port", "0", "--quiet"],))
    thread.start()
    try:
        for _ in range(100):
            url = re.search(r"http://127\.0\.0\.1:(\d+)/", capsys.readouterr().out)
            if url:
                break
            time.sleep(0.05)
        assert url and request(int(url.group(1)), "GET", "/health")[0] == 200
    finally:
        while not servers:
            time.sleep(0.05)
        servers[0].shutdown()
        thread.join(timeout=5)
    assert not thread.is_alive()
