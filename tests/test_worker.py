"""The worker's framing check: a thread gets a request only once it is whole."""

from __future__ import annotations

import json

import pytest

from service.web.worker import error_page, ready_to_parse, regenerated_page, request_path

HEAD = b"POST /api/search HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize("data, whole", [
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", False),  # head unfinished
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", True),
    (HEAD + b"Content-Length: 5\r\n\r\nabc", False),  # body shorter than its length
    (HEAD + b"Content-Length: 5\r\n\r\nabcde", True),
    (HEAD + b"Content-Length: 5\r\n\r\nabcdeGET / HTTP/1.1\r\n", True),  # pipelined bytes after it
    (HEAD + b"Content-Length: 99999999\r\n\r\n", True),  # over the limit: the app's 413 at once
    (HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n", True),  # framing gunicorn refuses
    (HEAD + b"Content-Length: -1\r\n\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", False),  # unfinished chunked body
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n", False),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nTrailer: 1\r\n\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", True),  # invalid sizes: gunicorn's 400
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n-1\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"4000\r\n" + b"a" * 21000, True),  # over the limit
    (HEAD + b"Transfer-Encoding: gzip\r\n\r\n", True),  # gunicorn's 501
])
def test_a_request_is_handed_over_once_whole_or_refusable(data, whole):
    assert ready_to_parse(data, body_limit=16384) is whole


def test_the_workers_own_error_pages_are_json_under_the_api():
    head, _, body = error_page(408, "Request Timeout", "too slow", b"/api/search").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and b"X-Frame-Options: DENY" in head
    assert json.loads(body) == {"ok": False, "status": 408, "error": "Request Timeout",
                                "errors": [{"param": None, "message": "too slow"}]}
    assert b"text/plain" in error_page(408, "Request Timeout", "too slow", b"/")


class _Captured:
    """A socket that keeps what is sent to it."""

    def __init__(self):
        self.sent = b""

    def gettimeout(self):
        return 0.0

    def sendall(self, data):
        self.sent += data


@pytest.mark.parametrize("path, kind", [(b"/api/search", b"application/json"), (b"/", b"text/plain")])
def test_gunicorns_own_error_page_is_rendered_again_with_its_reason_phrase(path, kind):
    from gunicorn import util

    sock = _Captured()
    util.write_error(sock, 501, "Bad Request", "Unsupported transfer coding: 'br' & <more>")
    head, _, body = regenerated_page(sock.sent, path).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 501 Not Implemented\r\n") and b"X-Frame-Options: DENY" in head
    assert b"Content-Type: " + kind in head
    if kind == b"application/json":
        assert json.loads(body) == {"ok": False, "status": 501, "error": "Not Implemented", "errors": [
            {"param": None, "message": "Unsupported transfer coding: 'br' & <more>"}]}


def test_the_request_path_is_read_from_the_request_line():
    assert request_path(b"GET /api/search?q=a HTTP/1.1\r\nHost: x\r\n") == b"/api/search"
    assert request_path(b"\x16\x03\x01") == b"" and request_path(b"GET\r\n") == b""
