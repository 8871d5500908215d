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
import html
import json
import pickle
import re
import secrets
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from urllib.parse import parse_qs, urlsplit

from sbert import LABELS, SentenceBERT

MAX_BODY_BYTES = 64 * 1024
MAX_FIELD_CHARS = 2000
FIELDS = ("premise", "hypothesis")
CLIENT_TIMEOUT_SECONDS = 10  # per socket read or write: a stalled client loses its connection, not the server
CHART_NAME = re.compile(r"[A-Za-z0-9_.-]+\.svg")  # a plain file name: no slashes, so no way out of the folder
EXAMPLES = (  # (premise, hypothesis, what a good model should answer)
    ("A man is playing a guitar on stage.", "The man is performing music.", "entailment"),
    ("A dog is running through the snow.", "The dog is asleep on the sofa.", "contradiction"),
    ("A woman is reading a book in the park.", "The woman is waiting for a friend.", "neutral"),
)


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


# --- pages ---------------------------------------------------------------------------------------------------

STYLE = """
body { font: 1rem/1.5 system-ui, sans-serif; max-width: 42rem; margin: 0 auto; padding: 1rem; color: #222; }
nav a { margin-right: 1rem; } label { display: block; font-weight: 600; margin-top: 0.75rem; }
textarea, button { box-sizing: border-box; font: inherit; padding: 0.4rem; } textarea { width: 100%; }
button { margin-top: 0.5rem; padding: 0.4rem 1rem; cursor: pointer; } .error { color: #a00; font-weight: 600; }
.examples { padding: 0; list-style: none; } .examples button { text-align: left; width: 100%; }
table { border-collapse: collapse; } td, th { text-align: left; padding: 0.1rem 0.8rem 0.1rem 0; }
.bars { width: 100%; } .bars td { white-space: nowrap; padding-right: 1rem; } .bars td:nth-child(2) { width: 100%; }
meter { width: 100%; height: 1.2rem; } img { max-width: 100%; height: auto; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: 0.6rem; }
"""

# Every form on the page posts a premise and a hypothesis; with JavaScript the answer comes from the JSON API
# and is written into the page with textContent (never innerHTML, so no text is ever read as markup).
SCRIPT = """
const pair = document.getElementById("pair").elements;
for (const form of document.querySelectorAll("form")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    pair.premise.value = data.get("premise");
    pair.hypothesis.value = data.get("hypothesis");
    ask(pair.premise.value, pair.hypothesis.value);
  });
}
async function ask(premise, hypothesis) {
  let answer;
  try {
    const response = await fetch("/predict", {method: "POST", body: JSON.stringify({premise, hypothesis}),
      headers: {"Content-Type": "application/json", "Accept": "application/json"}});
    answer = await response.json();
  } catch (error) {
    answer = {error: "No answer from the server: " + error.message};
  }
  show(answer);
}
function show(answer) {
  const error = document.getElementById("error");
  error.hidden = !answer.error;
  error.textContent = answer.error || "";
  document.getElementById("result").hidden = Boolean(answer.error);
  if (answer.error) return;
  document.getElementById("label").textContent = answer.label;
  for (const [label, probability] of Object.entries(answer.probabilities)) {
    document.getElementById("meter-" + label).value = probability;
    document.getElementById("percent-" + label).textContent = (100 * probability).toFixed(1) + "%";
  }
  document.getElementById("cosine").textContent = answer.cosine_similarity.toFixed(3);
}
"""

