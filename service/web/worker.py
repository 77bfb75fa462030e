"""The gunicorn worker: threads answer only requests that have fully arrived.

Gunicorn's sync worker (and its threaded one, once a first byte is in)
reads a request with blocking calls and no deadline, so a client that
sends its head or body slowly holds a worker, or a thread, for as long as
it likes: a handful of them took the service offline.  Here the worker's
event loop, which already watches idle keep-alive connections, also reads
every request into a buffer without blocking, and hands it to a thread
only once it is whole (head, and the body its Content-Length or chunked
framing announces) or plainly not HTTP/1 (a TLS hello): gunicorn's own
parser then reads it from memory and refuses what is malformed.  A request
not whole within ``request_timeout`` seconds gets a 408 and is closed.
Slow clients thus cost a buffer and a file descriptor each, never a thread.

Gunicorn's own error pages (a malformed request line, headers over its
limits, an unknown transfer coding or expectation) are rendered again
here: in the API's JSON error shape under the JSON paths, with the status's
own reason phrase (gunicorn sends "501 Bad Request"), and with the
security headers, like every response the app sends.  TLS is a front's
job here (the buffer holds the raw bytes).
"""

from __future__ import annotations

import html
import json
import re
import selectors
import socket
import string
import threading
import time
from functools import partial
from http import HTTPStatus
from typing import Any

from gunicorn.http.errors import ParseException
from gunicorn.workers.gthread import ThreadWorker

from .app import SECURITY_HEADERS

_SECURITY_HEADER_LINES = "".join(f"{k}: {v}\r\n" for k, v in SECURITY_HEADERS.items()).encode("latin-1")
#: A request head longer than this is handed to gunicorn unfinished: its
#: limits (request line, header fields) then answer it.
HEAD_LIMIT = 1 << 21
_HEX = frozenset(string.hexdigits.encode())
#: Paths whose errors are JSON (as in :mod:`service.web.errors`).
_JSON_PATHS = (b"/api/", b"/healthz", b"/readyz")


def ready_to_parse(data: bytes | bytearray, body_limit: int) -> bool:
    """Whether ``data`` holds a whole HTTP/1 request, or enough for gunicorn
    to answer it (framing it would refuse, a head or body over the limits).
    Pipelined bytes after the request may follow."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return len(data) > HEAD_LIMIT
    length, coding = None, None
    for line in bytes(data[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.lower(), value.strip()
        if name == b"content-length":
            if length is not None or not value.isdigit():
                return True
            length = int(value)
        elif name == b"transfer-encoding":
            if coding is not None:
                return True
            coding = value.lower()
    body = memoryview(data)[end + 4:]
    if coding is not None:
        return length is not None or coding != b"chunked" or _chunked_done(body, body_limit)
    return length is None or length > body_limit or len(body) >= length


def _chunked_done(body: memoryview, limit: int) -> bool:
    """Whether a chunked body is complete, malformed, or over ``limit`` bytes."""
    pos = 0
    while True:
        eol = bytes(body[pos:pos + 1026]).find(b"\r\n")
        if eol < 0:
            return len(body) - pos > 1024
        size = bytes(body[pos:pos + eol]).split(b";", 1)[0].strip()
        if not size or not _HEX.issuperset(size):
            return True
        if int(size, 16) == 0:
            return bytes(body[pos + eol:]).find(b"\r\n\r\n") >= 0
        pos += eol + 2 + int(size, 16) + 2
        if pos > len(body):
            return len(body) > limit + 4096


def error_page(status: int, reason: str, message: str, path: bytes) -> bytes:
    """A whole response for an error the worker answers itself: the API's
    JSON shape under the JSON paths, a short text page elsewhere."""
    if path == b"/api" or path.startswith(_JSON_PATHS):
        body = json.dumps({"ok": False, "status": status, "error": reason,
                           "errors": [{"param": None, "message": message}]}).encode() + b"\n"
        kind = b"application/json"
    else:
        body, kind = f"{status} {reason}: {message}\n".encode(), b"text/plain; charset=utf-8"
    return (f"HTTP/1.1 {status} {reason}\r\n".encode() + _SECURITY_HEADER_LINES
            + b"Content-Type: " + kind + b"\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n" + body)


def request_path(data: bytes | bytearray) -> bytes:
    """The path of the request line at the start of ``data`` (b"" if none)."""
    parts = bytes(data[:4096]).split(b"\r\n", 1)[0].split(b" ", 2)
    return parts[1].split(b"?", 1)[0] if len(parts) > 2 else b""


_GUNICORN_PAGE = re.compile(rb"HTTP/1\.1 (\d{3}) .*?</h1>\s*(.*?)\s*</body>", re.S)


def regenerated_page(data: bytes, path: bytes) -> bytes:
    """Gunicorn's own HTML error page ``data`` as :func:`error_page` makes
    pages: the status's reason phrase, the security headers, JSON under the
    JSON paths; gunicorn's message is kept."""
    match = _GUNICORN_PAGE.match(data)
    if match is None:  # not a page this gunicorn writes: sent as it is, with the headers
        status_line, crlf, rest = data.partition(b"\r\n")
        return status_line + crlf + _SECURITY_HEADER_LINES + rest
    status = int(match.group(1))
    phrase = HTTPStatus(status).phrase
    message = html.unescape(match.group(2).decode("latin-1")) or phrase
    return error_page(status, phrase, message, path)


