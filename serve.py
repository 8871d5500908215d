"""Serve a fine-tuned Sentence-BERT as a two-box web page and a small JSON API, with the standard library.

    python serve.py --model runs/sbert [--host 127.0.0.1] [--port 8000] [--quiet]

Endpoints:
    GET  /                  the page: premise and hypothesis boxes, example pairs, the answer
    POST /predict           {"premise", "hypothesis"} -> {"label", "probabilities", "cosine_similarity"};
                            a form post (application/x-www-form-urlencoded) gets the page back instead,
                            unless its Accept header asks for JSON
    GET  /health            {"status": "ok", "model": <name of the model directory>}
    GET  /about             the model card: configuration, training arguments, evaluation report, charts
    GET  /charts/<name>.svg a chart from the model directory

The page works without JavaScript (the form posts to /predict and the answer comes back as a new page) and
with it (a small script asks the JSON API and fills in the answer without reloading).
"""
import argparse
import json
import pickle
import secrets
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pages import CHART_NAME, MAX_FIELD_CHARS, about_page, index_page
from sbert import SentenceBERT

MAX_BODY_BYTES = 64 * 1024
FIELDS = ("premise", "hypothesis")
CLIENT_TIMEOUT_SECONDS = 10  # per socket read or write: a stalled client loses its connection, not the server


# --- loading the model ----------------------------------------------------------------------------------

