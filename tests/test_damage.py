"""Damage that checksums cannot see (values rewritten with their checksums)
is refused when a version is loaded, never reaching a compiled kernel."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from service.config import IndexSettings
from service.index.build import build_index
from service.index.store import IndexFault, load_version
from conftest import segment_file


def rewrite(version: Path, name: str, change) -> None:
    """Change array ``name`` in place and give the manifest its new checksum."""
    path = segment_file(version, f"{name}.npy")
    values = np.load(path).copy()
    change(values)
    np.save(path, values)
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["files"][path.relative_to(version).as_posix()] = {"bytes": path.stat().st_size,
                                    "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    (version / "manifest.json").write_text(json.dumps(manifest))


def _set(index, value):
    def change(a):
        a[index] = value
    return change


@pytest.mark.parametrize("name, change, reason", [
    ("ptr", _set(1, 10**6), "posting offsets"),
    ("ptr", _set(-2, -5), "posting offsets"),
    ("docs", _set(0, 10**6), "out of range"),
    ("docs", _set(0, -1), "out of range"),
    ("tfs", _set(0, 0), "not positive"),
    ("p_source", _set(0, 99), "source out of range"),
    ("p_end", _set(0, 10**6), "span is outside"),
    ("p_start", _set(0, -3), "span is outside"),
    ("text_offsets", _set(-1, 10**6), "text offsets"),
    ("vector_scales", _set(0, np.nan), "scale is not finite"),
    ("sentence_scales", _set(0, np.nan), "sentence vector's scale is not finite"),
    ("sentence_ptr", _set(1, 10**6), "offsets go back"),
    ("sentence_ptr", _set(-1, 10**6), "sentence vectors do not fit"),
])
def test_values_a_kernel_would_trip_on_are_refused_at_load(make_corpus, tmp_path, name, change, reason):
    folder = make_corpus({"a.txt": "Apples are red. They grow on trees.", "b.txt": "Bananas are yellow."})
    version = build_index(folder, tmp_path / "idx", IndexSettings())[0]
    load_version(version)  # sound as built
    if not segment_file(version, f"{name}.npy").exists():
        pytest.skip(f"this index has no {name}")
    rewrite(version, name, change)
    with pytest.raises(IndexFault, match=reason):
        load_version(version)


def test_a_response_never_carries_a_non_finite_score(seed_retriever, monkeypatch):
    """Whatever goes wrong below it, the search document has only finite scores."""
    from dataclasses import replace

    from service.qa.ask import search_json

    real = seed_retriever.search_terms

    def poisoned(*args, **kwargs):
        result = real(*args, **kwargs)
        hits = list(result.hits)
        hits[0] = replace(hits[0], score=float("nan"))
        hits[1] = replace(hits[1], rank_score=float("inf"))
        return replace(result, hits=hits)

    monkeypatch.setattr(seed_retriever, "search_terms", poisoned)
    doc = search_json(seed_retriever, "BT London write-down", 5)
    json.dumps(doc, allow_nan=False)  # raises on NaN or infinity
    assert [h["rank"] for h in doc["hits"]] == list(range(1, len(doc["hits"]) + 1)) and doc["hits"]


def test_values_found_sound_are_checked_again_only_once_a_file_changes(make_corpus, tmp_path, monkeypatch):
    """A start-up trusts the record of files read whole and values checked
    (a segment every version links is checked once); a file rewritten
    since, its checksum with it, is checked again and refused."""
    import os

    from service.index import checks, readings, store

    folder = make_corpus({"a.txt": "Apples are red. They grow on trees.", "b.txt": "Bananas are yellow."})
    idx = tmp_path / "idx"
    version = build_index(folder, idx, IndexSettings())[0]
    for f in idx.rglob("*"):  # written well before they are read (a file just written is not trusted)
        os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns - 10 * store.RACY_NS))
    calls = []
    real_values, real_readings = checks._value_problem, readings.reading_problem
    monkeypatch.setattr(checks, "_value_problem", lambda *a: calls.append("values") or real_values(*a))
    monkeypatch.setattr("service.index.segments.reading_problem",
                        lambda *a: calls.append("readings") or real_readings(*a))
    store.load_best(idx, remember=True)
    assert calls == ["values", "readings"]
    del calls[:]
    store.load_best(idx, remember=True)
    assert calls == []
    rewrite(version, "docs", _set(0, 10**6))
    with pytest.raises(IndexFault, match="out of range"):
        store.load_best(idx, remember=True)
