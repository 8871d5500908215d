"""Serve a fine-tuned Sentence-BERT as a two-box web page and a small JSON API, with the standard library.

    python serve.py --model runs/sbert [--index FILE_OR_SPEC] [--port 8000]   (--help lists every option)

Endpoints:
    GET  /                  the page: premise and hypothesis boxes, example pairs, the answer and why
    POST /predict           {"premise", "hypothesis"} -> {"label", "probabilities", "cosine_similarity"};
                            with ?explain=1 or "explain": true also "explanation": for each word of each
                            sentence, the predicted label's probability without it (occlusion). A form post
                            (application/x-www-form-urlencoded) gets the page back instead, unless its Accept
                            header asks for JSON
    GET|POST /search        q, k (1 to 100, default 10) -> {"query", "k", "index", "results": [{"sentence",
                            "cosine"}]}, best first, over the sentences of --index (search_index); the Search page
                            for browsers and form posts
    GET  /health            200 {"status": "ok", "model": <name of the model directory>, "encoders": [{"state",
                            "restarts"}]} while every encoder process is up; 503 with "status": "restarting" or
                            "down" while one is being replaced (agree/web/supervision.py)
    GET  /about             the model card: configuration, training arguments, evaluation report, charts
    GET  /charts/<name>.svg a chart from the model directory

The page works without JavaScript (the form posts to /predict and the answer comes back as a new page) and
with it (a small script asks the JSON API and fills in the answer without reloading). Any answer comes as
JSON when the Accept header names application/json or the URL holds format=json.

By default the encoder's linear layers compute in int8 and the index is held as int8 rows, re-ranked exactly
(agree/quantize.py, agree/web/index_rows.py; --no-int8 and --index-rows fp32 for fp32; docs/performance.md).

Faults it survives (docs/web.md, "Operating it"): encoders that die or hang (supervision.py), bursts and slow
clients (connections.py), floods of explanations (batching.py), answers that are not numbers (outputs.py).
"""
import argparse
import os
import pickle
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import torch

from agree import errors
from agree.web.batching import Encoders, EncodingBatcher
from agree.web.connections import REQUEST_DEADLINE_SECONDS, LimitedHTTPServer, address_family, probe_address
from agree.web.encoder_process import EncoderProcess, ModelWork
from agree.web.exchange import DATA_POLICY, Exchange
from agree.web.index_rows import ROW_FORMATS
from agree.web.occlusion import explain
from agree.web.outputs import checked
from agree.web.pages import CHART_NAME, DEFAULT_K, about_page, index_page, search_page
from agree.web.request_fields import HttpError, flag, parse_fields, search_request, sentence_pair
from agree.web.search_index import build_index
from agree.web.supervision import BATCH_DEADLINE_SECONDS, SupervisedEncoder, overall_state
from sbert import SentenceBERT

CLIENT_TIMEOUT_SECONDS = 10  # per socket read or write: a stalled client loses its connection, not the server


# --- loading the model ----------------------------------------------------------------------------------