def load_model(directory):
    """The fine-tuned model in `directory`, or SystemExit with a message that says what is wrong."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SystemExit(f"model directory {directory} not found (give --model a finetune.py --out directory)")
    try:
        return SentenceBERT.load(directory)  # raises SystemExit itself for a missing config.json or a plain BERT
    except (OSError, KeyError, ValueError, RuntimeError, pickle.UnpicklingError) as error:
        raise SystemExit(f"{directory} is not a complete Sentence-BERT checkpoint: {error}") from None


# --- request bodies --------------------------------------------------------------------------------------

class HttpError(Exception):
    """An answer other than 200, with a message for the person who sent the request."""

    def __init__(self, status, message, headers=()):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def parse_json_body(body):
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise HttpError(400, "the request body is not valid UTF-8") from None
    except (json.JSONDecodeError, RecursionError) as error:
        raise HttpError(400, f"the request body is not valid JSON ({error})") from None


def parse_form_body(body):
    """Form fields as {name: first value}; percent-escapes must decode to UTF-8 too."""
    if body.lstrip().startswith(b"{"):  # `curl -d '{...}'` sends JSON labelled as a form
        raise HttpError(400, "the body looks like JSON: send it with Content-Type: application/json")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=20)
    except UnicodeDecodeError:
        raise HttpError(400, "the form is not valid UTF-8") from None
    except ValueError:
        raise HttpError(400, "the form has too many fields") from None
    return {name: values[0] for name, values in fields.items()}


def sentence_pair(values):
    """The premise and hypothesis from a parsed body, or an HttpError naming the field at fault."""
    if not isinstance(values, dict):
        raise HttpError(400, 'the body must be a JSON object: {"premise": "...", "hypothesis": "..."}')
    for field in FIELDS:
        if field not in values:
            raise HttpError(400, f"missing field: {field}")
        text = values[field]
        if not isinstance(text, str):
            raise HttpError(400, f"{field} must be a string, not {json.dumps(text)[:40]}")
        if not text.strip():
            raise HttpError(400, f"{field} is empty")
        if len(text) > MAX_FIELD_CHARS:
            raise HttpError(413, f"{field} is longer than {MAX_FIELD_CHARS:,} characters")
        try:
            text.encode("utf-8")  # JSON can smuggle in lone surrogates, which no page could show
        except UnicodeEncodeError:
            raise HttpError(400, f"{field} is not valid Unicode text") from None
    return values["premise"], values["hypothesis"]


# --- the server ------------------------------------------------------------------------------------------

# The page's own script and style carry a fresh random nonce on each response; nothing else may run or style
# the page, so even text that slipped past escaping could not execute. (A nonce rather than 'unsafe-inline'
# costs one line here and is what makes the policy worth having.) The page talks only to this server.
PAGE_POLICY = ("default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self'; "
               "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"  # JSON and SVG: nothing in them may run


class AgreeServer(ThreadingHTTPServer):
    """One thread per connection, so a slow client holds only its own thread; one model, behind a lock."""

    def __init__(self, address, model, model_dir, quiet=False, client_timeout=CLIENT_TIMEOUT_SECONDS):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, Handler)
        self.model, self.model_dir = model.eval(), Path(model_dir).resolve()
        self.quiet, self.client_timeout = quiet, client_timeout
        # `encode` flips the model into eval mode and back around every call, which races between threads if
        # the model ever were in training mode; and one CPU forward pass already uses every core, so
        # answering one request at a time costs little.
        self.model_lock = threading.Lock()

    def predict(self, premise, hypothesis):
        with self.model_lock:
            return self.model.predict(premise, hypothesis)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up needs no traceback
            super().handle_error(request, client_address)


def make_server(model, model_dir, host="127.0.0.1", port=8000, quiet=False,
                client_timeout=CLIENT_TIMEOUT_SECONDS):
    """A server bound and ready; call serve_forever() on it (port 0 picks a free port)."""
    return AgreeServer((host, port), model, model_dir, quiet, client_timeout)


class Handler(BaseHTTPRequestHandler):
    # protocol_version stays HTTP/1.0: one request per connection, so a refused body that was never read cannot
    # be taken for the next request, and no idle keep-alive connection holds a thread.
    server_version = "agree"

    def setup(self):
        self.timeout = self.server.client_timeout  # StreamRequestHandler puts it on the socket
        super().setup()

    def endpoints(self, path):
        """{method: handler} for a path, or None when nothing lives there."""
        if path.startswith("/charts/"):
            return {"GET": self.get_chart}
        return {"/": {"GET": self.get_index}, "/predict": {"POST": self.post_predict},
                "/health": {"GET": self.get_health}, "/about": {"GET": self.get_about}}.get(path)

    def answer(self):
        self.form = {}  # what a form post sent, to refill the boxes if the answer is an error page
        path = urlsplit(self.path).path
        try:
            endpoints = self.endpoints(path)
            if endpoints is None:
                raise HttpError(404, f"nothing at {path}")
            method = "GET" if self.command == "HEAD" else self.command
            if method not in endpoints:
                allowed = ", ".join(m + (", HEAD" if m == "GET" else "") for m in endpoints)
                raise HttpError(405, f"{path} accepts {allowed}, not {self.command}", [("Allow", allowed)])
            endpoints[method](path)
        except HttpError as error:
            self.send_error_answer(error)
        except OSError:
            raise  # the client stalled or went away: there is no one to answer
        except Exception:
            self.log_error("answering %s %s failed", self.command, path)
            self.server.handle_error(self.request, self.client_address)
            self.send_error_answer(HttpError(500, "the server failed to answer; see its log"))

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = answer

    # --- endpoints

    def get_index(self, path):
        self.send_html(200, index_page)

    def get_health(self, path):
        self.send_json(200, {"status": "ok", "model": self.server.model_dir.name})

    def get_about(self, path):
        self.send_html(200, about_page, model=self.server.model, model_dir=self.server.model_dir)

    def get_chart(self, path):
        name = path.removeprefix("/charts/")
        chart = self.server.model_dir / name
        if not CHART_NAME.fullmatch(name) or not chart.is_file():
            raise HttpError(404, f"no chart named {name}")
        self.send(200, chart.read_bytes(), "image/svg+xml", [("Content-Security-Policy", DATA_POLICY)])

    def post_predict(self, path):
        if self.is_form():
            self.form = parse_form_body(self.read_body())
            values = self.form
        elif self.content_type() == "application/json":
            values = parse_json_body(self.read_body())
        else:
            raise HttpError(415, "send application/json or application/x-www-form-urlencoded")
        premise, hypothesis = sentence_pair(values)
        prediction = self.server.predict(premise, hypothesis)
        if self.wants_html():
            self.send_html(200, index_page, premise=premise, hypothesis=hypothesis, prediction=prediction)
        else:
            self.send_json(200, prediction.to_dict())

    # --- reading requests

    def content_type(self):
        """The media type of the body; a body without one is taken as JSON, the API's own format."""
        return self.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()

    def is_form(self):
        return self.command == "POST" and self.content_type() == "application/x-www-form-urlencoded"

    def wants_html(self):
        """JSON when the Accept header names it; a page for form posts and for browsers otherwise."""
        accept = self.headers.get("Accept", "")
        if "application/json" in accept:
            return False
        return self.is_form() or (self.command != "POST" and "text/html" in accept)

    def read_body(self):
        """The body, its size checked before a byte of it is read, so no one can make us hold much memory."""
        if "Transfer-Encoding" in self.headers:
            raise HttpError(411, "send the body with a Content-Length, not in chunks")
        length = self.headers.get("Content-Length")
        if length is None:
            raise HttpError(411, "a Content-Length header is required")
        size = int(length) if length.strip().isascii() and length.strip().isdigit() else -1
        if size < 0:
            raise HttpError(400, f"Content-Length must be a number of bytes, not {length!r}")
        if size > MAX_BODY_BYTES:
            raise HttpError(413, f"the body is larger than {MAX_BODY_BYTES // 1024} KiB")
        body = self.rfile.read(size)
        if len(body) < size:
            raise HttpError(400, "the body is shorter than its Content-Length")
        return body

    # --- writing answers

    def send(self, status, body, content_type, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, value, headers=()):
        body = json.dumps(value).encode("utf-8")
        self.send(status, body, "application/json", [("Content-Security-Policy", DATA_POLICY), *headers])

    def send_html(self, status, page, headers=(), **values):
        nonce = secrets.token_urlsafe(16)
        body = page(nonce, **values).encode("utf-8")
        policy = PAGE_POLICY.format(nonce=nonce)
        self.send(status, body, "text/html; charset=utf-8", [("Content-Security-Policy", policy), *headers])

    def send_error_answer(self, error):
        if self.wants_html():
            self.send_html(error.status, index_page, error.headers, error=error.message,
                           premise=str(self.form.get("premise", "")),
                           hypothesis=str(self.form.get("hypothesis", "")))
        else:
            self.send_json(error.status, {"error": error.message}, error.headers)

    def log_message(self, format, *args):
        if not self.server.quiet:
            super().log_message(format, *args)


# --- command line --------------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a fine-tuned checkpoint directory (finetune.py --out)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; the default, loopback, keeps it on this machine")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (0 picks a free one)")
    parser.add_argument("--quiet", action="store_true", help="no line per request on stderr")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    model = load_model(args.model)
    try:
        server = make_server(model, args.model, args.host, args.port, args.quiet)
    except OSError as error:
        raise SystemExit(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    host, port = server.server_address[:2]
    shown_host = f"[{host}]" if ":" in host else host
    print(f"Serving {server.model_dir.name} at http://{shown_host}:{port}/ (Ctrl+C stops it)", flush=True)
    if host not in ("127.0.0.1", "::1", "localhost"):
        print("Note: listening beyond this machine; anyone who can reach it can use the model.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
