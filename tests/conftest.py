"""Shared fixtures: every test builds its indexes under its own temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import open_corpus
from service.config import BUNDLED_CORPUS
from service.corpus.reader import load_corpus
from service.retrieval.retriever import Retriever


@pytest.fixture(autouse=True)
def _index_root(tmp_path_factory, monkeypatch):
    """Never touch the user's cache: indexes go to a per-test temp dir."""
    monkeypatch.setenv("GROUNDEDQA_INDEX_ROOT", str(tmp_path_factory.mktemp("indexes")))


@pytest.fixture(scope="session")
def seed_articles():
    return load_corpus(BUNDLED_CORPUS).articles


@pytest.fixture(scope="session")
def seed_retriever(tmp_path_factory) -> Retriever:
    return open_corpus(BUNDLED_CORPUS, tmp_path_factory.mktemp("seed-index"))


@pytest.fixture
def make_corpus(tmp_path):
    """Write {name: text-or-bytes} into a fresh folder and return its path."""

    def make(files: dict[str, str | bytes], name: str = "c") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for fname, content in files.items():
            path = folder / fname
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return folder

    return make


@pytest.fixture
def flip_byte():
    """Flip a byte of a version's ``tfs.npy`` in place: damage that only
    its checksum shows."""

    def flip(version: Path) -> None:
        with open(segment_file(version, "tfs.npy"), "r+b") as fh:
            fh.seek(-3, 2)
            byte = fh.read(1)
            fh.seek(-3, 2)
            fh.write(bytes([byte[0] ^ 0xFF]))

    return flip


@pytest.fixture(scope="session")
def app(seed_retriever):
    """The Flask app over the bundled corpus, with the default limits."""
    from service.web.app import create_app
    from service.config import Config

    return create_app(Config(), seed_retriever)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The real ``python -m service serve`` of the bundled corpus on a free
    loopback port; yields its base URL."""
    yield from _serve(tmp_path_factory, BUNDLED_CORPUS)


#: A small archive with titles and dates (front matter), for the browser.
ARCHIVE = {f"story{i}.txt": (f"---\ntitle: Harbour story {i}\ndate: 2014-0{1 + i % 9}-1{i % 10}\n---\n\n"
                             f"The harbour ferry timetable changed in week {i}. The council said the ferry "
                             f"would run {'twice' if i % 2 else 'three times'} a day.\n\n"
                             f"Harbour traders met on day {i} to discuss the ferry and the budget.\n")
           for i in range(14)}


@pytest.fixture(scope="session")
def live_archive(tmp_path_factory):
    """The real server over :data:`ARCHIVE`; yields its base URL."""
    folder = tmp_path_factory.mktemp("archive")
    for name, text in ARCHIVE.items():
        (folder / name).write_text(text, encoding="utf-8")
    yield from _serve(tmp_path_factory, folder)


def _serve(tmp_path_factory, corpus: Path):
    """Run ``python -m service serve`` over ``corpus``, yield its base URL,
    then stop it and check that it stopped cleanly.

    Readiness is awaited by polling ``/readyz`` up to a deadline (the index
    is built first, in the gunicorn master), never by a fixed sleep.
    """
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = tmp_path_factory.mktemp("live-server")
    log_path = work / "server.log"
    cmd = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "2", "--corpus", str(corpus), "--index", str(work / "index")]
    env = {**os.environ, "GROUNDEDQA_INDEX_ROOT": str(work), "GROUNDEDQA_REQUEST_TIMEOUT": "2"}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=Path(__file__).resolve().parent.parent)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"serve exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serve not ready within 60 s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # A graceful stop: no worker aborted on its way out (onnxruntime's native
    # state, inherited across the fork, does so unless the worker skips it).
    log = log_path.read_text(errors="replace")
    assert "SIGABRT" not in log and "terminate called" not in log, log[-2000:]


def segment_file(version: Path, name: str) -> Path:
    """File ``name`` of the first segment of index version ``version``."""
    import json

    manifest = json.loads((Path(version) / "manifest.json").read_text())
    return Path(version) / manifest["segments"][0]["name"] / name


@pytest.fixture(name="segment_file")
def _segment_file():
    return segment_file