def load_sentence_bert(directory, int8=False):
    """The fine-tuned model in `directory` (int8: agree/quantize.py), or SystemExit saying what is wrong."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SystemExit(f"model directory {directory} not found (give --model a finetune.py --out directory)")
    try:
        return SentenceBERT.load(directory, int8=int8)  # SystemExit itself for a missing config.json or a plain BERT
    except (OSError, KeyError, ValueError, RuntimeError, pickle.UnpicklingError) as error:
        raise SystemExit(f"{directory} is not a complete Sentence-BERT checkpoint: {error}") from None


# --- the server ------------------------------------------------------------------------------------------

# One encoder process by default: a second answers more requests only with cores of its own to compute on,
# and otherwise only splits the batches (docs/web.md measures it); --encoders asks for more where cores are
# to spare.
ENCODER_PROCESSES = 1
MAX_BATCH_ITEMS = 64  # pairs or search queries in one batch, so that a batch is over long before its deadline
MAX_EXPLANATIONS = 16  # explanations computed at once; one more is refused with a 503 rather than queued


class AgreeServer(LimitedHTTPServer):
    """One thread per connection, so a slow client holds only its own thread; the model behind batchers.

    `client_timeout` (seconds per socket read or write), `request_deadline` (seconds for a whole request to
    arrive; None: no limit), `batch_deadline` (seconds an encoder process may take over a batch) and `connections`
    (a connections.ConnectionLimit) are parameters so that tests can choose them rather than race them."""

    def __init__(self, address, model, model_dir, quiet=False, client_timeout=CLIENT_TIMEOUT_SECONDS,
                 index=None, encoder_threads=None, encoder_processes=1, batch_deadline=BATCH_DEADLINE_SECONDS,
                 request_deadline=REQUEST_DEADLINE_SECONDS, connections=None):
        self.address_family = address_family(address[0])
        self.batchers, self.supervisors = [], []  # server_close closes these, even when binding fails
        super().__init__(address, Handler, client_timeout, request_deadline, connections)
        self.model, self.model_dir, self.index, self.quiet = model.eval(), Path(model_dir).resolve(), index, quiet
        # The requests that arrive together are answered as one batch (batching.py), which costs far less
        # than one pass each: pairs by one batcher, search queries (encoded and scored against the index in
        # one matrix product) by another. With `encoder_threads` that work, explanations included, runs in
        # `encoder_processes` processes of their own with that many torch threads each (encoder_process.py:
        # in this one the model's thread waits for the request threads' Python), one batch at a time each.
        # In this process there is one encoder: `encode` flips the model into eval mode and back around
        # every call, which races between threads if the model ever were in training mode. Each process is
        # supervised: replaced, with the same work, when it dies or misses a batch's deadline.
        work = ModelWork(self.model, None if index is None else index.rows)
        try:
            for _ in range(encoder_processes if encoder_threads else 0):
                self.supervisors.append(SupervisedEncoder(
                    lambda spawned: EncoderProcess(work, encoder_threads, spawned), batch_deadline))
        except RuntimeError:
            self.close_encoders()
            self.socket.close()  # no server without its encoders; the port is free again
            raise
        if self.supervisors and index is not None:
            self.index = index.without_rows()  # `work` keeps them for a new process; rows by number here
        self.encoders = Encoders(self.supervisors or [work])
        for supervisor in self.supervisors:
            supervisor.on_change = self.encoders.notify
        # An explanation is many steps (occlusion.py), each a batch of its own, in turn with the others.
        self.predictor = EncodingBatcher(lambda encoder, pairs: encoder.predict_ids(pairs), self.encoders,
                                         MAX_BATCH_ITEMS)
        self.searcher = EncodingBatcher(lambda encoder, queries: encoder.search_ids(queries), self.encoders,
                                        MAX_BATCH_ITEMS)
        self.explainer = EncodingBatcher(lambda encoder, steps: encoder.explain_steps(steps), self.encoders, 1)
        self.batchers = [self.predictor, self.searcher, self.explainer]
        self.explaining = threading.BoundedSemaphore(MAX_EXPLANATIONS)

    @property
    def encoder_processes(self):
        return [supervisor.process for supervisor in self.supervisors]

    def predict(self, premise, hypothesis):
        prediction = self.predictor.encode([tuple(self.model.tokenize([premise, hypothesis]))])[0]
        checked(prediction.to_dict())
        return prediction

    def explain(self, premise, hypothesis):
        if not self.explaining.acquire(blocking=False):
            raise HttpError(503, f"{MAX_EXPLANATIONS} explanations are being computed: try again in a moment",
                            [("Retry-After", "1")])
        try:
            explanation = explain(self.model, premise, hypothesis,
                                  lambda *step: self.explainer.encode([step])[0])
        finally:
            self.explaining.release()
        checked(explanation.to_dict())
        return explanation

    def search(self, query, k):
        found = checked(self.searcher.encode([(self.model.tokenize([query])[0], k)])[0])
        return [(self.index.sentences[row], cosine) for row, cosine in found]

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up needs no traceback
            super().handle_error(request, client_address)

    def server_close(self):
        """Stop listening, then the encoders, all at once and whatever they are doing (a request waiting on
        one gets a 503), then the batchers."""
        super().server_close()
        stopping = [threading.Thread(target=supervisor.stop) for supervisor in self.supervisors]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        for batcher in self.batchers:
            batcher.close()
        self.close_encoders()

    def close_encoders(self):
        for supervisor in self.supervisors:
            supervisor.close()


def make_server(model, model_dir, host="127.0.0.1", port=8000, quiet=False,
                client_timeout=CLIENT_TIMEOUT_SECONDS, index=None, encoder_threads=None, encoder_processes=1,
                **limits):
    """A server bound and ready; call serve_forever() on it (port 0 picks a free port). `index`: a
    search_index.SentenceIndex for /search, or None. `encoder_threads`: encode in `encoder_processes`
    processes of their own with that many torch threads each, as serve.py does; None (the default, for
    tests) encodes in this process. `limits`: AgreeServer's batch_deadline, request_deadline, connections."""
    return AgreeServer((host, port), model, model_dir, quiet, client_timeout, index, encoder_threads,
                       encoder_processes, **limits)


