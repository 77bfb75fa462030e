import json

import numpy as np
import pytest

from service import open_corpus
from service.index.build import build_index
from service.config import IndexSettings
from service.corpus.reader import CorpusError
from service.retrieval.retriever import Retriever
from service.index.build import StaleIndex
from service.index.store import FORMAT_VERSION, IndexFault, current_version, list_versions
from conftest import segment_file


def test_round_trip_gives_identical_results(seed_retriever):
    again = Retriever.open(seed_retriever.stored.path.parent)
    q = "BT write-down against the London contract"
    a, b = seed_retriever.search(q, 10), again.search(q, 10)
    assert [(h.passage_id, h.score, h.text) for h in a.hits] == [(h.passage_id, h.score, h.text) for h in b.hits]
    assert isinstance(again.stored.segments[0].arrays.docs, np.memmap)


def test_index_files_are_plain_arrays_and_json(seed_retriever):
    version = seed_retriever.stored.path
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION and manifest["n_sources"] == 5
    assert not list(version.glob("*.pkl"))
    for f in version.rglob("*.npy"):
        np.load(f, allow_pickle=False)


def test_hits_are_exact_slices_with_source_ids(seed_retriever, seed_articles):
    texts = {a.source_id: a.text for a in seed_articles}
    for hit in seed_retriever.search("Lorenzo trusts CSC contract", 20).hits:
        assert texts[hit.source_id][hit.start_char:hit.end_char] == hit.text
        assert hit.passage_id.startswith(hit.source_id + "#")


def test_stale_index_is_rebuilt_or_refused(make_corpus, tmp_path):
    folder = make_corpus({"a.txt": "Apples are red.", "b.txt": "Bananas are yellow."})
    idx = tmp_path / "idx"
    open_corpus(folder, idx)
    (folder / "b.txt").write_text("Bananas are green when unripe.")
    with pytest.raises(StaleIndex, match="corpus has changed"):
        open_corpus(folder, idx, rebuild="never")
    (folder / "b.txt").write_text("Bananas are yellow.")
    with pytest.raises(StaleIndex, match="other settings"):
        open_corpus(folder, idx, settings=IndexSettings(k1=1.5), rebuild="never")
    (folder / "b.txt").write_text("Bananas are green when unripe.")
    fresh = open_corpus(folder, idx)  # auto: rebuilds
    assert fresh.search("green", 1).hits[0].source_id == "b"


def test_failed_build_leaves_the_last_good_index(make_corpus, tmp_path):
    folder = make_corpus({"a.txt": "Apples are red."})
    idx = tmp_path / "idx"
    build_index(folder, idx, IndexSettings())
    before = current_version(idx)
    (folder / "bad.txt").write_bytes(b"\xff\xfe bad")
    with pytest.raises(CorpusError, match="bad.txt"):
        build_index(folder, idx, IndexSettings())
    assert current_version(idx) == before
    assert Retriever.open(idx).search("apples", 1).hits[0].source_id == "a"


def test_corruption_is_detected(make_corpus, tmp_path):
    idx = tmp_path / "idx"
    build_index(make_corpus({"a.txt": "Apples are red."}), idx, IndexSettings())
    weights = segment_file(current_version(idx), "tfs.npy")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(IndexFault, match="tfs.npy: checksum mismatch"):
        Retriever.open(idx)


def test_old_versions_are_pruned_but_previous_is_kept(make_corpus, tmp_path):
    idx = tmp_path / "idx"
    folder = make_corpus({"a.txt": "Apples are red."})
    for _ in range(4):
        build_index(folder, idx, IndexSettings())
    assert len(list_versions(idx)) == 2


def test_staging_and_publishing_happen_under_the_build_lock(make_corpus, tmp_path, monkeypatch):
    """A second builder cannot take the lock while a version is staged, so
    published names only move forward and no build prunes another's files."""
    import fcntl

    import service.index.build as build_module

    folder = make_corpus({"a.txt": "Alpha beta gamma. Delta epsilon."})
    idx = tmp_path / "idx"
    seen = []
    real_new_staging = build_module.new_staging

    def checking_new_staging(index_dir):
        with open(index_dir / ".build.lock", "a") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                seen.append("locked")
            else:
                seen.append("free")
        return real_new_staging(index_dir)

    monkeypatch.setattr(build_module, "new_staging", checking_new_staging)
    build_index(folder, idx, IndexSettings(), progress=False)
    assert seen == ["locked"]
    with open(idx / ".build.lock", "a") as other:  # released afterwards
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
