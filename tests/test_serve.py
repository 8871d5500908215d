"""The web server, through real HTTP on a free loopback port. No test depends on how fast anything runs:
where a test needs requests to overlap it holds the model's lock and waits on a condition, and where it
needs a client to stall it chooses the server's timeout (None: wait for ever) instead of racing it. Every
timeout a client sets here is a guard against a hung test, far longer than any answer takes."""
import contextlib
import http.client
import json
import os
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlencode

import pytest
from served import GUARD_SECONDS, copy_checkpoint, free_port, post_form, post_json, raw_request, request, running

import serve
from agree.web.occlusion import explain
from agree.web.packing import predict_ids
from agree.web.pages import EXAMPLES
from agree.web.search_index import build_index
from sbert import LABELS, SentenceBERT
from serve import main, make_server

INJECTION = "<script>alert(1)</script>"
INDEX_SENTENCES = ["a man is playing guitar on stage .", "the dog runs", "a woman is sleeping",
                   "the music is performing", "a dog is sleeping on the stage", INJECTION]


@pytest.fixture(scope="module")
def index_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "sentences.txt"
    path.write_text("".join(sentence + "\n" for sentence in INDEX_SENTENCES), encoding="utf-8")
    return path


@contextlib.contextmanager
def taken_port():
    """A loopback port that another socket listens on while inside."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.fixture(scope="module")
def port(checkpoint):
    with running(checkpoint) as server:
        yield server.server_address[1]


@pytest.fixture(scope="module")
def search_server(checkpoint, index_file, tmp_path_factory):
    with running(checkpoint, index_file=index_file, cache_dir=tmp_path_factory.mktemp("cache")) as server:
        yield server


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
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD_SECONDS) as connection:
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
    model = SentenceBERT.load(checkpoint)
    expected = predict_ids(model, [model.tokenize([pair["premise"], pair["hypothesis"]])])[0].to_dict()
    assert answer == expected  # JSON carries floats exactly
    assert_same_answer(answer, model.predict(pair["premise"], pair["hypothesis"]).to_dict())


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
    assert raw_request(port, headers) == 413
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
    assert raw_request(port, start + headers + b"\r\n") == status


def test_a_body_cut_short_of_its_content_length_is_refused(port):
    body = b'{"premise": "a dog", "hypothesis": "a man"}'
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD_SECONDS) as connection:
        connection.sendall(b"POST /predict HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % (len(body) + 10) + body)
        connection.shutdown(socket.SHUT_WR)  # the client is done: the ten missing bytes will never come
        head, text = connection.makefile("rb").read().split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.0 400") and "shorter" in json.loads(text)["error"]


def raw_answer(port, data):
    """(status, headers, body text) of the answer to bytes sent as they are."""
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD_SECONDS) as connection:
        connection.sendall(data)
        response = http.client.HTTPResponse(connection)
        response.begin()  # raises BadStatusLine if the answer has no status line
        return response.status, response.headers, response.read().decode("utf-8")


def assert_headers_of_every_answer(headers):
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_two_different_content_lengths_are_refused_and_two_equal_ones_are_one(port):
    body = json.dumps({"premise": "a dog", "hypothesis": "a man"}).encode()
    head = b"POST /predict HTTP/1.0\r\nContent-Type: application/json\r\n"
    status, _, text = raw_answer(port, head + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
                                 % (len(body), len(body) + 5) + body)
    assert status == 400 and json.loads(text) == {"error": "2 different Content-Length headers: send one"}
    status, _, text = raw_answer(port, head + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
                                 % (len(body), len(body)) + body)
    assert status == 200 and "label" in json.loads(text)


@pytest.mark.parametrize("request_line, status, message", [
    (b"BREW / HTTP/1.1", 501, "this server does not know the method BREW: it answers GET, HEAD and POST"),
    (b"GET / HTTP/2.0", 505, "HTTP/2.0 is not supported: send HTTP/1.1 or HTTP/1.0"),
    (b"GET / HTTP/x", 400, "Bad request version ('HTTP/x')"),
])
def test_what_http_server_refuses_itself_is_answered_as_every_error_with_the_same_headers(port, request_line,
                                                                                         status, message):
    got, headers, text = raw_answer(port, request_line + b"\r\nAccept: application/json\r\n\r\n")
    assert got == status and headers["Content-Type"] == "application/json" and json.loads(text) == {"error": message}
    assert_headers_of_every_answer(headers)


def test_a_browser_gets_an_unknown_method_refused_as_a_page(port):
    status, headers, page = raw_answer(port, b"BREW / HTTP/1.1\r\nAccept: text/html\r\n\r\n")
    assert status == 501 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "this server does not know the method BREW" in page and '<form id="pair"' in page
    assert_headers_of_every_answer(headers)


@pytest.mark.parametrize("text", ["\u200b", "\u200b\u200d\ufeff", "\x00\x07", " \u200e\t", "\u2060\u00ad"])
def test_text_of_only_invisible_or_control_characters_is_empty(port, search_server, text):
    status, _, answer = post_json(port, {"premise": text, "hypothesis": "a dog"})
    assert status == 400 and answer == {"error": "premise is empty (it holds only invisible or control characters)"}
    status, _, answer = post_json(search_server.server_address[1], {"q": text}, path="/search")
    assert status == 400 and answer["error"].startswith("q is empty")


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
    status, _, text = request(port, "GET", "/health")  # the model in the server's process: no encoder processes
    assert status == 200 and json.loads(text) == {"status": "ok", "model": "tiny-sbert", "encoders": []}


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


# --- why: occlusion -------------------------------------------------------------------------------------

PAIR = {"premise": "a man is playing guitar on the stage", "hypothesis": "the man is sleeping"}


def test_predict_with_explain_adds_each_word_and_is_what_explain_computes(port, checkpoint):
    expected = explain(SentenceBERT.load(checkpoint), PAIR["premise"], PAIR["hypothesis"]).to_dict()
    for path, body in (("/predict?explain=1", PAIR), ("/predict", {**PAIR, "explain": True})):
        status, _, text = request(port, "POST", path, json.dumps(body), {"Content-Type": "application/json"})
        answer = json.loads(text)
        assert status == 200 and answer == expected
        assert [effect["word"] for effect in answer["explanation"]["premise"]] == PAIR["premise"].split()
        assert set(answer["explanation"]["hypothesis"][0]) == {"word", "probability_without", "change"}
    status, _, answer = post_json(port, {**PAIR, "explain": False})
    assert status == 200 and "explanation" not in answer
    assert answer == {name: value for name, value in expected.items() if name != "explanation"}  # with or without why


@pytest.mark.parametrize("path, body", [
    ("/predict?explain=maybe", PAIR), ("/predict", {**PAIR, "explain": "yes please"}),
    ("/predict", {**PAIR, "explain": 2}), ("/predict", {**PAIR, "explain": 1.0}),
])
def test_an_explain_flag_that_is_neither_true_nor_false_is_refused(port, path, body):
    status, _, text = request(port, "POST", path, json.dumps(body), {"Content-Type": "application/json"})
    assert status == 400 and "explain must be true or false" in json.loads(text)["error"]


def test_the_page_shades_each_word_escaped_with_the_numbers_on_hover_and_says_what_that_means(port):
    status, _, page = post_form(port, {"premise": INJECTION + " a dog", "hypothesis": "the dog", "explain": "1"})
    assert status == 200 and '<section id="why" >' in page
    premise = re.search(r'<span id="why-premise">(.*?)</span></p>', page).group(1)
    words = re.findall(r'<span class="(?:(?:for|against)[1-4])?" title="without this word: P\((\w+)\) = '
                       r'(\d\.\d{3}) \([\u2212+]\d\.\d{3}\)">([^<]*)</span>', premise)
    assert [word for _, _, word in words] == ["&lt;", "script", "&gt;", "alert", "(", "1", ")", "&lt;", "/script",
                                             "&gt;", "a", "dog"]
    label = re.search(r'<span id="label">(\w+)</span>', page).group(1)
    assert {shown for shown, _, _ in words} == {label}
    assert INJECTION not in page
    assert "not a proof" in page and "left out" in page


def test_a_page_without_explanation_hides_the_why_section(port):
    _, _, page = request(port, "GET", "/", headers={"Accept": "text/html"})
    assert '<section id="why" hidden>' in page and 'name="explain" value="1"' in page


# --- search -----------------------------------------------------------------------------------------------

def search(server, method="GET", accept="application/json", **fields):
    port = server.server_address[1]
    if method == "GET":
        return request(port, "GET", "/search?" + urlencode(fields), headers={"Accept": accept})
    return request(port, "POST", "/search", json.dumps(fields), {"Content-Type": "application/json",
                                                                  "Accept": accept})


def test_search_answers_the_indexs_ranking_as_json_by_get_and_post(search_server):
    expected = [{"sentence": s, "cosine": c} for s, c in search_server.index.search(
        search_server.model.encode(["a man is playing music"])[0], 3)]
    assert len(expected) == 3
    for method in ("GET", "POST"):
        status, headers, text = search(search_server, method, q="a man is playing music", k=3)
        assert status == 200 and headers["Content-Type"] == "application/json"
        answer = json.loads(text)
        assert answer["query"] == "a man is playing music" and answer["k"] == 3
        assert answer["index"].endswith("sentences.txt")
        assert [r["sentence"] for r in answer["results"]] == [r["sentence"] for r in expected]
        assert [r["cosine"] for r in answer["results"]] == pytest.approx([r["cosine"] for r in expected], abs=1e-5)


def test_search_defaults_to_ten_results_and_k_beyond_the_index_gives_all(search_server):
    _, _, text = search(search_server, q="the dog")
    assert len(json.loads(text)["results"]) == len(INDEX_SENTENCES)  # fewer than 10 in the fixture
    _, _, text = search(search_server, q="the dog", k=100)
    assert sorted(r["sentence"] for r in json.loads(text)["results"]) == sorted(INDEX_SENTENCES)


def test_format_json_in_the_url_beats_a_browsers_accept_header(search_server):
    status, headers, text = search(search_server, accept="text/html", q="the dog", k=2, format="json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert len(json.loads(text)["results"]) == 2


def test_the_search_page_lists_results_escaped_best_first(search_server):
    status, headers, page = search(search_server, accept="text/html", q=INJECTION, k=100)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    cosines = [float(c) for c in re.findall(r'<li><span class="cosine">(-?\d\.\d{3})</span>', page)]
    assert len(cosines) == len(INDEX_SENTENCES) and cosines == sorted(cosines, reverse=True)
    assert INJECTION not in page and f'</span>{INJECTION.replace("<", "&lt;").replace(">", "&gt;")}</li>' in page
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in page  # the query, refilled and escaped
    assert "6 sentences of <strong>" in page


def test_the_search_page_without_a_query_is_the_empty_form(search_server):
    status, _, page = search(search_server, accept="text/html")
    assert status == 200 and '<form method="get" action="/search">' in page and "<ol" not in page


def test_a_search_form_post_gets_the_page(search_server):
    status, headers, page = post_form(search_server.server_address[1], {"q": "a dog", "k": "2"}, path="/search")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and page.count("<li><span") == 2


@pytest.mark.parametrize("fields, status, named", [
    ({}, 400, "missing field: q"),
    ({"q": ""}, 400, "q is empty"),
    ({"q": " \t\n"}, 400, "q is empty"),
    ({"q": "x" * 2001}, 413, "q is longer than 2,000 characters"),
    ({"q": "a dog", "k": "0"}, 400, "k must be a whole number from 1 to 100"),
    ({"q": "a dog", "k": "101"}, 400, "k must be a whole number from 1 to 100"),
    ({"q": "a dog", "k": "ten"}, 400, 'not "ten"'),
    ({"q": "a dog", "k": "2.5"}, 400, "k must be"),
    ({"q": "a dog", "k": "-3"}, 400, "k must be"),
    ({"q": "a dog", "k": ""}, 400, "k must be"),
    ({"q": "a dog", "k": "9" * 5000}, 400, "k must be"),
])
def test_bad_search_requests_by_get_say_what_is_wrong(search_server, fields, status, named):
    answer_status, headers, text = search(search_server, **fields)
    assert answer_status == status and named in json.loads(text)["error"]


@pytest.mark.parametrize("body, named", [
    ({"q": "a dog", "k": 2.0}, "not 2.0"), ({"q": "a dog", "k": True}, "not true"),
    ({"q": "a dog", "k": None}, "not null"), ({"q": 7}, "q must be a string"), (["a dog"], "JSON object"),
    ({"q": "a dog", "k": 10 ** 100}, "k must be"),
])
def test_bad_search_requests_by_json_say_what_is_wrong(search_server, body, named):
    status, _, answer = post_json(search_server.server_address[1], body, path="/search")
    assert status == 400 and named in answer["error"]


def test_a_json_number_too_long_to_read_is_a_clear_error(search_server):
    status, _, answer = post_json(search_server.server_address[1], b'{"q": "a", "k": ' + b"9" * 5000 + b"}",
                                  path="/search")
    assert status == 400 and "not valid JSON" in answer["error"]


def test_search_errors_in_a_browser_come_back_on_the_search_page_escaped(search_server):
    status, _, page = search(search_server, accept="text/html", q=INJECTION, k="many")
    assert status == 400 and '<form method="get" action="/search">' in page
    assert 'role="alert" >k must be a whole number from 1 to 100, not &quot;many&quot;</p>' in page
    assert INJECTION not in page and 'value="many"' in page


def test_without_an_index_the_search_page_says_how_to_add_one(port):
    status, _, page = request(port, "GET", "/search", headers={"Accept": "text/html"})
    assert status == 200 and "no sentences to search" in page and "--index FILE" in page
    status, _, text = request(port, "GET", "/search?q=a+dog", headers={"Accept": "application/json"})
    assert status == 404 and "start serve.py with --index" in json.loads(text)["error"]


def test_every_page_links_to_search(port):
    for path in ("/", "/about", "/search"):
        assert '<a href="/search">Search</a>' in request(port, "GET", path, headers={"Accept": "text/html"})[2]


# --- robustness -----------------------------------------------------------------------------------------

def stalled_clients(port):
    """Two connections that stop half-way: one inside the request line, one inside the body."""
    half_line = socket.create_connection(("127.0.0.1", port), timeout=GUARD_SECONDS)
    half_line.sendall(b"GET /hea")
    half_body = socket.create_connection(("127.0.0.1", port), timeout=GUARD_SECONDS)
    half_body.sendall(b'POST /predict HTTP/1.1\r\nContent-Length: 99\r\n\r\n{"pr')
    return half_line, half_body


def test_stalled_clients_do_not_block_others(checkpoint):
    with running(checkpoint, client_timeout=None) as server:  # the server waits for them for ever
        port = server.server_address[1]
        stalled = stalled_clients(port)
        try:
            for _ in range(5):
                assert request(port, "GET", "/health")[0] == 200
                assert post_json(port, {"premise": "a dog", "hypothesis": "a man"})[0] == 200
            for connection in stalled:
                connection.setblocking(False)
                with pytest.raises(BlockingIOError):  # still connected and waited for: the others went first
                    connection.recv(1024)
        finally:
            for connection in stalled:
                connection.close()


def test_stalled_clients_lose_their_connection_after_the_client_timeout(checkpoint):
    with running(checkpoint, client_timeout=0.1) as server:
        for connection in stalled_clients(server.server_address[1]):
            with connection:
                assert connection.recv(1024) == b""  # the server hung up without an answer


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
        assert_same_answer(answer, wanted)


def assert_same_answer(answer, wanted):
    """The same prediction up to float rounding: sentences packed into one row or padded in a bigger batch are
    the same arithmetic, in another order of summation."""
    assert answer["label"] == wanted["label"]
    assert answer["probabilities"] == pytest.approx(wanted["probabilities"], abs=1e-6)
    assert answer["cosine_similarity"] == pytest.approx(wanted["cosine_similarity"], abs=1e-6)


def test_requests_that_arrive_together_are_encoded_as_one_batch_with_the_answers_of_one_at_a_time(checkpoint):
    model = SentenceBERT.load(checkpoint)
    pairs = [(f"a {'man ' * (i + 1)}is playing", f"the dog {'runs ' * (3 * i % 5)}") for i in range(8)]
    with running(checkpoint) as server:
        batches, encode = [], server.predictor.encode_batch
        server.predictor.encode_batch = lambda encoder, pairs: batches.append(len(pairs)) or encode(encoder, pairs)
        with ThreadPoolExecutor(max_workers=8) as pool:
            with server.encoders.borrowed():  # the model is busy, so every request has to wait for it
                answers = [pool.submit(post_json, server.server_address[1], {"premise": p, "hypothesis": h})
                           for p, h in pairs]
                with server.predictor.arrived:
                    assert server.predictor.arrived.wait_for(lambda: len(server.predictor.waiting) == 8,
                                                           timeout=GUARD_SECONDS)
            answers = [answer.result() for answer in answers]
    assert batches == [8]  # eight pairs, sixteen sentences, in one forward pass
    for (status, _, answer), (premise, hypothesis) in zip(answers, pairs):
        assert status == 200
        assert_same_answer(answer, model.predict(premise, hypothesis).to_dict())


def test_in_the_servers_process_every_forward_pass_runs_on_its_one_encoder_lent_to_one_batch(checkpoint, index_file,
                                                                                          tmp_path):
    with running(checkpoint, index_file=index_file, cache_dir=tmp_path) as server:
        assert server.encoders.count == 1
        held, run_layers = [], server.model.bert.run_layers  # every forward pass, padded or packed
        server.model.bert.run_layers = lambda *args, **kwargs: held.append(not server.encoders.free) or \
            run_layers(*args, **kwargs)
        port = server.server_address[1]
        for path in ("/predict", "/predict?explain=1"):
            status, _, _ = request(port, "POST", path, json.dumps(PAIR), {"Content-Type": "application/json"})
            assert status == 200
        assert search(server, q="a dog")[0] == 200
    assert len(held) == 1 + 3 + 1 and all(held)  # predict; explain: pair, premise, hypothesis; search


def test_an_encoder_process_gives_the_answers_of_the_model_here_and_ends_with_the_server(checkpoint, index_file,
                                                                                      tmp_path):
    model = SentenceBERT.load(checkpoint)
    with running(checkpoint, index_file=index_file, cache_dir=tmp_path, encoder_threads=1) as server:
        port, child = server.server_address[1], server.encoder_processes[0].process
        status, _, answer = post_json(port, PAIR)
        assert status == 200
        assert_same_answer(answer, model.predict(PAIR["premise"], PAIR["hypothesis"]).to_dict())
        status, _, text = search(server, q="a dog", k=3)
        wanted = build_index(model, str(index_file), cache_dir=tmp_path, progress=False,
                             log=lambda line: None).search(model.encode(["a dog"])[0], 3)
        assert status == 200 and [r["sentence"] for r in json.loads(text)["results"]] == [s for s, _ in wanted]
        assert [r["cosine"] for r in json.loads(text)["results"]] == pytest.approx([c for _, c in wanted], abs=1e-6)
        status, _, answer = post_json(port, PAIR, path="/predict?explain=1")
        wanted = explain(model, PAIR["premise"], PAIR["hypothesis"]).to_dict()
        assert status == 200
        assert_same_answer(answer, wanted)
        for side in ("premise", "hypothesis"):
            assert [w["word"] for w in answer["explanation"][side]] == [w["word"] for w in wanted["explanation"][side]]
            assert [w["change"] for w in answer["explanation"][side]] == \
                pytest.approx([w["change"] for w in wanted["explanation"][side]], abs=1e-6)
    assert child.exitcode == 0


def test_with_an_encoder_process_no_forward_pass_runs_in_the_server(checkpoint, index_file, tmp_path):
    with running(checkpoint, index_file=index_file, cache_dir=tmp_path, encoder_threads=1) as server:
        server.model.bert.run_layers = lambda *args, **kwargs: pytest.fail("a forward pass in the server's process")
        assert server.index.embeddings is None  # the encoder process holds them; one copy is enough
        port = server.server_address[1]
        for path in ("/predict", "/predict?explain=1"):
            status, _, _ = request(port, "POST", path, json.dumps(PAIR), {"Content-Type": "application/json"})
            assert status == 200
        assert search(server, q="a dog")[0] == 200


def test_each_of_two_encoder_processes_gives_the_answers_of_the_model_and_both_end_with_the_server(
        checkpoint, index_file, tmp_path):
    model = SentenceBERT.load(checkpoint)
    wanted_answer = model.predict(PAIR["premise"], PAIR["hypothesis"]).to_dict()
    wanted_found = build_index(model, str(index_file), cache_dir=tmp_path, progress=False,
                               log=lambda line: None).search(model.encode(["a dog"])[0], 3)
    with running(checkpoint, index_file=index_file, cache_dir=tmp_path, encoder_threads=1,
                 encoder_processes=2) as server:
        children = [process.process for process in server.encoder_processes]
        assert len(set(child.pid for child in children)) == 2 and server.encoders.count == 2
        used = []
        for _ in children:
            with server.encoders.borrowed() as held:  # so the request goes to the other one
                used.append(next(encoder for encoder in server.supervisors if encoder is not held))
                status, _, answer = post_json(server.server_address[1], PAIR)
                assert status == 200
                assert_same_answer(answer, wanted_answer)
                status, _, text = search(server, q="a dog", k=3)
                assert status == 200
                results = json.loads(text)["results"]
                assert [r["sentence"] for r in results] == [s for s, _ in wanted_found]
                assert [r["cosine"] for r in results] == pytest.approx([c for _, c in wanted_found], abs=1e-6)
        assert set(used) == set(server.supervisors)
    assert [child.exitcode for child in children] == [0, 0]


def test_when_a_second_encoder_process_fails_to_start_the_first_is_closed_and_the_port_freed(checkpoint,
                                                                                         monkeypatch):
    started = []

    class FirstStartsSecondFails:
        exitcode = None

        def __init__(self, work, threads, spawned):
            if started:
                raise RuntimeError("the encoder process failed: MemoryError")
            self.closed = False
            self.sentinel, self.running = os.pipe()  # readable once `running` is closed, as a process's at its end
            started.append(self)

        def stop(self, grace=None):
            pass

        def close(self):
            self.closed = True
            os.close(self.running)

    monkeypatch.setattr(serve, "EncoderProcess", FirstStartsSecondFails)
    port = free_port()
    with pytest.raises(RuntimeError, match="MemoryError"):
        make_server(SentenceBERT.load(checkpoint), checkpoint, port=port, encoder_threads=1, encoder_processes=2)
    assert len(started) == 1 and started[0].closed
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))
    os.close(started[0].sentinel)


def test_main_encodes_in_a_process_of_its_own_unless_told_otherwise(checkpoint, monkeypatch):
    asked = []

    def refuse(*args, **kwargs):
        asked.append((kwargs["encoder_threads"], kwargs["encoder_processes"]))
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(serve, "make_server", refuse)
    for options in ([], ["--in-process"], ["--threads", "3"], ["--encoders", "2"]):
        with pytest.raises(SystemExit, match="cannot listen"):
            main(["--model", str(checkpoint), "--port", "0", *options])
    default_threads, default_processes = serve.serving_threads(), serve.ENCODER_PROCESSES
    assert asked == [(default_threads, default_processes), (None, default_processes), (3, default_processes),
                     (default_threads, 2)]


def test_main_explains_a_port_that_is_already_in_use_before_building_the_index(checkpoint, index_file,
                                                                                 monkeypatch):
    monkeypatch.setattr(serve, "build_index", lambda *args, **kwargs: pytest.fail("the index was built first"))
    with taken_port() as port:
        for options in ([], ["--index", str(index_file)]):
            with pytest.raises(SystemExit, match=f"cannot listen on 127.0.0.1:{port}: Address already in use"):
                main(["--model", str(checkpoint), "--port", str(port), *options])


def test_a_port_taken_after_the_probe_is_still_explained(checkpoint, monkeypatch):
    monkeypatch.setattr(serve, "probe_address", lambda host, port: None)  # as if taken between probe and bind
    with taken_port() as port:
        with pytest.raises(SystemExit, match=f"cannot listen on 127.0.0.1:{port}: Address already in use"):
            main(["--model", str(checkpoint), "--port", str(port)])


def test_main_explains_an_encoder_process_that_does_not_start_and_frees_the_port(checkpoint, monkeypatch):
    def fail_to_start(work, threads, spawned):
        raise RuntimeError("the encoder process failed: ImportError: no torch here")

    monkeypatch.setattr(serve, "EncoderProcess", fail_to_start)
    port = free_port()
    with pytest.raises(SystemExit, match="cannot start the server: the encoder process failed: ImportError"):
        main(["--model", str(checkpoint), "--port", str(port)])
    with pytest.raises(RuntimeError) as failed:  # the half-built server lives on in the traceback's frames
        make_server(SentenceBERT.load(checkpoint), checkpoint, port=port, encoder_threads=1)
    with socket.socket() as again:  # yet its socket was closed, so the port can be bound at once
        again.bind(("127.0.0.1", port))
    assert failed.traceback  # the frames, and the server in them, were alive while the port was bound


def test_a_failure_inside_the_server_is_answered_and_the_server_goes_on(checkpoint, capsys):
    with running(checkpoint) as server:
        port = server.server_address[1]
        working, server.predict = server.predict, lambda premise, hypothesis: 1 / 0
        status, _, answer = post_json(port, {"premise": "a", "hypothesis": "b"})
        assert status == 500 and "failed" in answer["error"]
        server.predict = working
        assert post_json(port, {"premise": "a", "hypothesis": "b"})[0] == 200
    assert "ZeroDivisionError" in capsys.readouterr().err  # the traceback goes to the log, not to the client


def test_a_failing_batch_fails_its_requests_and_the_encoder_goes_on(checkpoint, capsys):
    with running(checkpoint) as server:
        port = server.server_address[1]
        working = server.predictor.encode_batch
        server.predictor.encode_batch = lambda encoder, pairs: 1 / 0
        assert post_json(port, {"premise": "a", "hypothesis": "b"})[0] == 500
        server.predictor.encode_batch = working
        assert post_json(port, {"premise": "a", "hypothesis": "b"})[0] == 200
    assert "ZeroDivisionError" in capsys.readouterr().err


# --- command line ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("cores, threads", [({0}, 1), ({0, 1}, 1), (set(range(8)), 7)])
def test_the_server_leaves_one_core_to_the_request_threads(monkeypatch, cores, threads):
    monkeypatch.setattr(serve.os, "sched_getaffinity", lambda pid: cores, raising=False)
    assert serve.serving_threads() == threads
    assert serve.parse_args(["--model", "m"]).threads == threads


@pytest.mark.parametrize("option", ["--threads", "--encoders"])
def test_main_refuses_fewer_than_one_thread_or_encoder(capsys, option):
    with pytest.raises(SystemExit):
        serve.parse_args(["--model", "m", option, "0"])
    assert f"{option} must be at least 1, not 0" in capsys.readouterr().err


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


@pytest.mark.parametrize("content, problem", [
    (b"", "is empty"),
    (b"a dog\n\nthe man\n", "line 2: blank"),
    (b"a dog\ncaf\xe9\n", "line 2: not UTF-8"),
    (b"a dog\nthe man\n" + b"x" * 9000 + b"\n", "line 3: longer than 2,000 characters"),
])
def test_main_refuses_an_index_file_naming_the_file_and_line_and_starts_no_server(checkpoint, tmp_path,
                                                                                monkeypatch, content, problem):
    (tmp_path / "index.txt").write_bytes(content)
    monkeypatch.setattr(serve, "make_server", lambda *args, **kwargs: pytest.fail("a server was started"))
    with pytest.raises(SystemExit, match=f"index.txt.*{problem}"):
        main(["--model", str(checkpoint), "--index", str(tmp_path / "index.txt"), "--port", "0",
              "--cache-dir", str(tmp_path / "cache")])
    assert not (tmp_path / "cache").exists()  # nothing half-built left behind


def test_main_explains_a_missing_index_file(checkpoint, tmp_path):
    with pytest.raises(SystemExit, match="index file .*missing.txt not found"):
        main(["--model", str(checkpoint), "--index", str(tmp_path / "missing.txt"), "--port", "0"])


def test_main_prints_the_url_and_serves_the_index_until_stopped(checkpoint, index_file, tmp_path, monkeypatch,
                                                                 capsys):
    created, servers = threading.Event(), []

    def make_and_announce(*args, **kwargs):
        servers.append(make_server(*args, **kwargs))
        created.set()
        return servers[-1]

    monkeypatch.setattr(serve, "make_server", make_and_announce)
    arguments = ["--model", str(checkpoint), "--index", str(index_file), "--cache-dir", str(tmp_path), "--port",
                 "0", "--quiet"]
    thread = threading.Thread(target=main, args=(arguments,))
    thread.start()
    try:
        assert created.wait(timeout=GUARD_SECONDS)
        port = servers[0].server_address[1]
        status, _, text = request(port, "GET", f"/search?q={quote('a dog')}&k=2")  # answered once serving
        assert status == 200 and len(json.loads(text)["results"]) == 2
        assert f"http://127.0.0.1:{port}/" in capsys.readouterr().out  # printed before serving began
    finally:
        created.wait(timeout=GUARD_SECONDS)
        servers[0].shutdown()
        thread.join(timeout=GUARD_SECONDS)
    assert not thread.is_alive()
