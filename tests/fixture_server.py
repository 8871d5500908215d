"""A local HTTP server (127.0.0.1, an ephemeral port) for the download tests, and a way to point the
registry of data sets at the fixture archives it serves. The tests never touch the network."""
import dataclasses
import hashlib
import http.server
import threading
from contextlib import contextmanager
from pathlib import Path

from agree import download


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files from the server's folder; like wikitext.smerity.com, it refuses Python's default agent.
    Paths under /short/ announce the full size but send only half of the file, then hang up."""

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.headers.get("User-Agent", "").startswith("Python-urllib"):
            self.send_error(403)
        elif self.path.startswith("/short/"):
            body = (Path(self.directory) / self.path.removeprefix("/short/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.close_connection = True
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


@contextmanager
def serve(directory):
    """Yield (base URL, list of requested paths) of a server for `directory` running in a thread."""
    def handler(*args):
        return _Handler(*args, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", server.requests
    finally:
        server.shutdown()
        server.server_close()


def register_fixture(monkeypatch, name, archive_path, with_checksum=True):
    """Point the registry entry at the fixture archive's own size and SHA-256 (or at none)."""
    data = Path(archive_path).read_bytes()
    checksum = dict(sha256=hashlib.sha256(data).hexdigest(), size=len(data)) if with_checksum else \
        dict(sha256=None, size=None)
    monkeypatch.setitem(download.DATASETS, name, dataclasses.replace(download.DATASETS[name], **checksum))