class _ErrorPageSocket:
    """A client socket whose one write, gunicorn's own error page, is
    rendered again by :func:`regenerated_page` for the request's path."""

    def __init__(self, sock: socket.socket, path: bytes) -> None:
        self._sock, self._path = sock, path

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(regenerated_page(data, self._path))


class Worker(ThreadWorker):
    """Gunicorn's threaded worker, reading requests in its event loop (see
    the module docstring), with the app's ``request_timeout`` and body limit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Connections being read, oldest first (all share one timeout).
        self._reading: dict[Any, float] = {}
        self.request_timeout, self.body_limit = 10.0, 16384
        # The path of the request each thread is handling, for its error pages.
        self._handling = threading.local()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        config = self.wsgi.extensions["groundedqa"].config
        self.request_timeout, self.body_limit = config.request_timeout, config.max_body_bytes

    def enqueue_req(self, conn: Any) -> None:
        """Read the connection's next request before a thread takes it."""
        if getattr(conn, "whole", False) or self.cfg.is_ssl:
            conn.whole = False
            super().enqueue_req(conn)
            return
        conn.buffer = bytearray(conn.parser.unreader.take_buffered() if conn.parser else b"")
        conn.continued = False
        if conn.buffer and self._arrived(conn):
            self._take(conn)
            return
        conn.sock.setblocking(False)
        self._reading[conn] = time.monotonic() + self.request_timeout
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: Any, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._stop_reading(conn)
            self._close(conn)
            return
        conn.buffer += data
        if self._arrived(conn):
            self._stop_reading(conn)
            self._take(conn)
        elif not conn.continued and b"\r\n\r\n" in conn.buffer:
            head = bytes(conn.buffer[:conn.buffer.find(b"\r\n\r\n")]).lower()
            if b"\r\nexpect:" in head and b"100-continue" in head:
                conn.continued = True  # the client waits for this before its body
                self._send_quietly(sock, b"HTTP/1.1 100 Continue\r\n\r\n")

    def _arrived(self, conn: Any) -> bool:
        """Whether reading is over: the request is whole, or not HTTP/1 at all."""
        return not conn.buffer[:1].isalpha() or ready_to_parse(conn.buffer, self.body_limit)

    def _take(self, conn: Any) -> None:
        """Hand a whole request to a thread; answer what is not HTTP/1 (a TLS
        hello: gunicorn would wait for a line end that never comes) with a
        400 and close."""
        if not conn.buffer[:1].isalpha():
            self._send_quietly(conn.sock, error_page(400, "Bad Request", "not an HTTP/1 request", b""))
            self._close(conn)
            return
        conn.sock.setblocking(True)
        conn.init()
        conn.path = request_path(conn.buffer)
        conn.parser.unreader.unread(bytes(conn.buffer))
        conn.buffer = None
        conn.data_ready = conn.whole = True
        self.enqueue_req(conn)

    def _stop_reading(self, conn: Any) -> None:
        del self._reading[conn]
        self.poller.unregister(conn.sock)

    def _close(self, conn: Any) -> None:
        self.nr_conns -= 1
        conn.close()

    @staticmethod
    def _send_quietly(sock: socket.socket, data: bytes) -> None:
        try:
            sock.send(data)
        except OSError:
            pass

    def murder_pending(self) -> None:
        """gthread's clean-up of idle connections, plus: a request still
        arriving after ``request_timeout`` gets a 408 (nothing, if not one
        byte of it came) and its connection is closed."""
        super().murder_pending()
        now = time.monotonic()
        for conn, deadline in list(self._reading.items()):
            if deadline > now:
                break
            self._stop_reading(conn)
            if conn.buffer:
                self._send_quietly(conn.sock, error_page(
                    408, "Request Timeout", f"the request did not arrive within {self.request_timeout:g} s",
                    request_path(conn.buffer)))
            self._close(conn)

    def _keepalive_after(self, conn: Any, keepalive: bool) -> bool:
        """Close, rather than answer twice, a connection whose body was
        malformed: the app has answered it (a 400), and what follows the
        bad chunk cannot be told from a next request."""
        try:
            return super()._keepalive_after(conn, keepalive)
        except ParseException:
            return False

    def handle(self, conn: Any) -> Any:
        self._handling.path = getattr(conn, "path", b"")
        return super().handle(conn)

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        path = getattr(self._handling, "path", b"")
        super().handle_error(req, _ErrorPageSocket(client, path), addr, exc)
