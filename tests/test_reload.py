import threading
import time

import pytest

from service.index.build import build_index
from service.config import IndexSettings
from service.retrieval.reload import IndexHolder
from service.retrieval.retriever import Retriever
from service.index.store import POINTER, publish, sequence
from conftest import segment_file


@pytest.fixture
def setup(make_corpus, tmp_path):
    """An index and a holder of it with no background reload: tests call check()."""
    folder = make_corpus({"a.txt": "Apples are red."})
    idx = tmp_path / "idx"
    build_index(folder, idx, IndexSettings())
    holder = IndexHolder(Retriever.open(idx), idx, interval=0)
    return folder, idx, holder


def test_a_new_version_is_picked_up_in_the_background(make_corpus, tmp_path):
    folder = make_corpus({"a.txt": "Apples are red."})
    idx = tmp_path / "idx"
    first = build_index(folder, idx, IndexSettings())[0]
    holder = IndexHolder(Retriever.open(idx), idx, interval=0.05)
    assert holder.get().source("b") is None  # starts the reload thread
    (folder / "b.txt").write_text("Bananas are yellow.")
    new = build_index(folder, idx, IndexSettings())[0]
    deadline = time.monotonic() + 10
    while holder.version != new.name and time.monotonic() < deadline:
        time.sleep(0.02)
    assert holder.get().source("b") is not None and sequence(new.name) > sequence(first.name)


def test_no_request_waits_for_a_new_version_to_be_verified(make_corpus, tmp_path, monkeypatch):
    """The reload thread verifies a new version while requests go on with
    the one in hand: get() never blocks on it."""
    from service.retrieval import reload

    folder = make_corpus({"a.txt": "Apples are red."})
    idx = tmp_path / "idx"
    first = build_index(folder, idx, IndexSettings())[0]
    verifying, release = threading.Event(), threading.Event()
    real_load = reload.load_version

    def slow_load(version, verify=True):
        verifying.set()
        release.wait(30)
        return real_load(version, verify)

    monkeypatch.setattr(reload, "load_version", slow_load)
    holder = IndexHolder(Retriever.open(idx), idx, interval=0.05)
    holder.get()
    (folder / "b.txt").write_text("Bananas are yellow.")
    new = build_index(folder, idx, IndexSettings())[0]
    assert verifying.wait(10)
    assert holder.get().stored.path == first  # answered at once, from the index in hand
    release.set()
    deadline = time.monotonic() + 10
    while holder.version != new.name and time.monotonic() < deadline:
        time.sleep(0.02)
    assert holder.version == new.name


def test_corrupt_new_version_is_refused_and_the_old_one_keeps_serving(setup, caplog):
    folder, idx, holder = setup
    first = holder.version
    (folder / "b.txt").write_text("Bananas are yellow.")
    new = build_index(folder, idx, IndexSettings())[0]
    segment_file(new, "tfs.npy").write_bytes(b"garbage")
    assert not holder.check()
    assert holder.get().search("apples", 1).hits[0].source_id == "a"
    assert holder.version == first and "index version rejected" in caplog.text
    caplog.clear()
    assert not holder.check() and not caplog.text  # remembered as refused, not loaded again


def test_version_never_moves_backwards(setup, make_corpus):
    folder, idx, holder = setup
    old = holder.version
    (folder / "b.txt").write_text("Bananas are yellow.")
    build_index(folder, idx, IndexSettings())
    assert holder.check()
    newer = holder.version
    publish(idx, old)  # someone points CURRENT back at the old version
    assert not holder.check()
    assert holder.version == newer != old


def test_unreadable_pointer_keeps_serving(setup):
    folder, idx, holder = setup
    (idx / POINTER).write_text("../../etc\n")
    assert not holder.check()
    assert holder.get().search("apples", 1).hits


def test_the_app_serves_a_newly_published_index_and_survives_a_corrupt_one(make_corpus, tmp_path):
    from service.config import Config
    from service.index.build import ensure_index
    from service.retrieval.retriever import Retriever
    from service.web.app import create_app

    folder = make_corpus({"a.txt": "Apples are red."}, "live")
    idx = tmp_path / "live-idx"
    config = Config(corpus=folder, index_dir=idx, reload_interval=0)
    app = create_app(config, Retriever(ensure_index(config)))
    client, holder = app.test_client(), app.extensions["groundedqa"].holder
    first = client.get("/api/search?q=bananas")
    assert first.get_json()["hits"] == []
    (folder / "b.txt").write_text("Bananas are yellow.")
    new = build_index(folder, idx, IndexSettings())[0]
    assert holder.check()
    second = client.get("/api/search?q=bananas")
    assert second.get_json()["hits"][0]["source_id"] == "b"
    assert second.headers["X-Index-Version"] == new.name > first.headers["X-Index-Version"]
    (folder / "c.txt").write_text("Cherries are dark.")
    bad = build_index(folder, idx, IndexSettings())[0]
    segment_file(bad, "docs.npy").write_bytes(b"\x93NUMPY broken")
    assert not holder.check()
    third = client.get("/api/search?q=bananas")
    assert third.status_code == 200 and third.headers["X-Index-Version"] == new.name
    assert client.get("/readyz").get_json()["index"]["version"] == new.name


