"""A real serve.py server for the tests, on a free loopback port, and the requests they send it. Every timeout a
client sets here is a guard against a hung test, far longer than any answer takes."""
import contextlib
import http.client
import json
import socket
import threading
from urllib.parse import urlencode

from agree.web.search_index import build_index
from sbert import SentenceBERT
from serve import make_server

GUARD_SECONDS = 60  # a client's timeout: only a hung server ever reaches it


def free_port():
    """A loopback port that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running(directory, client_timeout=2, index_file=None, cache_dir=None, encoder_threads=None, encoder_processes=1,
            **limits):
    """A real server on a free port, answering from a background thread; with a search index when given
    a file of sentences; encoding in `encoder_processes` processes of their own with `encoder_threads`, as
    serve.py does; `limits`: make_server's batch_deadline, request_deadline, connections."""
    model = SentenceBERT.load(directory)
    index = index_file and build_index(model, str(index_file), cache_dir=cache_dir, progress=False,
                                       log=lambda line: None)
    server = make_server(model, directory, port=0, quiet=True, client_timeout=client_timeout, index=index,
                         encoder_threads=encoder_threads, encoder_processes=encoder_processes, **limits)
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


def request(port, method, path, body=None, headers=None):
    """(status, headers, body text) of one request."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=GUARD_SECONDS)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode("utf-8")
    finally:
        connection.close()


def post_json(port, value, path="/predict"):
    body = value if isinstance(value, bytes) else json.dumps(value).encode("utf-8")
    status, headers, text = request(port, "POST", path, body, {"Content-Type": "application/json"})
    return status, headers, json.loads(text)


def post_form(port, fields, accept="text/html", path="/predict"):
    body = fields if isinstance(fields, bytes) else urlencode(fields).encode("ascii")
    return request(port, "POST", path, body,
                   {"Content-Type": "application/x-www-form-urlencoded", "Accept": accept})


def raw_request(port, data):
    """Send bytes as they are (no header added) and return the status line's code. A server that waited
    for more than was sent would hang up after its client timeout without answering: no status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD_SECONDS) as connection:
        connection.sendall(data)
        answer = connection.makefile("rb").readline()
    assert answer.startswith(b"HTTP/"), f"no answer, the server hung up: {answer!r}"
    return int(answer.split()[1])
