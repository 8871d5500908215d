"""One request and its answer, the HTTP side of serve.py's handler: reading a body (its size checked before a
byte of it is read; a form or JSON), telling whether the client wants a page or JSON, and sending answers
with the headers every answer carries (its length, no sniffing, no referrer, a Content-Security-Policy),
http.server's own refusals (an unknown method, HTTP/2, a request line it cannot read) included. The request
is read within the server's deadline (connections.py). serve.py's Handler adds the routes to it.
"""
import email.message
import json
import secrets
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler

from agree.web.request_fields import HttpError, parse_form_body, parse_json_body

MAX_BODY_BYTES = 64 * 1024
# The page's own script and style carry a fresh random nonce on each response; nothing else may run or style
# the page, so even text that slipped past escaping could not execute. (A nonce rather than 'unsafe-inline'
# costs one line here and is what makes the policy worth having.) The page talks only to this server.
PAGE_POLICY = ("default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self'; "
               "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"  # JSON and SVG: nothing in them may run


class Exchange(BaseHTTPRequestHandler):
    """A request handler's reading and writing. The server gives `client_timeout` (seconds per socket read or
    write, None for no limit) and `quiet` (no line per request); the handler sets `query` (the URL's fields)
    and `form` (a form's fields, {} until one is read) before it reads a request."""
    # protocol_version stays HTTP/1.0: one request per connection, so a refused body that was never read cannot
    # be taken for the next request, and no idle keep-alive connection holds a thread.
    server_version = "agree"
    # What an answer to a request that could not be read looks at: nothing was sent, so JSON.
    path, query, form, headers = "", {}, {}, email.message.Message()

    def setup(self):
        self.timeout = self.server.client_timeout  # StreamRequestHandler puts it on the socket
        super().setup()
        self.rfile.close()  # the socket's own reader, replaced by one that keeps the whole-request deadline
        self.rfile = self.server.request_reader(self.connection)

    def parse_request(self):
        arrived = super().parse_request()  # the request line and the headers have been read
        self.server.connections.request_read(self.connection)
        return arrived

    # --- reading requests

    def content_type(self):
        """The media type of the body; a body without one is taken as JSON, the API's own format."""
        return self.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()

    def is_form(self):
        return self.command == "POST" and self.content_type() == "application/x-www-form-urlencoded"

    def read_values(self):
        """The fields of a POST body, sent as a form or as a JSON object. A form's are also kept in `form`, to
        refill the boxes if the answer is an error page."""
        if self.is_form():
            self.form = parse_form_body(self.read_body())
            return self.form
        if self.content_type() == "application/json":
            return parse_json_body(self.read_body())
        raise HttpError(415, "send application/json or application/x-www-form-urlencoded")

    def wants_html(self):
        """JSON when the Accept header names it or the URL says format=json; a page for form posts and for
        browsers otherwise."""
        accept = self.headers.get("Accept", "")
        if "application/json" in accept or self.query.get("format") == "json":
            return False
        return self.is_form() or (self.command != "POST" and "text/html" in accept)

    def read_body(self):
        """The body, its size checked before a byte of it is read, so no one can make us hold much memory."""
        if "Transfer-Encoding" in self.headers:
            raise HttpError(411, "send the body with a Content-Length, not in chunks")
        lengths = self.headers.get_all("Content-Length", [])
        if len({length.strip() for length in lengths}) > 1:  # which one is right? Neither can be trusted
            raise HttpError(400, f"{len(lengths)} different Content-Length headers: send one")
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
        self.connection.settimeout(self.server.client_timeout)  # for the writes: the request's deadline is over
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
        body = json.dumps(value, allow_nan=False).encode("utf-8")  # NaN is not JSON; raise, never send it
        self.send(status, body, "application/json", [("Content-Security-Policy", DATA_POLICY), *headers])

    def send_html(self, status, page, headers=(), **values):
        """`page(nonce, **values)` (agree/web/pages.py) with a policy that lets its script and style run."""
        nonce = secrets.token_urlsafe(16)
        body = page(nonce, **values).encode("utf-8")
        policy = PAGE_POLICY.format(nonce=nonce)
        self.send(status, body, "text/html; charset=utf-8", [("Content-Security-Policy", policy), *headers])

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals, answered as every other error: JSON or the page, with the same headers."""
        if self.request_version == "HTTP/0.9":  # the version could not be read (HTTP/2.0, say): answer in ours
            self.request_version = self.protocol_version
        if code == HTTPStatus.NOT_IMPLEMENTED:
            message = f"this server does not know the method {self.command}: it answers GET, HEAD and POST"
        elif code == HTTPStatus.HTTP_VERSION_NOT_SUPPORTED:
            message = f"{self.requestline.split()[-1]} is not supported: send HTTP/1.1 or HTTP/1.0"
        message = " ".join(filter(None, [message or HTTPStatus(code).phrase, explain]))
        self.log_error("code %d, message %s", code, message)
        self.send_error_answer(HttpError(code, message, [("Connection", "close")]))

    def send_error_answer(self, error):
        """An error as JSON; serve.py's Handler answers with a page when the client wants one."""
        self.send_json(error.status, {"error": error.message}, error.headers)

    def log_message(self, format, *args):
        if not self.server.quiet:
            super().log_message(format, *args)
