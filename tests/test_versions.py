"""Versions after failures: ordered by sequence number, chosen without a
pointer, kept and pruned by what was published, bound to their corpus,
and written or refused in one line on a full or read-only disk."""

from __future__ import annotations

import builtins
import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli import main
from service.config import Config, IndexSettings
from service.index import store
from service.index.build import OtherCorpus, build_index, ensure_index
from service.index.store import POINTER, IndexFault, current_version, list_versions, sequence
from service.retrieval.reload import IndexHolder
from service.retrieval.retriever import Retriever
from conftest import segment_file

ROOT = Path(__file__).resolve().parent.parent


class _FullFile:
    """A file opened for writing on a full disk: every write fails."""

    def __init__(self, fh):
        self._fh = fh

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def full_disk(monkeypatch):
    """``with full_disk(folder, names):`` writes to files in ``folder``
    (whose names start with one of ``names``, if given) fail with ENOSPC,
    as on a full disk: the file is created, its first write fails."""

    @contextlib.contextmanager
    def fill(folder: Path, names: tuple[str, ...] = ()):
        real_open = builtins.open

        def open_(file, mode="r", *args, **kwargs):
            fh = real_open(file, mode, *args, **kwargs)
            path = Path(os.fsdecode(file)) if isinstance(file, (str, bytes, os.PathLike)) else None
            writing = any(c in mode for c in "wax+")
            if (writing and path is not None and Path(folder) in path.parents
                    and (not names or path.name.startswith(names))):
                return _FullFile(fh)
            return fh

        with monkeypatch.context() as patch:
            patch.setattr(builtins, "open", open_)
            yield

    return fill