def test_a_worker_behind_a_corrupt_publish_catches_up_with_the_last_good_version(setup):
    folder, idx, holder = setup  # holds the first version, like a freshly forked worker
    (folder / "b.txt").write_text("Bananas are yellow.")
    good = build_index(folder, idx, IndexSettings())[0]
    (folder / "c.txt").write_text("Cherries are dark.")
    bad = build_index(folder, idx, IndexSettings())[0]
    segment_file(bad, "tfs.npy").write_bytes(b"garbage")
    assert holder.check()
    assert holder.get().source("b") is not None and holder.version == good.name


def test_reloads_leave_no_older_analyzer_alive(setup):
    """A worker reloading its index keeps nothing of the versions it
    replaced: the passage caches of the answer and the highlighter belong
    to the index they read, and go with it."""
    import gc
    import weakref

    from service.qa.ask import search_json

    folder, idx, holder = setup
    analyzers = []
    for i in range(20):
        (folder / f"n{i}.txt").write_text(f"Acme hired {i + 2} suppliers in Leeds. Its chief said so in March.")
        build_index(folder, idx, IndexSettings(), progress=False)
        assert holder.check()
        retriever = holder.get()
        doc = search_json(retriever, "How many suppliers did Acme hire in Leeds?", 10)
        assert doc["answer"] is not None and "<mark>" in doc["hits"][0]["highlights"]
        analyzers.append(weakref.ref(retriever.analyzer))
    del retriever
    gc.collect()
    assert [ref() is not None for ref in analyzers] == [False] * 19 + [True]


def test_health_checks_report_a_new_version_with_no_search_and_name_the_worker_opaquely(make_corpus, tmp_path):
    import os

    from service.config import Config
    from service.web.app import create_app

    folder = make_corpus({"a.txt": "Apples are red."})
    idx = tmp_path / "idx"
    build_index(folder, idx, IndexSettings())
    client = create_app(Config(index_dir=idx, reload_interval=0.05, scrub_interval=0),
                        Retriever.open(idx)).test_client()
    client.get("/healthz")
    (folder / "b.txt").write_text("Bananas are yellow.")
    new = build_index(folder, idx, IndexSettings())[0]
    deadline = time.monotonic() + 10
    while (first := client.get("/healthz")).headers["X-Index-Version"] != new.name:
        assert time.monotonic() < deadline, "the new version was never reported"
        time.sleep(0.02)
    second = client.get("/healthz")
    tag = first.headers["X-Served-By"]
    assert tag == second.headers["X-Served-By"] and str(os.getpid()) not in tag


def test_the_version_header_names_the_index_that_answered(make_corpus, tmp_path):
    """A reload that lands while a request is being answered (the reload
    thread swaps at any moment) must not relabel that answer: the request
    keeps the retriever it began with, and X-Index-Version names it."""
    from service.config import Config
    from service.qa.ask import search_json
    from service.web.app import create_app

    folder = make_corpus({"a.txt": "Apples are red."})
    idx = tmp_path / "idx"
    first = build_index(folder, idx, IndexSettings())[0]
    used = []

    def search_during_a_reload(retriever, *args, **kwargs):
        (folder / "b.txt").write_text("Apples are green.")
        build_index(folder, idx, IndexSettings())
        assert holder.check()  # the swap lands mid-request
        used.append(retriever.stored.path.name)
        return search_json(retriever, *args, **kwargs)

    app = create_app(Config(index_dir=idx, reload_interval=0, scrub_interval=0), Retriever.open(idx),
                     search=search_during_a_reload)
    holder = app.extensions["groundedqa"].holder
    resp = app.test_client().get("/api/search?q=apples")
    assert resp.status_code == 200 and used == [first.name]
    assert resp.headers["X-Index-Version"] == first.name != holder.version
    assert {hit["source_id"] for hit in resp.json["hits"]} == {"a"}
