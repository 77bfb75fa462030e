"""``python -m service serve``: options, errors, and the real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

import service.web.serve
from service.cli import main
from service.config import Config
from service.embedding.shared import shared_judge
from service.web.serve import GunicornApp, gunicorn_options


def fetch(url: str, data: bytes | None = None, headers: dict | None = None, method: str | None = None):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_options_come_from_the_environment_and_preload_the_app():
    config = Config.from_env({"GROUNDEDQA_HOST": "::1", "GROUNDEDQA_PORT": "9001", "GROUNDEDQA_WORKERS": "3"})
    options = gunicorn_options(config)
    assert options["bind"] == "[::1]:9001" and options["workers"] == 3 and options["preload_app"] is True
    assert gunicorn_options(Config())["bind"] == "127.0.0.1:8000"


def test_index_settings_come_from_the_environment_too():
    config = Config.from_env({"GROUNDEDQA_K1": "1.5", "GROUNDEDQA_STEMMING": "no",
                              "GROUNDEDQA_MAX_WORDS": "", "GROUNDEDQA_INDEX_DIR": "/tmp/x"})
    assert config.settings.k1 == 1.5 and config.settings.stemming is False
    assert config.settings.max_words == Config().settings.max_words  # empty: the default
    assert str(config.index_dir) == "/tmp/x"
    with pytest.raises(ValueError, match="GROUNDEDQA_B: expected a number"):
        Config.from_env({"GROUNDEDQA_B": "high"})


def test_flags_override_the_environment_and_the_index_is_loaded_before_gunicorn_runs(monkeypatch, make_corpus):
    folder = make_corpus({"a.txt": "Apples are red."})
    started = []
    shared_judge.cache_clear()

    def fake_run(self):
        started.append((self.app, self.cfg))

    monkeypatch.setattr(GunicornApp, "run", fake_run)
    monkeypatch.setenv("GROUNDEDQA_PORT", "9001")
    monkeypatch.setenv("GROUNDEDQA_WORKERS", "5")
    assert main(["serve", "--corpus", str(folder), "--port", "9002"]) == 0
    [(app, cfg)] = started
    assert cfg.bind == ["127.0.0.1:9002"] and cfg.workers == 5 and cfg.preload_app
    retriever = app.extensions["groundedqa"].retriever
    assert retriever.n_sources == 1
    # The master loads the answer judge before forking, so workers share it;
    # each forked worker opens its encoder and judge sessions before its first request.
    judge = shared_judge()
    assert shared_judge.cache_info().hits >= 1, "the master did not load the judge"
    child = os.fork()
    if child == 0:  # a stand-in for a gunicorn worker
        cfg.post_fork(None, None)
        mine = os.getpid()
        os._exit(0 if retriever.encoder._session_pid == mine and judge._session_pid == mine else 1)
    assert os.waitpid(child, 0)[1] == 0


def test_a_new_worker_catches_up_with_the_published_index_before_its_first_request(make_corpus, tmp_path):
    from service.index.build import build_index
    from service.retrieval.retriever import Retriever
    from service.web.app import create_app
    from service.web.serve import warm_up

    folder, idx = make_corpus({"a.txt": "Apples are red."}), tmp_path / "idx"
    build_index(folder, idx, Config().settings)
    app = create_app(Config(index_dir=idx, reload_interval=0, scrub_interval=0), Retriever.open(idx))
    (folder / "b.txt").write_text("Bananas are yellow.")
    newer = build_index(folder, idx, Config().settings)[0]
    warm_up(app)(None, None)  # what gunicorn runs in a worker it forks from the master
    assert app.extensions["groundedqa"].holder.version == newer.name


def test_a_respawned_worker_reads_its_index_whole_before_its_first_request(make_corpus, tmp_path, flip_byte):
    # Arrays damaged in place after loading show in every worker's mappings
    # (docs.npy damaged so crashed each respawned worker on its first search).
    from types import SimpleNamespace

    from service.index.build import build_index
    from service.retrieval.retriever import Retriever
    from service.web.app import create_app
    from service.web.serve import warm_up

    folder, idx = make_corpus({"a.txt": "Apples are red."}), tmp_path / "idx"
    old = build_index(folder, idx, Config().settings)[0]
    (folder / "b.txt").write_text("Bananas are yellow.")
    live = build_index(folder, idx, Config().settings)[0]
    app = create_app(Config(index_dir=idx, workers=2, reload_interval=0, scrub_interval=0), Retriever.open(idx))
    holder = app.extensions["groundedqa"].holder
    flip_byte(live)
    warm_up(app)(None, SimpleNamespace(age=2))  # one of the first workers: the master has just read it all
    assert holder.version == live.name
    warm_up(app)(None, SimpleNamespace(age=3))  # a worker forked in place of one that died
    assert holder.version == old.name and "checksum mismatch" in holder.problem


def test_every_serve_flag_also_comes_from_the_environment(monkeypatch, make_corpus, tmp_path):
    folder = make_corpus({"a.txt": "Apples are red.", "b.txt": "Bananas are yellow."})
    started = []
    monkeypatch.setattr(GunicornApp, "run", lambda self: started.append((self.app, self.cfg)))
    for name, value in {"HOST": "::1", "PORT": "9003", "WORKERS": "4", "CORPUS": str(folder),
                        "INDEX_DIR": str(tmp_path / "env-index")}.items():
        monkeypatch.setenv(f"GROUNDEDQA_{name}", value)
    assert main(["serve"]) == 0
    [(app, cfg)] = started
    assert cfg.bind == ["[::1]:9003"] and cfg.workers == 4
    retriever = app.extensions["groundedqa"].retriever
    assert retriever.n_sources == 2 and retriever.stored.path.parent == tmp_path / "env-index"


@pytest.mark.parametrize("argv, fragment", [
    (["--port", "70000"], "expected a port number from 0 to 65535"),
    (["--port", "http"], "expected a port number"),
    (["--workers", "0"], "must be at least 1"),
])
def test_bad_flags_are_usage_errors(argv, fragment):
    proc = subprocess.run([sys.executable, "-m", "service", "serve", *argv], capture_output=True, text=True)
    assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr


def test_a_bad_corpus_stops_serve_before_it_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(service.web.serve, "GunicornApp", None)  # must never be reached
    assert main(["serve", "--corpus", str(tmp_path / "missing")]) == 1


def test_the_real_server_answers_with_the_documented_shapes(live_server):
    status, headers, body = fetch(live_server + "/readyz")
    ready = json.loads(body)
    assert status == 200 and ready["index"]["sources"] == 5
    status, headers, body = fetch(live_server + "/api/search?q=BT+London+write-down&k=2")
    doc = json.loads(body)
    assert status == 200 and doc["hits"][0]["source_id"] == "001_6b3e6b50f46c418e" and len(doc["hits"]) == 2
    assert headers["X-Content-Type-Options"] == "nosniff" and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    status, _, body = fetch(live_server + "/api/search", data=b'{"q": "trusts", "k": 0}',
                            headers={"Content-Type": "application/json"})
    assert status == 400 and json.loads(body)["errors"][0]["param"] == "k"
    status, headers, body = fetch(live_server + "/api/search", method="DELETE")
    assert status == 405 and json.loads(body)["status"] == 405 and "POST" in headers["Allow"]
    status, _, body = fetch(live_server + "/api/search", data=b"[" * 20000, headers={"Content-Type": "application/json"})
    assert status == 413 and json.loads(body)["ok"] is False


def test_url_length_limit_is_the_apps_json_414_on_the_real_server(live_server):
    import urllib.error
    import urllib.parse
    import urllib.request

    # 1,000 non-Latin characters: ~9,000 bytes percent-encoded, over gunicorn's
    # default request-line cap, under the app's 12,288-byte URL limit.
    q = urllib.parse.quote("ж" * 999 + "?")
    with urllib.request.urlopen(f"{live_server}/api/search?q={q}", timeout=10) as resp:
        assert resp.status == 200
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{live_server}/api/search?q={'a' * 13000}", timeout=10)
    assert err.value.code == 414
    doc = json.loads(err.value.read())
    assert doc["status"] == 414 and "the limit is 12288 bytes" in doc["errors"][0]["message"]


def _raw_response_head(base: str, request: bytes) -> tuple[int, dict[str, str]]:
    """Send raw bytes (a request no HTTP client would send) and parse the
    status and headers of the answer."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status_line, *lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    return int(status_line.split()[1]), dict(line.split(": ", 1) for line in lines)