class Handler(Exchange):
    """The routes: which method at which path answers what. Reading bodies and sending answers: Exchange."""

    def endpoints(self, path):
        """{method: handler} for a path, or None when nothing lives there."""
        if path.startswith("/charts/"):
            return {"GET": self.get_chart}
        return {"/": {"GET": self.get_index}, "/predict": {"POST": self.post_predict},
                "/search": {"GET": self.get_search, "POST": self.post_search},
                "/health": {"GET": self.get_health}, "/about": {"GET": self.get_about}}.get(path)

    def answer(self):
        self.form = {}  # what a form post sent, to refill the boxes if the answer is an error page
        self.query = {}  # the URL's fields
        path, query = urlsplit(self.path)[2:4]
        try:
            self.query = parse_fields(query, "the URL's query")
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
        state = overall_state(self.server.supervisors)
        encoders = [{"state": supervisor.state, "restarts": supervisor.restarts}
                    for supervisor in self.server.supervisors]
        self.send_json(200 if state == "ok" else 503,
                       {"status": state, "model": self.server.model_dir.name, "encoders": encoders})

    def get_about(self, path):
        self.send_html(200, about_page, model=self.server.model, model_dir=self.server.model_dir)

    def get_chart(self, path):
        name = path.removeprefix("/charts/")
        chart = self.server.model_dir / name
        if not CHART_NAME.fullmatch(name) or not chart.is_file():
            raise HttpError(404, f"no chart named {name}")
        self.send(200, chart.read_bytes(), "image/svg+xml", [("Content-Security-Policy", DATA_POLICY)])

    def post_predict(self, path):
        values = self.read_values()
        premise, hypothesis = sentence_pair(values)
        if flag(self.query, "explain") or flag(values, "explain"):
            explanation = self.server.explain(premise, hypothesis)
            prediction, answer = explanation.prediction, explanation.to_dict()
        else:
            explanation, prediction = None, self.server.predict(premise, hypothesis)
            answer = prediction.to_dict()
        if self.wants_html():
            self.send_html(200, index_page, premise=premise, hypothesis=hypothesis, prediction=prediction,
                           explanation=explanation)
        else:
            self.send_json(200, answer)

    def get_search(self, path):
        self.form = self.query
        if "q" not in self.query and self.wants_html():
            self.send_html(200, search_page, index=self.server.index)  # the empty form
        else:
            self.answer_search(self.query)

    def post_search(self, path):
        self.answer_search(self.read_values())

    def answer_search(self, values):
        query, k = search_request(values)
        if self.server.index is None:
            raise HttpError(404, "this server has no sentence index: start serve.py with --index FILE "
                                 "(one sentence per line, .txt or .gz) or --index snli:test")
        results = self.server.search(query, k)
        if self.wants_html():
            self.send_html(200, search_page, index=self.server.index, query=query, k=k, results=results)
        else:
            self.send_json(200, {"query": query, "k": k, "index": self.server.index.name,
                                 "results": [{"sentence": s, "cosine": c} for s, c in results]})

    # --- answering errors

    def send_error_answer(self, error):
        if self.wants_html() and urlsplit(self.path).path == "/search":
            self.send_html(error.status, search_page, error.headers, error=error.message,
                           index=self.server.index, query=str(self.form.get("q", "")),
                           k=str(self.form.get("k", DEFAULT_K)))
        elif self.wants_html():
            self.send_html(error.status, index_page, error.headers, error=error.message,
                           premise=str(self.form.get("premise", "")),
                           hypothesis=str(self.form.get("hypothesis", "")))
        else:
            self.send_json(error.status, {"error": error.message}, error.headers)


