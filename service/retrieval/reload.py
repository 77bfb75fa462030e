"""Reload: pick up a newly published index without a restart.

Each server worker holds its :class:`Retriever` in an :class:`IndexHolder`.
A background thread of each worker process reads the index directory's
``CURRENT`` pointer every ``interval`` seconds; when it names a version
with a higher sequence number, the thread loads and verifies that version
(every checksum, every value) and swaps it in, so no request waits for the
verification: requests keep the index in hand until the swap.  A version
that fails to load (corrupt, truncated, half-deleted) or that was built
from another corpus than the one served is refused and the worker keeps
answering from the index it has; it is tried again only once its files
change (say, a copy that was incomplete has finished).  A worker's version
only ever moves forward; with ``CURRENT`` missing, it takes the newest
sound version on disk newer than its own.

This is a per-worker check rather than a gunicorn HUP on purpose: a HUP
whose new workers fail to boot (say, on a corrupt index) takes the whole
server down, while here every worker always has a good index in hand.

Damage after loading (a disk's bit rot, a stray write) is found by a
scrub: a background thread per process re-reads the live version's
checksums every ``scrub_interval`` seconds, at most ``SCRUB_BYTES_PER_S``.
On a mismatch the holder logs the path and reason, answers from the
newest sound version on disk and, unless that is the published one (a
worker that lagged behind a publish whose pruning removed its version),
reports it as :attr:`IndexHolder.problem` (``/readyz`` answers 503) until a
newly published sound version is swapped in; with none, :meth:`IndexHolder.get`
raises :class:`IndexUnavailable` rather than search damaged arrays.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Callable

from ..index.store import (IndexFault, current_version, list_versions, load_version, read_manifest, sequence,
                           verify_files)

from .retriever import Retriever

log = logging.getLogger(__name__)

#: The scrub's read rate: a gigabyte index is re-read in about half a minute
#: of background I/O, leaving the disk to the requests.
SCRUB_BYTES_PER_S = 32 << 20


class IndexUnavailable(Exception):
    """No sound index to answer from: the live one is damaged and no other is sound."""


def _signature(version: Path) -> tuple | None:
    """What a version directory holds (its segments' directories too), by
    name, size and change time: a refused version is tried again once this
    changes."""
    try:
        return tuple(sorted((str(f.relative_to(version)), st.st_size, st.st_mtime_ns)
                            for f in version.rglob("*") for st in [f.stat()]))
    except OSError:
        return None


def _every(ref: "weakref.ref[IndexHolder]", interval: float, task: Callable[["IndexHolder"], object]) -> None:
    """Run ``task`` on the holder every ``interval`` seconds while it lives."""
    while True:
        time.sleep(interval)
        holder = ref()
        if holder is None:
            return
        try:
            task(holder)
        except Exception:  # a bug must not end the thread: the worker would stop reloading
            log.exception("index %s failed", task.__name__)
        del holder


class IndexHolder:
    """The live retriever of one process, swapped when a new index is published."""

    def __init__(
        self,
        retriever: Retriever,
        index_dir: Path | None = None,
        interval: float = 1.0,
        scrub_interval: float = 0.0,
    ) -> None:
        self._retriever = retriever
        self.index_dir = Path(index_dir) if index_dir else retriever.stored.path.parent
        self.interval = interval  # seconds between reload checks; 0: none in the background
        self.scrub_interval = scrub_interval  # seconds; 0: no scrub
        #: Versions refused, with what their directory held then.
        self._refused: dict[str, tuple | None] = {}
        self._lock = threading.Lock()
        self._threads_pid: int | None = None
        #: Why this process is not ready (damage a scrub found), or None.
        self.problem: str | None = None
        self._unavailable = False

    @property
    def version(self) -> str:
        return self._retriever.stored.path.name

    def get(self) -> Retriever:
        """The retriever to answer this request with (:class:`IndexUnavailable`: none is sound)."""
        if self._threads_pid != os.getpid():
            self._start_threads()
        if self._unavailable:
            raise IndexUnavailable(self.problem)
        return self._retriever

    def check(self) -> bool:
        """Swap in the published version if it is newer and sound.

        When the published version is refused, the newest sound version
        between ours and it is taken instead: a worker started after a bad
        publish (it begins with the index the master preloaded) must still
        catch up with the last good one.  With no pointer, the newest sound
        version newer than ours.
        """
        try:
            target = current_version(self.index_dir)
        except IndexFault as exc:
            log.warning("index pointer unreadable, keeping %s: %s", self.version, exc)
            return False
        ours = sequence(self.version)
        if target is not None and sequence(target.name) <= ours:
            return False
        limit = sequence(target.name) if target is not None else None
        newer = [v for v in reversed(list_versions(self.index_dir))
                 if ours < sequence(v.name) and (limit is None or sequence(v.name) < limit)]
        with self._lock:
            for candidate in ([target] if target is not None else []) + newer:
                fresh = self._open(candidate)
                if fresh is not None:
                    log.info("switched index %s -> %s", self.version, candidate.name)
                    self._retriever = fresh
                    self.problem, self._unavailable = None, False
                    return True
        return False

    def _open(self, version: Path) -> Retriever | None:
        """A retriever over ``version``, or None if it is refused: it does
        not load, or it indexes another corpus than the one served."""
        signature = _signature(version)
        if self._refused.get(version.name, ()) == signature:
            return None
        try:
            built_from, ours = read_manifest(version).get("corpus"), self._retriever.manifest.get("corpus")
            if built_from != ours:
                raise IndexFault(f"{version}: built from {built_from}, not from {ours} as the index served")
            return Retriever(load_version(version), self._retriever.search_settings)
        except IndexFault as exc:
            self._refused[version.name] = signature
            log.error("index version rejected, keeping %s: %s", self.version, exc)
            return None

    def _start_threads(self) -> None:
        """Start this process's reload and scrub threads (threads do not
        survive a fork: each worker starts its own on its first request).
        They hold the holder weakly, so they end with it."""
        self._threads_pid = os.getpid()
        ref = weakref.ref(self)
        for name, interval, task in (("index-reload", self.interval, IndexHolder.check),
                                     ("index-scrub", self.scrub_interval, IndexHolder.scrub)):
            if interval > 0:
                threading.Thread(target=_every, args=(ref, interval, task), name=name, daemon=True).start()

    def scrub(self, pace: bool = True) -> bool:
        """Re-read the live version's checksums (at most
        :data:`SCRUB_BYTES_PER_S` with ``pace``); on damage, log it, make it
        :attr:`problem` and answer from the newest sound version (none: stop
        answering).  True when the live version is sound."""
        stored = self._retriever.stored
        try:
            verify_files(stored.path, stored.manifest,
                         pace=(lambda n: time.sleep(n / SCRUB_BYTES_PER_S)) if pace else None)
            return True
        except IndexFault as exc:
            log.error("index scrub: live version damaged: %s", exc)
            problem = f"the live index is damaged: {exc}"
        try:
            published = current_version(self.index_dir)
        except IndexFault:
            published = None
        with self._lock:
            self._refused[stored.path.name] = _signature(stored.path)
            # The fallback is chosen before the problem is made public, so a
            # reader never sees the problem beside the damaged version.
            for candidate in reversed(list_versions(self.index_dir)):
                fresh = self._open(candidate)
                if fresh is not None:
                    # Moved to the published version itself, the worker is as
                    # it should be: it had lagged behind a publish whose
                    # pruning removed the version it was on.
                    self._retriever = fresh
                    self.problem = None if candidate == published else problem
                    log.warning("index scrub: serving %s instead", candidate.name)
                    return False
            log.error("index scrub: no sound version left; searches answer 503")
            self.problem, self._unavailable = problem, True
        return False
