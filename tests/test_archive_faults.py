"""Faults during changes to the archive: concurrent changes serialize under
the build lock, a ``kill -9`` at any point leaves the last published
version serving, and a change that fails leaves the served version as it was."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from service.cli import main
from service.index.store import current_version, list_versions
from service.retrieval.retriever import Retriever

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves it out

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}


def _articles(folder: Path, names: list[str], seed: int) -> list[Path]:
    rng = random.Random(seed)
    words = [f"word{i}" for i in range(3000)]
    folder.mkdir(exist_ok=True)
    paths = []
    for name in names:
        body = ". ".join(" ".join(rng.choices(words, k=12)).capitalize() for _ in range(20))
        (folder / f"{name}.txt").write_text(body + ".")
        paths.append(folder / f"{name}.txt")
    return paths


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "service", *args]


def _run_maybe_killed(cmd: list[str], limit: float | None, idx: Path, held: set, after: set, round_: int
                      ) -> tuple[bool, set]:
    """Run ``cmd``, SIGKILL it after ``limit`` seconds (None: let it end);
    the index must then load (every checksum) at ``held`` or ``after``,
    never a mix.  Returns whether it was killed, and the articles held."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    killed = False
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = True
    r = Retriever.open(idx)  # verifies every checksum
    assert r.stored.path == current_version(idx)
    now = set(r.stored.live_source_ids())
    assert now in (held, after), f"round {round_}: a change was half applied"
    assert r.search("word7 word42", 3).hits
    return killed, now


def test_kill_9_during_changes_never_leaves_a_broken_index(tmp_path):
    """SIGKILL ``add`` and ``remove`` at random moments: the index stays
    loadable, ``CURRENT`` names a complete version, and it holds the
    articles of before the change or of after it, never a mix."""
    idx = tmp_path / "idx"
    base = _articles(tmp_path / "base", [f"doc{i:04d}" for i in range(400)], 1)
    subprocess.run(_cli("add", "--index", str(idx), "--no-semantic", *map(str, base)), check=True,
                   capture_output=True, env=ENV)
    # How long one change takes, so the kills land anywhere in one.
    t0 = time.perf_counter()
    timing = _articles(tmp_path / "timing", [f"t{i:03d}" for i in range(60)], 2)
    subprocess.run(_cli("add", "--index", str(idx), *map(str, timing)), check=True, capture_output=True, env=ENV)
    full = time.perf_counter() - t0
    rng = random.Random(3)
    held = {p.stem for p in base + timing}
    killed = 0
    for round_ in range(12):
        if round_ % 3 == 2:
            ids = rng.sample(sorted(held), 30)
            cmd, after = _cli("remove", "--index", str(idx), *ids), held - set(ids)
        else:
            names = [f"new{round_:02d}-{i:03d}" for i in range(60)] + rng.sample(sorted(held), 20)
            files = _articles(tmp_path / f"batch{round_}", names, 100 + round_)
            cmd, after = _cli("add", "--index", str(idx), *map(str, files)), held | set(names)
        # Every fourth change runs to its end: the next ones build on it.
        was_killed, held = _run_maybe_killed(
            cmd, None if round_ % 4 == 3 else rng.uniform(0.05, 1.0) * full, idx, held, after, round_)
        killed += was_killed
    assert killed >= 3
    # A later successful change cleans up what the killed ones left behind.
    subprocess.run(_cli("remove", "--index", str(idx), sorted(held)[0]), check=True, capture_output=True, env=ENV)
    assert not list(idx.glob(".tmp-*")) and len(list_versions(idx)) == 2


def test_kill_9_during_an_incremental_index_never_leaves_a_broken_index(tmp_path):
    """SIGKILL ``index --corpus DIR`` at random moments while the folder
    gains, changes and loses files: the index stays loadable, ``CURRENT``
    names a complete version holding the folder of before or of after, and
    the next run that completes brings it in line with the folder."""
    idx, folder = tmp_path / "idx", tmp_path / "corpus"
    _articles(folder, [f"doc{i:04d}" for i in range(400)], 1)
    index = _cli("index", "--corpus", str(folder), "--index", str(idx), "--no-semantic")
    subprocess.run(index, check=True, capture_output=True, env=ENV)
    t0 = time.perf_counter()
    _articles(folder, [f"t{i:03d}" for i in range(60)], 2)
    subprocess.run(index, check=True, capture_output=True, env=ENV)
    full = time.perf_counter() - t0
    rng = random.Random(4)
    held = {p.stem for p in folder.iterdir()}
    attempts = killed = 0
    for round_ in range(15):
        names = sorted(p.stem for p in folder.iterdir())
        for name in rng.sample(names, 15):  # deleted
            (folder / f"{name}.txt").unlink()
        _articles(folder, rng.sample([n for n in names if (folder / f"{n}.txt").exists()], 15), 200 + round_)  # edited
        _articles(folder, [f"new{round_:02d}-{i:03d}" for i in range(45)], 100 + round_)  # added
        after = {p.stem for p in folder.iterdir()}
        # Every fifth run goes to its end: the next ones build on it.
        limit = None if round_ % 5 == 4 else rng.uniform(0.05, 0.9) * full
        attempts += limit is not None
        was_killed, held = _run_maybe_killed(index, limit, idx, held, after, round_)
        killed += was_killed
    assert attempts >= 10 and killed >= 8
    subprocess.run(index, check=True, capture_output=True, env=ENV)
    r = Retriever.open(idx)
    assert set(r.stored.live_source_ids()) == {p.stem for p in folder.iterdir()}
    assert not list(idx.glob(".tmp-*"))


def test_concurrent_changes_serialize_under_the_build_lock(tmp_path):
    """Four ``add`` runs at once: every one is applied, one after the other."""
    idx = tmp_path / "idx"
    base = _articles(tmp_path / "base", [f"doc{i:03d}" for i in range(50)], 1)
    subprocess.run(_cli("add", "--index", str(idx), "--no-semantic", *map(str, base)), check=True,
                   capture_output=True, env=ENV)
    batches = [_articles(tmp_path / f"b{j}", [f"b{j}-{i:02d}" for i in range(20)], 10 + j) for j in range(4)]
    procs = [subprocess.Popen(_cli("add", "--index", str(idx), *map(str, files)), env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for files in batches]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    r = Retriever.open(idx)
    assert set(r.stored.live_source_ids()) == {p.stem for files in [base, *batches] for p in files}


def test_a_change_that_runs_out_of_disk_leaves_the_served_version(tmp_path, monkeypatch, capsys):
    idx = tmp_path / "idx"
    base = _articles(tmp_path / "base", ["a", "b"], 1)
    assert main(["add", "--index", str(idx), "--no-semantic", *map(str, base)]) == 0
    before = current_version(idx)
    real_save = np.save

    def full_disk(path, *args, **kwargs):
        if str(path).endswith("p_start.npy"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(np, "save", full_disk)
    capsys.readouterr()
    more = _articles(tmp_path / "more", ["c"], 2)
    assert main(["add", "--index", str(idx), *map(str, more)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {idx}: cannot write the index: No space left on device"]
    assert current_version(idx) == before and not list(idx.glob(".tmp-*"))
    assert set(Retriever.open(idx).stored.live_source_ids()) == {"a", "b"}
