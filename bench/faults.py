"""The faults run 2 of bench/reliability.py injects into a live index
folder, and the check that every answer served was right for the version
that served it.

Each fault is one function that does what an operator (or a broken disk)
would do, and returns what it published or touched; none of them goes
through the server.  :class:`Expectations` computes, in this process and
while each sound version is still on disk, the answers the server must give
to the checked questions; a response from any other version is wrong.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import load

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from service.config import Config  # noqa: E402
from service.index.store import (POINTER, build_lock, current_version, load_version, new_staging, publish,
                                 read_manifest)  # noqa: E402
from service.qa.ask import search_json  # noqa: E402
from service.retrieval.retriever import Retriever  # noqa: E402
from service.web.validation import check_search  # noqa: E402


def segment(version: Path) -> Path:
    """The first segment folder of index version ``version``."""
    return version / read_manifest(version)["segments"][0]["name"]


def index(corpus: Path, idx: Path, *flags: str, clock: str | None = None) -> str:
    """``python -m service index --full`` (a new version even when nothing
    changed; under faketime when ``clock`` is given); the version published."""
    cmd = [sys.executable, "-m", "service", "index", "--corpus", str(corpus), "--index", str(idx), "--full", *flags]
    subprocess.run((["faketime", "-f", clock] if clock else []) + cmd, check=True, capture_output=True, cwd=ROOT)
    return current_version(idx).name


def _move_in(idx: Path, built: Path, skip: str | None = None) -> str:
    """Copy version ``built`` (but file ``skip``) into ``idx`` under the next
    sequence number, as a copy by hand would, and point CURRENT at it."""
    with build_lock(idx):
        name = new_staging(idx).name.removeprefix(".tmp-")
        os.rmdir(idx / f".tmp-{name}")
        shutil.copytree(built, idx / name, ignore=lambda _, names: [n for n in names if n == skip])
        publish(idx, name)
    return name


def copy_live(idx: Path) -> str:
    """The live version copied in under the next sequence number and published."""
    return _move_in(idx, current_version(idx))


def publish_corrupt(corpus: Path, idx: Path, staging: Path) -> str:
    """A version built elsewhere, a byte of its term frequencies flipped, moved in and published."""
    built = staging / index(corpus, staging)
    flip_byte(segment(built) / "tfs.npy")
    return _move_in(idx, built)


def publish_incomplete(corpus: Path, idx: Path, staging: Path) -> tuple[str, Path]:
    """A version copied in without its docs.npy (a copy still arriving) and
    published; returns its name and where the missing file is."""
    built = staging / index(corpus, staging)
    return _move_in(idx, built, skip="docs.npy"), segment(built) / "docs.npy"


def complete(idx: Path, name: str, missing: Path) -> str:
    shutil.copy2(missing, idx / name / missing.parent.name / missing.name)
    return name


def flip_byte(path: Path, offset: int = -3) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset, 2)
        byte = fh.read(1)
        fh.seek(offset, 2)
        fh.write(bytes([byte[0] ^ 0xFF]))


def damage_live(idx: Path) -> str:
    """Flip a byte of the live version's sources.json: damage only the
    scrub can find (the file was read when the version was loaded, so no
    answer carries it)."""
    live = current_version(idx)
    flip_byte(segment(live) / "sources.json", offset=-2)
    return live.name


def drop_pointer_kill_and_hup(idx: Path, master: int, workers: list[int]) -> str:
    """Delete CURRENT, kill -9 one worker, then SIGHUP the master (new
    workers, forked from the master's preloaded index)."""
    (idx / POINTER).unlink()
    os.kill(workers[0], signal.SIGKILL)
    os.kill(master, signal.SIGHUP)
    return f"killed {workers[0]}, HUP {master}"


def mount_small_disk(idx: Path, size: str = "256m") -> str | None:
    """Mount a tmpfs of ``size`` at ``idx`` (a disk of its own that
    :func:`fill_disk` can fill); why not, where mounting is not permitted."""
    idx.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(idx)],
                          capture_output=True, text=True)
    return None if proc.returncode == 0 else "needs root to mount tmpfs: " + (proc.stderr.splitlines() or ["mount failed"])[0]


def fill_disk(idx: Path, free: int = 16384) -> str:
    """Shrink ``idx``'s tmpfs to what it holds plus ``free`` bytes: the disk
    is full for anything bigger, as a disk other files filled would be."""
    st = os.statvfs(idx)
    size = (st.f_blocks - st.f_bfree) * st.f_frsize + free
    subprocess.run(["mount", "-o", f"remount,size={size}", str(idx)], check=True, capture_output=True)
    return f"{size} bytes, {os.statvfs(idx).f_bavail * st.f_frsize} free"


def free_disk(idx: Path, size: str = "256m") -> str:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(idx)], check=True, capture_output=True)
    return size


def unmount(idx: Path) -> None:
    """Detach ``idx``'s tmpfs now (lazily: a worker still exiting may hold
    a file of it; the memory goes when the last one closes)."""
    subprocess.run(["umount", "-l", str(idx)], check=True, capture_output=True)


def publish_on_full_disk(corpus: Path, idx: Path) -> dict:
    """``index --full`` on the full disk: its exit status and error lines,
    whether ``CURRENT`` still names the version it named before, and what
    the failure left (a ``.CURRENT.*`` pointer file, a ``.tmp-*`` staging)."""
    before = (idx / POINTER).read_text()
    cmd = [sys.executable, "-m", "service", "index", "--corpus", str(corpus), "--index", str(idx), "--full"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    return {"rc": proc.returncode, "stderr": proc.stderr.strip().splitlines(),
            "current_untouched": (idx / POINTER).read_text() == before,
            "left": sorted(p.name for p in idx.iterdir() if p.name.startswith((f".{POINTER}.", ".tmp-")))}


def malformed_chunked(host: str, port: int, copies: int = 10) -> list[int]:
    """Statuses of ``copies`` POSTs with an invalid chunk size."""
    statuses = []
    for size in [b"zz", b"-1", b"2"] * (copies // 3 + 1):
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n" + size + b"\r\n{\"q\": \"BT\"}\r\n0\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        statuses.append(int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0)
    return statuses[:copies]


class Expectations:
    """The right answer (:func:`load.answer_digest`) to each checked
    question, per sound version, computed here as the server computes it."""

    def __init__(self, questions: list[str]) -> None:
        self.questions = questions
        self.digests: dict[str, list[str]] = {}

    def add(self, version: Path) -> str:
        retriever = Retriever(load_version(version))
        config = Config()
        digests = []
        for q in self.questions:
            checked = check_search({"q": q, "k": "10"}, config, retriever.query_terms, modes=retriever.modes,
                                   from_text=True)
            digests.append(load.answer_digest(search_json(retriever, checked.q, checked.k, checked.terms,
                                                          checked.retrieval)))
        self.digests[version.name] = digests
        return version.name

    def is_wrong(self, sample: load.Sample) -> bool:
        """Whether a checked response differs from its version's answer."""
        return (sample.digest is not None
                and sample.digest != self.digests.get(sample.version, [None] * len(self.questions))[sample.question])

    def wrong(self, samples: list[load.Sample]) -> tuple[int, list[str]]:
        """How many responses were checked, and what was wrong with any."""
        checked = [s for s in samples if s.digest is not None]
        wrong = [f"{s.t:.1f} s: question {s.question} from {s.version}" for s in checked if self.is_wrong(s)]
        return len(checked), wrong
