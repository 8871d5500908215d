"""How many connections the server holds, and for how long a client may take to send its request.

The server answers each connection in a thread of its own, so a slow client holds only its own thread; but
without limits a few hundred clients that send one byte now and then hold a few hundred threads for as long
as they like. Three limits:

- the listen backlog (`LISTEN_BACKLOG`): connections that the kernel completes before the server accepts them.
  Python's default is 5; a burst of users beyond it has its connection attempts dropped, and each waits a
  second or more before it tries again, or is reset.
- a whole-request deadline (REQUEST_DEADLINE_SECONDS): the request line, the headers and the body must have
  arrived within it, whatever the pace of each read (`RequestReader`); a client that is still sending then
  loses its connection.
- a cap on open connections (MAX_CONNECTIONS, `ConnectionLimit`). At the cap the server makes room by hanging up
  on the connection that has been sending its request longest, if that is longer than any ordinary client
  takes (GIVE_WAY_SECONDS); otherwise it accepts no more until one ends, and the kernel holds the newcomers
  in the backlog meanwhile. A client in the middle of being answered is never cut off.
"""
import io
import socket
import threading
import time
from http.server import ThreadingHTTPServer

LISTEN_BACKLOG = socket.SOMAXCONN  # the most the system allows (the kernel may lower it further)
REQUEST_DEADLINE_SECONDS = 15  # for the whole request; any ordinary client sends it in one go
MAX_CONNECTIONS = 256
GIVE_WAY_SECONDS = 1  # a connection still sending its request's head after this long may be closed for room


class RequestReader(io.RawIOBase):
    """A connection's bytes, each read waiting at most `per_read` seconds (None: no limit) and none after
    `deadline` (a time of `clock`, None: no deadline), when reading raises TimeoutError."""

    def __init__(self, connection, per_read, deadline, clock=time.monotonic):
        self.connection, self.per_read, self.deadline, self.clock = connection, per_read, deadline, clock

    def readable(self):
        return True

    def readinto(self, buffer):
        timeout = self.per_read
        if self.deadline is not None:
            left = self.deadline - self.clock()
            if left <= 0:
                raise TimeoutError("the request did not arrive in time")
            timeout = left if timeout is None else min(timeout, left)
        self.connection.settimeout(timeout)
        return self.connection.recv_into(buffer)


class ConnectionLimit:
    """Admission of connections, at most `limit` open at once (see the module's docstring); `clock` is a
    parameter so that tests can choose the time rather than wait for it."""

    def __init__(self, limit=MAX_CONNECTIONS, give_way_seconds=GIVE_WAY_SECONDS, clock=time.monotonic):
        self.limit, self.give_way_seconds, self.clock = limit, give_way_seconds, clock
        self.changed = threading.Condition()  # guards what follows; notified when a connection ends
        self.open = 0
        self.reading = {}  # connection -> when it was accepted, while its request has not all arrived
        self.closing = set()  # connections hung up on to make room, whose threads have not ended yet
        self.stopping = False
        self.full = threading.Event()  # set once a connection has had to wait (for tests)

    def admit(self, connection):
        """Wait for room (making some if a connection has been sending for too long); False if the server is
        stopping meanwhile."""
        with self.changed:
            while self.open >= self.limit and not self.stopping:
                self.full.set()
                if self.closing:  # room is being made: its thread's end notifies
                    self.changed.wait()
                elif not self.give_way():
                    self.changed.wait(self.time_until_one_may_give_way())
            if self.stopping:
                return False
            self.open += 1
            self.reading[connection] = self.clock()
            self.changed.notify_all()  # for whoever watches the connections (tests)
            return True

    def give_way(self):
        """Hang up on the connection that has been sending its request longest, if long enough; True if so."""
        if not self.reading:
            return False
        connection, since = min(self.reading.items(), key=lambda item: item[1])
        if self.clock() - since < self.give_way_seconds:
            return False
        del self.reading[connection]
        self.closing.add(connection)
        try:
            connection.shutdown(socket.SHUT_RDWR)  # its thread's read returns at once, and the thread ends
        except OSError:
            pass
        return True

    def time_until_one_may_give_way(self):
        if not self.reading:
            return None
        return max(0, min(self.reading.values()) + self.give_way_seconds - self.clock())

    def request_read(self, connection):
        """Its request has arrived: from now on the connection is being answered, and is not cut off."""
        with self.changed:
            self.reading.pop(connection, None)

    def release(self, connection):
        with self.changed:
            self.open -= 1
            self.reading.pop(connection, None)
            self.closing.discard(connection)
            self.changed.notify_all()

    def stop(self):
        with self.changed:
            self.stopping = True
            self.changed.notify_all()


class LimitedHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with the backlog, the cap on connections and the request deadline above. The
    handler reads through `request_reader(connection)` and calls `connections.request_read(connection)`
    once the request has arrived (exchange.py does both)."""
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address, handler, client_timeout, request_deadline=REQUEST_DEADLINE_SECONDS,
                 connections=None):
        self.client_timeout, self.request_deadline = client_timeout, request_deadline
        self.connections = connections or ConnectionLimit()
        super().__init__(address, handler)

    def request_reader(self, connection):
        deadline = None if self.request_deadline is None else time.monotonic() + self.request_deadline
        return io.BufferedReader(RequestReader(connection, self.client_timeout, deadline))

    def process_request(self, request, client_address):
        if not self.connections.admit(request):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread: nothing else will release its place
            self.connections.release(request)
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release(request)

    def shutdown(self):
        self.connections.stop()  # an accept waiting for room gives up, so that serve_forever can return
        super().shutdown()

    def server_close(self):
        self.connections.stop()
        super().server_close()


def address_family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def probe_address(host, port):
    """Bind the address as the server will (reusing one in TIME_WAIT) and let it go; OSError if it cannot be."""
    with socket.socket(address_family(host)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