LAYOUT = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style nonce="$nonce">$style</style>
</head>
<body>
<nav><a href="/">Compare two sentences</a><a href="/about">About the model</a></nav>
<main>
$main
</main>
$script
</body>
</html>
""")

INDEX = Template("""<h1>Do these sentences agree?</h1>
<form id="pair" method="post" action="/predict">
<label for="premise">Premise</label>
<textarea id="premise" name="premise" rows="3" maxlength="$max_chars" required>$premise</textarea>
<label for="hypothesis">Hypothesis</label>
<textarea id="hypothesis" name="hypothesis" rows="3" maxlength="$max_chars" required>$hypothesis</textarea>
<button type="submit">Compare</button>
</form>
<p id="error" class="error" role="alert" $error_hidden>$error</p>
<section id="result" aria-live="polite" $result_hidden>
<h2>Answer: <span id="label">$label</span></h2>
<table class="bars">
$bars
</table>
<p>Cosine similarity of the two sentence embeddings: <strong id="cosine">$cosine</strong></p>
</section>
<h2>Examples</h2>
<ul class="examples">
$examples
</ul>
""")


def render(title, main, nonce, script=False):
    script_tag = f'<script nonce="{nonce}">{SCRIPT}</script>' if script else ""
    return LAYOUT.substitute(title=html.escape(title), nonce=nonce, style=STYLE, main=main, script=script_tag)


def index_page(nonce, premise="", hypothesis="", prediction=None, error=None):
    """The two boxes (refilled with what was sent), the answer or the error when there is one, the examples."""
    probabilities = prediction.probabilities if prediction else dict.fromkeys(LABELS, 0.0)
    bars = "\n".join(
        f'<tr><td><label for="meter-{label}">{label}</label></td>'
        f'<td><meter id="meter-{label}" min="0" max="1" value="{p:.4f}"></meter></td>'
        f'<td id="percent-{label}">{100 * p:.1f}%</td></tr>' for label, p in probabilities.items())
    examples = "\n".join(
        f'<li><form method="post" action="/predict">'
        f'<input type="hidden" name="premise" value="{html.escape(p)}">'
        f'<input type="hidden" name="hypothesis" value="{html.escape(h)}">'
        f'<button type="submit">{html.escape(p)} → {html.escape(h)} <small>({expected})</small></button>'
        f'</form></li>' for p, h, expected in EXAMPLES)
    main = INDEX.substitute(
        max_chars=MAX_FIELD_CHARS, premise=html.escape(premise), hypothesis=html.escape(hypothesis),
        error_hidden="" if error else "hidden", error=html.escape(error or ""),
        result_hidden="" if prediction else "hidden", label=prediction.label if prediction else "",
        bars=bars, cosine=f"{prediction.cosine_similarity:.3f}" if prediction else "", examples=examples)
    return render("agree: do these sentences agree?", main, nonce, script=True)


def settings_table(values, prefix=""):
    """Rows of name and value for a JSON object; nested objects get dotted names (bert.d_model)."""
    rows = []
    for name, value in values.items():
        if isinstance(value, dict):
            rows.append(settings_table(value, f"{prefix}{name}."))
        else:
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            rows.append(f"<tr><th>{html.escape(prefix + str(name))}</th><td>{html.escape(shown)}</td></tr>")
    table = "\n".join(rows)
    return table if prefix else f"<table>\n{table}\n</table>"


def read_optional(path):
    """The text of a file the checkpoint may or may not hold (evaluate.py writes its report later)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def chart_names(model_dir):
    return sorted(p.name for p in model_dir.glob("*.svg") if CHART_NAME.fullmatch(p.name) and p.is_file())


def about_page(nonce, model, model_dir):
    """The model card, read from the checkpoint directory on every visit, so a new report shows at once."""
    parameters = sum(p.numel() for p in model.parameters())
    parts = [f"<h1>About the model</h1>\n<p>Checkpoint <strong>{html.escape(model_dir.name)}</strong>, "
             f"{parameters:,} parameters.</p>",
             "<h2>Configuration (config.json)</h2>", settings_table(model.config.to_dict())]
    arguments = read_optional(model_dir / "args.json")
    if arguments is not None:
        parts.append("<h2>Training (args.json)</h2>")
        try:
            parts.append(settings_table(json.loads(arguments)))
        except (json.JSONDecodeError, AttributeError):  # broken or not an object: show it as it is
            parts.append(f"<pre>{html.escape(arguments)}</pre>")
    report = read_optional(model_dir / "report.md")
    if report is not None:
        parts += ["<h2>Evaluation (report.md)</h2>", f"<pre>{html.escape(report)}</pre>"]
    charts = chart_names(model_dir)
    if charts:
        parts.append("<h2>Charts</h2>")
        parts += [f'<figure><img src="/charts/{name}" alt="chart {name}"><figcaption>{name}</figcaption>'
                  f"</figure>" for name in charts]  # CHART_NAME allows no character that needs escaping
    if arguments is None and report is None and not charts:
        parts.append("<p>No training arguments, evaluation report or charts in this checkpoint yet: "
                     "finetune.py writes args.json, evaluate.py writes report.md and the charts.</p>")
    return render("agree: about the model", "\n".join(parts), nonce)


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