def _no_space(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def corpus(make_corpus):
    return make_corpus({"a.txt": "Apples are red."})


# -- item 3: order by sequence number, not by the clock ---------------------

def test_versions_are_numbered_in_build_order(corpus, tmp_path):
    idx = tmp_path / "idx"
    names = [build_index(corpus, idx, IndexSettings())[0].name for _ in range(3)]
    assert [sequence(n) for n in names] == [1, 2, 3]
    assert json.loads((idx / names[-1] / "manifest.json").read_text())["version"] == names[-1]


def test_a_build_made_while_the_clock_was_ahead_hides_no_later_publish(corpus, tmp_path):
    faketime = shutil.which("faketime")
    if faketime is None:
        if os.environ.get("CI"):
            pytest.fail("faketime is missing (apt-get install faketime)")
        pytest.skip("faketime is not installed")
    idx = tmp_path / "idx"
    cmd = [sys.executable, "-m", "service", "index", "--no-semantic", "--corpus", str(corpus), "--index", str(idx)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([faketime, "-f", "+2h", *cmd], check=True, capture_output=True, env=env)
    ahead = current_version(idx)
    holder = IndexHolder(Retriever.open(idx), idx, interval=0)  # a worker of the clock-ahead build
    (corpus / "b.txt").write_text("Bananas are yellow.")
    subprocess.run(cmd, check=True, capture_output=True, env=env)  # the clock stepped back
    later = current_version(idx)
    assert list_versions(idx) == [ahead, later]
    assert holder.check() and holder.version == later.name
    assert holder.get().source("b") is not None


# -- item 4: no CURRENT -------------------------------------------------------

def test_with_no_pointer_a_worker_takes_the_newest_sound_version(flip_byte, corpus, tmp_path):
    idx = tmp_path / "idx"
    build_index(corpus, idx, IndexSettings())
    holder = IndexHolder(Retriever.open(idx), idx, interval=0)  # the master's preloaded version
    (corpus / "b.txt").write_text("Bananas are yellow.")
    good = build_index(corpus, idx, IndexSettings())[0]
    (corpus / "c.txt").write_text("Cherries are dark.")
    damaged = build_index(corpus, idx, IndexSettings())[0]  # prunes the preloaded version
    flip_byte(damaged)
    (idx / POINTER).unlink()
    assert holder.check() and holder.version == good.name
    assert Retriever.open(idx).stored.path == good


def test_with_no_pointer_a_worker_never_goes_back(corpus, tmp_path):
    idx = tmp_path / "idx"
    older = build_index(corpus, idx, IndexSettings())[0]
    newest = build_index(corpus, idx, IndexSettings())[0]
    holder = IndexHolder(Retriever.open(idx), idx, interval=0)
    (idx / POINTER).unlink()
    shutil.rmtree(newest)
    assert not holder.check() and holder.version == newest.name
    assert older.is_dir()


# -- item 6: an index belongs to its corpus -----------------------------------

def test_an_index_records_its_corpus(corpus, tmp_path):
    version = build_index(corpus, tmp_path / "idx", IndexSettings())[0]
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["corpus"] == str(corpus.resolve()) and manifest["corpus_fingerprint"]


def test_index_dir_alone_is_served_as_it_is(make_corpus, tmp_path, capsys):
    archive = make_corpus({"zebra.txt": "Zebras graze on the savanna at dawn."}, "archive")
    idx = tmp_path / "idx"
    assert main(["index", "--no-semantic", "--corpus", str(archive), "--index", str(idx)]) == 0
    before = list_versions(idx)
    capsys.readouterr()
    assert main(["ask", "--index", str(idx), "--json", "Where do zebras graze?"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["source_id"] == "zebra"
    assert ensure_index(Config(index_dir=idx)).path == before[-1]
    assert list_versions(idx) == before  # nothing rebuilt, least of all from the bundled articles


def test_another_corpus_is_refused_in_one_line_unless_rebuild(make_corpus, tmp_path, capsys):
    archive = make_corpus({"zebra.txt": "Zebras graze on the savanna at dawn."}, "archive")
    other = make_corpus({"yak.txt": "Yaks live in the mountains."}, "other")
    idx = tmp_path / "idx"
    assert main(["index", "--no-semantic", "--corpus", str(archive), "--index", str(idx)]) == 0
    before = list_versions(idx)
    capsys.readouterr()
    for command in (["ask", "yaks"], ["index"]):
        assert main([*command[:1], "--corpus", str(other), "--index", str(idx), *command[1:]]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"holds the index of {archive.resolve()}" in err and "--rebuild" in err
    with pytest.raises(OtherCorpus):
        ensure_index(Config(corpus=other, index_dir=idx))
    assert list_versions(idx) == before
    assert main(["ask", "--corpus", str(other), "--index", str(idx), "--rebuild", "--json", "yaks"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["source_id"] == "yak"


def test_workers_refuse_a_version_built_from_another_corpus(corpus, make_corpus, tmp_path, caplog):
    idx = tmp_path / "idx"
    build_index(corpus, idx, IndexSettings())
    holder = IndexHolder(Retriever.open(idx), idx, interval=0)
    served = holder.version
    build_index(make_corpus({"yak.txt": "Yaks live in the mountains."}, "other"), idx, IndexSettings(),
                replace_other=True)
    assert not holder.check() and holder.version == served
    assert "built from" in caplog.text and holder.get().source("a") is not None


# -- item 7: housekeeping after failures --------------------------------------

def test_pruning_keeps_the_last_sound_published_version_after_a_corrupt_publish(flip_byte, corpus, tmp_path):
    idx = tmp_path / "idx"
    served = build_index(corpus, idx, IndexSettings())[0]
    corrupt = build_index(corpus, idx, IndexSettings())[0]
    flip_byte(corrupt)  # published, then damaged: never served
    newest = build_index(corpus, idx, IndexSettings())[0]
    assert list_versions(idx) == [served, newest]


def _age(idx: Path) -> None:
    """Date every file of ``idx`` an hour back: written well before any read."""
    old = os.stat(idx).st_mtime_ns - 3600 * 10**9
    for f in idx.rglob("*"):
        os.utime(f, ns=(old, old))


def _add(corpus: Path, idx: Path, name: str, text: str) -> Path:
    (corpus / name).write_text(text)
    assert main(["index", "--corpus", str(corpus), "--index", str(idx), "--no-semantic"]) == 0
    return current_version(idx)


def test_pruning_reads_a_segment_every_version_links_once_not_at_every_build(corpus, tmp_path, monkeypatch):
    idx = tmp_path / "idx"
    first = _add(corpus, idx, "b.txt", "Bananas are yellow.")
    _age(idx)
    second = _add(corpus, idx, "c.txt", "Cherries are dark.")  # the fallback, first, is read whole
    shared = segment_file(second, "tfs.npy")
    assert shared.samefile(segment_file(first, "tfs.npy"))  # linked, not copied
    read, real = [], store._sha256
    monkeypatch.setattr(store, "_sha256", lambda path, pace=None: read.append(path) or real(path, pace))
    _add(corpus, idx, "d.txt", "Dates are sweet.")  # the fallback is now second, vouched for by its publish
    first_segment = shared.parent.name
    assert read and not [p for p in read if second in p.parents or first_segment in p.parts]


def test_the_first_change_after_a_build_reads_none_of_its_files_again(corpus, tmp_path, monkeypatch):
    # The build hashed its files as it published them: the first change's
    # fallback (that build) is vouched for by those records, not read
    # whole again (1.9 GB at 1M passages, most of the change's time).
    idx = tmp_path / "idx"
    first = _add(corpus, idx, "b.txt", "Bananas are yellow.")
    read, real = [], store._sha256
    monkeypatch.setattr(store, "_sha256", lambda path, pace=None: read.append(path) or real(path, pace))
    second = _add(corpus, idx, "c.txt", "Cherries are dark.")
    assert read and not [p for p in read if first in p.parents]  # only the new segment's, as it is written
    assert list_versions(idx) == [first, second]  # the build kept as the fallback


def test_pruning_reads_a_recorded_file_again_once_it_changed(corpus, tmp_path):
    idx = tmp_path / "idx"
    first = _add(corpus, idx, "b.txt", "Bananas are yellow.")
    _age(idx)
    _add(corpus, idx, "c.txt", "Cherries are dark.")
    second_segment = [p for p in current_version(idx).iterdir() if p.is_dir() and not (first / p.name).exists()][0]
    _age(idx)
    third = _add(corpus, idx, "d.txt", "Dates are sweet.")  # records second's segments as sound
    assert (idx / store.VERIFIED).exists()
    data = second_segment / "tfs.npy"
    with open(data, "r+b") as fh:  # damage in a segment second and third share: its mtime moves
        fh.seek(-3, 2)
        byte = fh.read(1)
        fh.seek(-3, 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    (corpus / "e.txt").write_text("Elderberries are small.")
    assert main(["index", "--corpus", str(corpus), "--index", str(idx), "--no-semantic", "--full"]) == 0
    newest = current_version(idx)
    # third (the fallback) and second hold the damaged file (first was pruned): neither is kept
    assert third.name != newest.name and list_versions(idx) == [newest]


def test_a_pointer_write_on_a_full_disk_leaves_nothing_behind_and_pruning_keeps_the_published(
        corpus, tmp_path, full_disk, monkeypatch, capsys):
    idx = tmp_path / "idx"
    served = build_index(corpus, idx, IndexSettings())[0]
    with full_disk(idx, names=(f".{POINTER}.",)):
        assert main(["index", "--corpus", str(corpus), "--index", str(idx)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {idx}: cannot write the index: No space left on device\n"
    unpublished = list_versions(idx)[-1]
    assert current_version(idx) == served != unpublished
    assert not list(idx.glob(f".{POINTER}.*"))
    (idx / f".{POINTER}.deadbeef").write_text("")  # a killed publish's leftover
    newest = build_index(corpus, idx, IndexSettings())[0]
    assert list_versions(idx) == [served, newest] and not list(idx.glob(f".{POINTER}.*"))


def test_restart_on_a_full_disk_uses_a_complete_matching_version(corpus, tmp_path, full_disk, monkeypatch):
    idx = tmp_path / "idx"
    build_index(corpus, idx, IndexSettings())
    (corpus / "b.txt").write_text("Bananas are yellow.")  # the live version is now stale
    with monkeypatch.context() as patch:
        patch.setattr(store, "publish", _no_space)  # the disk filled up before the pointer was written
        with pytest.raises(IndexFault, match="No space left on device"):
            build_index(corpus, idx, IndexSettings())
    complete = list_versions(idx)[-1]
    assert current_version(idx) != complete
    with full_disk(idx):  # nothing can be written there now
        stored = ensure_index(Config(corpus=corpus, index_dir=idx))
    assert stored.path == complete and Retriever(stored).source("b") is not None


def test_a_refused_version_is_retried_once_its_files_change(corpus, tmp_path):
    idx = tmp_path / "idx"
    build_index(corpus, idx, IndexSettings())
    holder = IndexHolder(Retriever.open(idx), idx, interval=0)
    (corpus / "b.txt").write_text("Bananas are yellow.")
    new = build_index(corpus, idx, IndexSettings())[0]
    whole = segment_file(new, "docs.npy").read_bytes()
    segment_file(new, "docs.npy").write_bytes(whole[:-8])  # as if still being copied in
    assert not holder.check() and not holder.check()
    segment_file(new, "docs.npy").write_bytes(whole)
    assert holder.check() and holder.version == new.name


@pytest.mark.parametrize("how", ["full", "changed"])
def test_index_on_a_full_disk_prints_one_line(corpus, tmp_path, full_disk, capsys, how):
    idx = tmp_path / "idx"
    assert main(["index", "--corpus", str(corpus), "--index", str(idx)]) == 0
    before = current_version(idx)
    capsys.readouterr()
    if how == "changed":  # an incremental change: one new file
        (corpus / "b.txt").write_text("Bananas are yellow.")
    with full_disk(idx):
        assert main(["index", "--corpus", str(corpus), "--index", str(idx)] + (["--full"] if how == "full" else [])) == 1
    assert capsys.readouterr().err == f"error: {idx}: cannot write the index: No space left on device\n"
    assert current_version(idx) == before and list_versions(idx) == [before]
    assert not list(idx.glob(".tmp-*"))


def _namespace_mount(options: str) -> list[str] | None:
    """A shell prefix running a command with a fresh tmpfs (``options``) at
    $MNT, in a private mount namespace; None where that is not allowed."""
    probe = subprocess.run(["unshare", "-r", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
                           capture_output=True) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        return None
    return ["unshare", "-r", "-m", "sh", "-c", f'mkdir -p "$MNT" && mount -t tmpfs -o {options} tmpfs "$MNT" && "$@"',
            "sh"]


@pytest.mark.slow
@pytest.mark.parametrize("options, reason", [("size=16k", "No space left on device"),
                                             ("ro", "Read-only file system")])
def test_index_on_a_real_full_or_read_only_disk_prints_one_line(corpus, tmp_path, options, reason):
    prefix = _namespace_mount(options)
    if prefix is None:
        pytest.skip("no private mount namespace here (unshare -r -m)")
    mnt = tmp_path / "mnt"
    cmd = [sys.executable, "-m", "service", "index", "--no-semantic", "--corpus", str(corpus),
           "--index", str(mnt / "idx")]
    proc = subprocess.run(prefix + cmd, capture_output=True, text=True,
                          env={**os.environ, "MNT": str(mnt), "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == f"error: {mnt / 'idx'}: cannot write the index: {reason}"
    assert "Traceback" not in proc.stderr


def test_a_write_cut_short_is_named_a_full_disk(tmp_path):
    """NumPy's short write carries no errno; the line must still say why."""
    from service.index.build import write_fault

    fault = write_fault(tmp_path, OSError("650 requested and 496 written"))
    assert str(fault) == (f"{tmp_path}: cannot write the index: the disk is full "
                          "(a write was cut short: 650 requested and 496 written)")
    assert str(write_fault(tmp_path, OSError(errno.EROFS, os.strerror(errno.EROFS)))) == (
        f"{tmp_path}: cannot write the index: Read-only file system")
