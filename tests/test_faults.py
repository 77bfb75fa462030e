"""Corpus and index faults: every bad file reported, no bad index served."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from service.index.build import build_index
from service.cli import main
from service.config import IndexSettings
from service.retrieval.retriever import Retriever
from service.index.store import IndexFault, POINTER, current_version, list_versions
from conftest import segment_file

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves it out

BAD_FILES = {
    "empty.txt": (b"", "empty file"),
    "binary.txt": (bytes(range(256)), "binary file"),
    "latin1.txt": ("Caf\xe9 society met in M\xe1laga.".encode("latin-1"), "not valid UTF-8"),
    "dup.txt": (b"One copy of the text.", "duplicate source ID 'dup'"),
    "dup.md": (b"Another copy of the text.", "duplicate source ID 'dup'"),
    "huge.txt": (b"Word. " * 400, "file is 2400 bytes, over the 2000-byte limit"),
}


@pytest.fixture
def messy_corpus(make_corpus, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("A secret outside the corpus.")
    folder = make_corpus({
        "good.txt": "Apples are red and grow on trees.",
        "bom_crlf.txt": "\ufeffPears are green.\r\n\r\nThey ripen late.\r\n".encode("utf-8"),
        **{name: data for name, (data, _) in BAD_FILES.items()},
    })
    (folder / "escape.txt").symlink_to(outside)
    return folder


def test_every_bad_file_is_named_and_the_index_is_unchanged(messy_corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GROUNDEDQA_MAX_FILE_BYTES", "2000")
    idx = tmp_path / "idx"
    good = messy_corpus.parent / "goodonly"
    good.mkdir()
    (good / "good.txt").write_text("Apples are red and grow on trees.")
    assert main(["index", "--corpus", str(good), "--index", str(idx)]) == 0
    before = current_version(idx)
    capsys.readouterr()

    assert main(["index", "--corpus", str(messy_corpus), "--index", str(idx), "--rebuild"]) == 1
    err = capsys.readouterr().err
    for name, (_, reason) in BAD_FILES.items():
        assert f"{name}: {reason}" in err
    assert "escape.txt: symbolic link pointing outside the corpus folder" in err
    assert "Traceback" not in err
    assert current_version(idx) == before and len(list_versions(idx)) == 1

    assert main(["index", "--corpus", str(messy_corpus), "--index", str(idx), "--skip-bad", "--rebuild"]) == 0
    out = capsys.readouterr().out
    # 9 files seen: good, bom_crlf, 6 bad ones, the link; accepted + rejected = seen.
    assert "indexed 2 articles" in out and "7 rejected of 9 seen" in out
    r = Retriever.open(idx)
    assert {r.search("pears ripen", 1).hits[0].source_id} == {"bom_crlf"}
    assert r.source("bom_crlf").text == "Pears are green.\n\nThey ripen late.\n"


def _two_versions(make_corpus, tmp_path):
    idx = tmp_path / "idx"
    folder = make_corpus({"a.txt": "Apples are red.", "b.txt": "Bananas are yellow."})
    old = build_index(folder, idx, IndexSettings())[0]
    (folder / "c.txt").write_text("Cherries are dark.")
    new = build_index(folder, idx, IndexSettings())[0]
    return idx, old, new


def _flip_byte(v: Path) -> None:
    f = segment_file(v, "tfs.npy")
    data = bytearray(f.read_bytes())
    data[len(data) // 2 + 1] ^= 0x01
    f.write_bytes(bytes(data))


def _truncate(v: Path) -> None:
    f = segment_file(v, "docs.npy")
    f.write_bytes(f.read_bytes()[:-4])


def _wrong_format(v: Path) -> None:
    m = json.loads((v / "manifest.json").read_text())
    m["format_version"] = 999
    (v / "manifest.json").write_text(json.dumps(m))


DAMAGE = {
    "flipped byte": (_flip_byte, "tfs.npy: checksum mismatch"),
    "truncated array": (_truncate, "docs.npy: size"),
    "missing manifest": (lambda v: (v / "manifest.json").unlink(), "missing manifest"),
    "wrong format version": (_wrong_format, "format version 999"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_live_version_falls_back_to_previous(kind, make_corpus, tmp_path, caplog):
    idx, old, new = _two_versions(make_corpus, tmp_path)
    damage, reason = DAMAGE[kind]
    damage(new)
    r = Retriever.open(idx)
    assert r.stored.path == old and r.n_sources == 2
    assert reason in caplog.text and "serving the previous version" in caplog.text


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_only_version_fails_with_one_clear_line(kind, make_corpus, tmp_path, capsys):
    idx = tmp_path / "idx"
    build_index(make_corpus({"a.txt": "Apples are red."}), idx, IndexSettings())
    damage, reason = DAMAGE[kind]
    damage(current_version(idx))
    with pytest.raises(IndexFault) as err:
        Retriever.open(idx)
    msg = str(err.value)
    assert "\n" not in msg and str(current_version(idx)) in msg and reason in msg


def test_pointer_to_missing_version_falls_back(make_corpus, tmp_path):
    idx, old, new = _two_versions(make_corpus, tmp_path)
    (idx / POINTER).write_text("v-19990101T000000000000-deadbeef\n")
    assert Retriever.open(idx).stored.path == new  # the newest complete version


def _synthetic_corpus(folder: Path, n: int) -> None:
    rng = random.Random(5)
    words = [f"word{i}" for i in range(3000)]
    folder.mkdir()
    for i in range(n):
        body = ". ".join(" ".join(rng.choices(words, k=12)).capitalize() for _ in range(20))
        (folder / f"doc{i:05d}.txt").write_text(body + ".")


@pytest.mark.parametrize("docs, kills, flags", [(600, 12, ["--no-semantic"]), (120, 3, [])],
                         ids=["lexical", "with-vectors"])
def test_kill_9_during_build_never_leaves_a_broken_index(tmp_path, docs, kills, flags):
    """SIGKILL the builder at random moments: the index stays loadable.  The
    lexical build is killed often; the slower one with passage vectors
    (encoded by worker processes before anything is written) a few times."""
    corpus, idx = tmp_path / "corpus", tmp_path / "idx"
    _synthetic_corpus(corpus, docs)
    cmd = [sys.executable, "-m", "service", "index", "--corpus", str(corpus), "--index", str(idx), "--full", *flags]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    full = time.perf_counter() - t0
    rng = random.Random(11)
    for _ in range(kills):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            proc.wait(timeout=rng.uniform(0.1, 1.0) * full)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        r = Retriever.open(idx)  # verifies every checksum
        # CURRENT always names a complete version: no fallback was needed.
        assert r.stored.path == current_version(idx)
        assert r.n_sources == docs and r.search("word7 word42", 3).hits
    # A later successful build cleans up what the killed ones left behind.
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    assert not list(idx.glob(".tmp-*")) and len(list_versions(idx)) == 2
