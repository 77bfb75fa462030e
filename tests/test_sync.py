"""A folder corpus's index follows the folder incrementally: only new,
changed and deleted files are applied, the result scores as a full rebuild
does, nothing is read when nothing changed, and files a ``--skip-bad`` run
rejected do not stop a later ``ask``."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from service.cli import main
from service.corpus.reader import read_corpus
from service.index.store import current_version
from service.index.sync import sync_folder

from test_archive import SETTINGS, assert_like_full_rebuild

TEXTS = {
    "a.txt": "Lorenzo trust record. Patient nurse.",
    "b.txt": "London contract system. Budget meeting london.",
    "c.md": "Nurse patient record. Trust system.",
    "d.txt": "Budget budget budget. Lorenzo contract.",
}


def _write(folder: pathlib.Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def _sync(folder, idx, **kw):
    return sync_folder(folder, idx, SETTINGS, semantic=False, progress=False, **kw)


def _articles(folder):
    return {a.source_id: a for a in read_corpus(folder).articles}


def test_incremental_index_equals_a_full_rebuild_after_adds_edits_and_deletes(tmp_path):
    folder, idx = tmp_path / "c", tmp_path / "idx"
    folder.mkdir()
    _write(folder, TEXTS)
    first = _sync(folder, idx)
    assert (first.added, first.full) == (4, True)
    _write(folder, {"e.txt": "Patient london.", "a.txt": "Lorenzo trust record record."})
    (folder / "b.txt").unlink()
    st = (folder / "d.txt").stat()
    os.utime(folder / "d.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched, not changed
    second = _sync(folder, idx)
    assert (second.added, second.replaced, second.removed, second.unchanged, second.full) == (1, 1, 1, 2, False)
    assert_like_full_rebuild(idx, _articles(folder), tmp_path)
    (folder / "sub").mkdir()
    _write(folder, {"sub/f.txt": "Trust nurse, trust budget.", "c.md": "Record meeting."})
    (folder / "e.txt").unlink()
    third = _sync(folder, idx)
    assert (third.added, third.replaced, third.removed, third.unchanged) == (1, 1, 1, 2)
    assert_like_full_rebuild(idx, _articles(folder), tmp_path)


def test_nothing_changed_reads_no_file(tmp_path, monkeypatch):
    folder, idx = tmp_path / "c", tmp_path / "idx"
    folder.mkdir()
    _write(folder, TEXTS)
    _sync(folder, idx)
    live = current_version(idx)
    reads = []
    real = pathlib.Path.read_bytes
    monkeypatch.setattr(pathlib.Path, "read_bytes", lambda self: reads.append(self) or real(self))
    again = _sync(folder, idx)
    assert (again.version, again.unchanged, reads) == (None, 4, [])
    assert current_version(idx) == live
    _write(folder, {"b.txt": TEXTS["b.txt"] + " More budget."})
    assert _sync(folder, idx).replaced == 1
    assert [p.name for p in reads] == ["b.txt"]


def _indexed(tmp_path):
    """A folder of TEXTS and its index, built by the CLI."""
    folder, idx = tmp_path / "c", tmp_path / "idx"
    folder.mkdir()
    _write(folder, TEXTS)
    assert main(["index", "--corpus", str(folder), "--index", str(idx), "--no-semantic"]) == 0
    return folder, idx


def test_ask_with_nothing_changed_reads_no_file_and_the_manifest_once(tmp_path, monkeypatch, capsys):
    # The corpus check, the file records and the load share one read of
    # the manifest: a 38,000-file corpus's took 0.1 s to parse, three times.
    folder, idx = _indexed(tmp_path)
    reads, manifests = [], []
    real, real_text = pathlib.Path.read_bytes, pathlib.Path.read_text
    monkeypatch.setattr(pathlib.Path, "read_bytes",
                        lambda self: (reads.append(self) if self.parent == folder else None) or real(self))
    monkeypatch.setattr(pathlib.Path, "read_text",
                        lambda self, *a, **kw: (manifests.append(self) if self.name == "manifest.json" else None)
                        or real_text(self, *a, **kw))
    assert main(["ask", "--corpus", str(folder), "--index", str(idx), "contract"]) == 0
    assert "[b]" in capsys.readouterr().out and reads == [] and len(manifests) == 1


def test_a_one_shot_ask_loads_no_compiled_code_and_no_encoder(tmp_path):
    # A lexical `ask` searches in NumPy: importing numba and loading its
    # cached kernels, and onnxruntime, cost over a second of its start-up.
    folder, idx = _indexed(tmp_path)
    code = ("import sys; from service.cli import main; "
            f"rc = main(['ask', '--corpus', {str(folder)!r}, '--index', {str(idx)!r}, 'contract budget']); "
            "print(rc, sorted(m for m in ('numba', 'onnxruntime', 'tokenizers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "GROUNDEDQA_SEMANTIC": "false"}).stdout
    assert "[b]" in out and out.splitlines()[-1] == "0 []"


def test_a_second_ask_with_nothing_changed_hashes_no_index_file_and_loads_once(tmp_path, monkeypatch, capsys):
    # The first start-up reads the index whole and records it; the next
    # trusts that record and applies nothing (no version loaded to compare),
    # but damage written since (the mtime moves) is read and refused.
    from service.index import changes, store

    folder, idx = _indexed(tmp_path)
    hashed, loads = [], []
    real_hash, real_load = store._sha256, store.load_version
    monkeypatch.setattr(store, "_sha256", lambda path, pace=None: hashed.append(path.name) or real_hash(path, pace))
    monkeypatch.setattr(store, "load_version", lambda *a, **kw: loads.append(a[0]) or real_load(*a, **kw))
    monkeypatch.setattr(changes, "load_version", lambda *a, **kw: loads.append(a[0]) or real_load(*a, **kw))
    os.utime(folder / "a.txt", ns=(1, 1))  # touched, not changed: its new mtime is recorded
    for f in idx.rglob("*"):  # written well before they are read (a file just written is not trusted)
        os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns - 10 * store.RACY_NS))
    assert main(["ask", "--corpus", str(folder), "--index", str(idx), "contract"]) == 0
    assert hashed  # the live version read whole once
    del hashed[:], loads[:]
    assert main(["ask", "--corpus", str(folder), "--index", str(idx), "contract"]) == 0
    assert "[b]" in capsys.readouterr().out
    assert hashed == [] and len(loads) == 1
    live = current_version(idx)
    with open(next(live.rglob("tfs.npy")), "r+b") as fh:
        fh.seek(-3, 2)
        byte = fh.read(1)
        fh.seek(-3, 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(store.IndexFault, match="checksum mismatch"):
        store.load_best(idx, remember=True)


def test_a_file_rejected_by_skip_bad_does_not_fail_a_later_ask(tmp_path, capsys):
    folder, idx = tmp_path / "c", tmp_path / "idx"
    folder.mkdir()
    _write(folder, TEXTS)
    (folder / "bad.txt").write_bytes(b"\xff\xfe not text")
    assert main(["index", "--corpus", str(folder), "--index", str(idx), "--no-semantic", "--skip-bad"]) == 0
    assert "1 rejected of 5 seen" in capsys.readouterr().out
    assert main(["ask", "--corpus", str(folder), "--index", str(idx), "budget"]) == 0
    assert "[d]" in capsys.readouterr().out
    (folder / "bad.txt").write_bytes(b"\xff still not text")  # changed: read again, and refused again
    assert main(["ask", "--corpus", str(folder), "--index", str(idx), "budget"]) == 1
    assert "bad.txt: not valid UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [b"", b"\x00\x01binary", b"\xff\xfe"])
def test_a_bad_new_file_stops_index_with_one_line_and_publishes_nothing(tmp_path, capsys, bad):
    folder, idx = _indexed(tmp_path)
    live = current_version(idx)
    capsys.readouterr()
    (folder / "new.txt").write_bytes(bad)
    _write(folder, {"a.txt": "Changed as well."})
    assert main(["index", "--corpus", str(folder), "--index", str(idx)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "new.txt" in err and "Traceback" not in err
    assert current_version(idx) == live


def _age(path: pathlib.Path) -> None:
    """Written well before it is listed (a file just written is not trusted to show a later write)."""
    from service.index.store import RACY_NS

    for f in [path, *path.rglob("*")]:
        st = f.stat()
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns - 10 * RACY_NS))


@pytest.mark.parametrize("shape", ["jsonl", "metadata folder"])
def test_a_corpus_read_whole_is_not_read_again_while_its_files_are_unchanged(tmp_path, monkeypatch, shape):
    import json

    from service.config import Config
    from service.index import build
    from service.index.sync import open_index

    if shape == "jsonl":
        corpus = tmp_path / "c.jsonl"
        corpus.write_text("".join(json.dumps({"_id": pathlib.Path(n).stem, "text": t}) + "\n" for n, t in TEXTS.items()))
    else:
        corpus = tmp_path / "c"
        corpus.mkdir()
        _write(corpus, TEXTS)
        (corpus / "metadata.jsonl").write_text(json.dumps({"id": "a", "title": "Title A"}) + "\n")
    _age(corpus)
    config = Config(corpus=corpus, index_dir=tmp_path / "idx", semantic=False)
    assert len(open_index(config).live_source_ids()) == 4
    reads = []
    real = build.load_corpus
    monkeypatch.setattr(build, "load_corpus", lambda path, **kw: reads.append(path) or real(path, **kw))
    assert len(open_index(config).live_source_ids()) == 4 and reads == []
    if shape == "jsonl":
        with open(corpus, "a") as fh:
            fh.write(json.dumps({"_id": "e", "text": "Elderberries are small."}) + "\n")
    else:
        _write(corpus, {"e.txt": "Elderberries are small."})
    assert len(open_index(config).live_source_ids()) == 5 and reads == [corpus]
    _age(corpus)
    assert len(open_index(config).live_source_ids()) == 5 and len(reads) == 2  # read, found to fit, recorded
    assert len(open_index(config).live_source_ids()) == 5 and len(reads) == 2