def _raw_exchange(base: str, request: bytes) -> bytes:
    """Send raw bytes and read all the server answers until it closes."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),  # header over gunicorn's cap
    (b"G@T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # malformed request line
])
def test_errors_gunicorn_answers_itself_carry_the_security_headers(live_server, request_bytes, status):
    from service.web.app import SECURITY_HEADERS

    got, headers = _raw_response_head(live_server, request_bytes)
    assert got == status
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value


@pytest.mark.parametrize("request_bytes, status, phrase", [
    (b"GET /api/search?q=a HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431,
     "Request Header Fields Too Large"),
    (b"GET /api/search?q=a HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400, "Bad Request"),
    (b"POST /api/search HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n{}", 417,
     "Expectation Failed"),
    (b"POST /api/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br\r\n\r\n", 501, "Not Implemented"),
])
def test_errors_gunicorn_answers_itself_under_the_api_are_the_apis_json(live_server, request_bytes, status,
                                                                        phrase):
    head, _, body = _raw_exchange(live_server, request_bytes).partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} {phrase}\r\n".encode())
    assert b"Content-Type: application/json" in head and b"X-Frame-Options: DENY" in head
    doc = json.loads(body)
    assert doc["ok"] is False and doc["status"] == status and doc["error"] == phrase
    assert [e["param"] for e in doc["errors"]] == [None] and doc["errors"][0]["message"]


def test_requests_still_arriving_hold_no_worker_and_end_in_a_408(live_server):
    """More unfinished requests than workers (a body shorter than its
    Content-Length, an unfinished chunked body): /healthz still answers at
    once, and each gets the JSON 408 after the request timeout (2 s here)."""
    import socket
    import time
    from urllib.parse import urlsplit

    url = urlsplit(live_server)
    heads = [b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: 100\r\n\r\n{\"q\": ",
             b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"q\":\r\n"] * 3
    socks = [socket.create_connection((url.hostname, url.port), timeout=10) for _ in heads]
    t0 = time.monotonic()
    for s, head in zip(socks, heads):
        s.sendall(head)
    status, _, _ = fetch(live_server + "/healthz")
    assert status == 200 and time.monotonic() - t0 < 1.0
    for s in socks:
        with s:
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ") and json.loads(body)["status"] == 408
    assert time.monotonic() - t0 < 6


def test_a_tls_hello_on_the_http_port_is_a_400_at_once(live_server):
    status, headers = _raw_response_head(live_server, bytes.fromhex("16030100a5010000a10303") + bytes(40))
    assert status == 400 and headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("size", [b"zz", b"-1", b"2"])
def test_invalid_chunked_encoding_is_the_apis_400(live_server, size):
    request = (b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + size + b"\r\n{\"q\": \"BT\"}\r\n0\r\n\r\n")
    head, _, body = _raw_exchange(live_server, request).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"HTTP/1.1" not in body  # one answer, then closed
    doc = json.loads(body)
    assert doc["status"] == 400 and "chunked" in doc["errors"][0]["message"]