# --- command line --------------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    served = parser.add_argument_group("what to serve")
    served.add_argument("--model", required=True, help="a fine-tuned checkpoint directory (finetune.py --out)")
    served.add_argument("--index", help="sentences for the Search page: a .txt or .gz file with one sentence "
                                        "per line, or data-set specs (snli:test: its distinct sentences)")
    served.add_argument("--data-dir", default="data", help="where data-set specs of --index are found")
    served.add_argument("--cache-dir", default=".cache",
                        help="where the embeddings of --index are kept between starts (never the data directory)")
    served.add_argument("--int8", action=argparse.BooleanOptionalAction, default=True,
                        help="the encoder's linear layers in int8 (the default: agree/quantize.py, "
                             "docs/performance.md); --no-int8: in fp32")
    served.add_argument("--index-rows", choices=ROW_FORMATS, default="int8",
                        help="how the index's embeddings are held and scanned (default: %(default)s; "
                             "agree/web/index_rows.py, docs/web.md)")
    where = parser.add_argument_group("where and how it listens")
    where.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; the default, loopback, keeps it on this machine")
    where.add_argument("--port", type=int, default=8000, help="port to listen on (0 picks a free one)")
    where.add_argument("--quiet", action="store_true", help="no line per request on stderr")
    errors.add_debug_option(where)
    resources = parser.add_argument_group("processes, threads and limits")
    resources.add_argument("--threads", type=int, default=serving_threads(),
                        help="torch threads of each encoder process once the index is built (default: all cores but "
                             "one, left to the request threads: %(default)s here; docs/web.md)")
    resources.add_argument("--encoders", type=int, default=ENCODER_PROCESSES,
                        help="encoder processes, each with its own copy of the model and of the index and --threads "
                             "torch threads, answering batches side by side (default: %(default)s; docs/web.md)")
    resources.add_argument("--in-process", action="store_true",
                        help="run the forward passes in the server's own process instead of a process of their own "
                             "(slower under concurrent requests: docs/web.md)")
    resources.add_argument("--batch-deadline", type=float, default=BATCH_DEADLINE_SECONDS, metavar="SECONDS",
                        help="how long an encoder process may take over one batch before it is taken for stuck, "
                             "killed and started anew (default: %(default)s; for a far slower model or machine)")
    args = parser.parse_args(argv)
    for option in [option for option in ("threads", "encoders") if getattr(args, option) < 1]:
        parser.error(f"--{option} must be at least 1, not {getattr(args, option)}")
    if not args.batch_deadline > 0:
        parser.error(f"--batch-deadline must be a number of seconds above 0, not {args.batch_deadline}")
    return args


def serving_threads():
    """All the cores this process may use but one. The model's thread shares the CPU with the request threads
    (HTTP, JSON, tokenizing); when a forward pass also wants every core, its threads wait for each other."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores - 1)


def load_index(model, args):
    """The search index of --index, or SystemExit with a message naming the file (and line) at fault."""
    try:
        return build_index(model, args.index, args.data_dir, args.cache_dir, rows=args.index_rows)
    except (OSError, ValueError) as error:
        raise SystemExit(f"cannot build the search index: {error}") from None


def cannot_listen(args, error):
    return f"cannot listen on {args.host}:{args.port}: {error.strerror or error}"


def main(argv=None):
    args = parse_args(argv)
    model = load_sentence_bert(args.model, args.int8)
    try:
        probe_address(args.host, args.port)  # a taken port is said now, not after the index is built
    except OSError as error:
        raise SystemExit(cannot_listen(args, error)) from None
    index = load_index(model, args) if args.index else None  # with every core: it happens once, before anyone waits
    torch.set_num_threads(args.threads)
    try:
        server = make_server(model, args.model, args.host, args.port, args.quiet, index=index,
                             encoder_threads=None if args.in_process else args.threads,
                             encoder_processes=args.encoders, batch_deadline=args.batch_deadline)
    except OSError as error:
        raise SystemExit(cannot_listen(args, error)) from None
    except RuntimeError as error:  # the encoder process did not start
        raise SystemExit(f"cannot start the server: {error}") from None
    if threading.current_thread() is threading.main_thread():  # signal handlers can be set there only
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # a service manager's stop, as Ctrl+C
    try:  # from here on a stop, however early, closes the server and its encoder processes
        host, port = server.server_address[:2]
        shown_host, precision = f"[{host}]" if ":" in host else host, "int8" if args.int8 else "fp32"
        print(f"Serving {server.model_dir.name} ({precision}) at http://{shown_host}:{port}/ (Ctrl+C stops it)",
              flush=True)
        if host not in ("127.0.0.1", "::1", "localhost"):
            print("Note: listening beyond this machine; anyone who can reach it can use the model.", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    errors.run(main)
