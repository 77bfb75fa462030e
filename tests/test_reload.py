import pytest

from service.index.build import build_index
from service.config import IndexSettings
from service.retrieval.reload import IndexHolder
from service.retrieval.retriever import Retriever
from service.index.store import POINTER, publish
from conftest import segment_file


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def setup(make_corpus, tmp_path):
    folder = make_corpus({"a.txt": "Apples are red."})
    idx = tmp_path / "idx"
    build_index(folder, idx, IndexSettings())
    clock = Clock()
    holder = IndexHolder(Retriever.open(idx), idx, interval=1.0, clock=clock)
    return folder, idx, clock, holder


def test_new_version_is_picked_up_after_the_interval(setup):
    folder, idx, clock, holder = setup
    first = holder.version
    (folder / "b.txt").write_text("Bananas are yellow.")
    new = build_index(folder, idx, IndexSettings())[0]
    assert holder.get().source("b") is None  # not checked yet
    clock.now = 1.5
    assert holder.get().source("b") is not None and holder.version == new.name > first


def test_corrupt_new_version_is_refused_and_the_old_one_keeps_serving(setup, caplog):
    folder, idx, clock, holder = setup
    first = holder.version
    (folder / "b.txt").write_text("Bananas are yellow.")
    new = build_index(folder, idx, IndexSettings())[0]
    segment_file(new, "tfs.npy").write_bytes(b"garbage")
    clock.now = 2
    assert holder.get().search("apples", 1).hits[0].source_id == "a"
    assert holder.version == first and "index version rejected" in caplog.text
    assert not holder.check()  # remembered as bad, not reloaded again


def test_version_never_moves_backwards(setup, make_corpus):
    folder, idx, clock, holder = setup
    old = holder.version
    (folder / "b.txt").write_text("Bananas are yellow.")
    build_index(folder, idx, IndexSettings())
    clock.now = 2
    holder.get()
    newer = holder.version
    publish(idx, old)  # someone points CURRENT back at the old version
    clock.now = 4
    holder.get()
    assert holder.version == newer != old


def test_unreadable_pointer_keeps_serving(setup):
    folder, idx, clock, holder = setup
    (idx / POINTER).write_text("../../etc\n")
    clock.now = 2
    assert holder.get().search("apples", 1).hits


def test_the_app_serves_a_newly_published_index_and_survives_a_corrupt_one(make_corpus, tmp_path):
    from service.config import Config
    from service.index.build import ensure_index
    from service.retrieval.retriever import Retriever
    from service.web.app import create_app

    folder = make_corpus({"a.txt": "Apples are red."}, "live")
    idx = tmp_path / "live-idx"
    config = Config(corpus=folder, index_dir=idx, reload_interval=0.0)
    client = create_app(config, Retriever(ensure_index(config))).test_client()
    first = client.get("/api/search?q=bananas")
    assert first.get_json()["hits"] == []
    (folder / "b.txt").write_text("Bananas are yellow.")
    new = build_index(folder, idx, IndexSettings())[0]
    second = client.get("/api/search?q=bananas")
    assert second.get_json()["hits"][0]["source_id"] == "b"
    assert second.headers["X-Index-Version"] == new.name > first.headers["X-Index-Version"]
    (folder / "c.txt").write_text("Cherries are dark.")
    bad = build_index(folder, idx, IndexSettings())[0]
    segment_file(bad, "docs.npy").write_bytes(b"\x93NUMPY broken")
    third = client.get("/api/search?q=bananas")
    assert third.status_code == 200 and third.headers["X-Index-Version"] == new.name
    assert client.get("/readyz").get_json()["index"]["version"] == new.name


def test_a_worker_behind_a_corrupt_publish_catches_up_with_the_last_good_version(setup):
    folder, idx, clock, holder = setup  # holds the first version, like a freshly forked worker
    (folder / "b.txt").write_text("Bananas are yellow.")
    good = build_index(folder, idx, IndexSettings())[0]
    (folder / "c.txt").write_text("Cherries are dark.")
    bad = build_index(folder, idx, IndexSettings())[0]
    segment_file(bad, "tfs.npy").write_bytes(b"garbage")
    clock.now = 2
    assert holder.get().source("b") is not None and holder.version == good.name


def test_reloads_leave_no_older_analyzer_alive(setup):
    """A worker reloading its index keeps nothing of the versions it
    replaced: the passage caches of the answer and the highlighter belong
    to the index they read, and go with it."""
    import gc
    import weakref

    from service.qa.ask import search_json

    folder, idx, clock, holder = setup
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


def test_health_checks_run_the_reload_check_and_name_the_worker_opaquely(make_corpus, tmp_path):
    import os

    from service.config import Config
    from service.web.app import create_app

    folder = make_corpus({"a.txt": "Apples are red."})
    idx = tmp_path / "idx"
    build_index(folder, idx, IndexSettings())
    client = create_app(Config(index_dir=idx, reload_interval=0, scrub_interval=0), Retriever.open(idx)).test_client()
    (folder / "b.txt").write_text("Bananas are yellow.")
    new = build_index(folder, idx, IndexSettings())[0]
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first.headers["X-Index-Version"] == new.name  # no search needed to notice it
    tag = first.headers["X-Served-By"]
    assert tag == second.headers["X-Served-By"] and str(os.getpid()) not in tag
