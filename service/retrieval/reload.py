"""Reload: pick up a newly published index without a restart.

Each server worker holds its :class:`Retriever` in an :class:`IndexHolder`.
On a request, at most once per ``interval`` seconds, the holder reads the
index directory's ``CURRENT`` pointer; when it names a newer version, the
holder loads and verifies that version and swaps it in.  A version that
fails to load (corrupt, truncated, half-deleted) is remembered as bad and
never retried, and the worker keeps answering from the index it has: a
bad publish can't take the service down, and a worker's version only ever
moves forward.

This is a per-worker check rather than a gunicorn HUP on purpose: a HUP
whose new workers fail to boot (say, on a corrupt index) takes the whole
server down, while here every worker always has a good index in hand.

Damage after loading (a disk's bit rot, a stray write) is found by a
scrub: a background thread per process re-reads the live version's
checksums every ``scrub_interval`` seconds, at most ``SCRUB_BYTES_PER_S``.
On a mismatch the holder logs the path and reason, reports it as
:attr:`IndexHolder.problem` (``/readyz`` answers 503) until a newly
published sound version is swapped in, and answers from the newest sound
version on disk meanwhile; with none, :meth:`IndexHolder.get` raises
:class:`IndexUnavailable` rather than search damaged arrays.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Callable

from ..index.store import IndexFault, current_version, list_versions, load_version, verify_files

from .retriever import Retriever

log = logging.getLogger(__name__)

#: The scrub's read rate: a gigabyte index is re-read in about half a minute
#: of background I/O, leaving the disk to the requests.
SCRUB_BYTES_PER_S = 32 << 20


class IndexUnavailable(Exception):
    """No sound index to answer from: the live one is damaged and no other is sound."""


class IndexHolder:
    """The live retriever of one process, swapped when a new index is published."""

    def __init__(
        self,
        retriever: Retriever,
        index_dir: Path | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        scrub_interval: float = 0.0,
    ) -> None:
        self._retriever = retriever
        self.index_dir = Path(index_dir) if index_dir else retriever.stored.path.parent
        self.interval = interval
        self._clock = clock
        self._next_check = clock() + interval
        self._bad: set[str] = set()
        self._lock = threading.Lock()
        self.scrub_interval = scrub_interval  # seconds; 0: no scrub
        self._scrub_pid: int | None = None
        #: Why this process is not ready (damage a scrub found), or None.
        self.problem: str | None = None
        self._unavailable = False

    @property
    def version(self) -> str:
        return self._retriever.stored.path.name

    def get(self) -> Retriever:
        """The retriever to answer this request with (:class:`IndexUnavailable`: none is sound)."""
        if self.scrub_interval > 0 and self._scrub_pid != os.getpid():
            self._start_scrub()
        now = self._clock()
        if now >= self._next_check and self._lock.acquire(blocking=False):
            try:
                self._next_check = now + self.interval
                self.check()
            finally:
                self._lock.release()
        if self._unavailable:
            raise IndexUnavailable(self.problem)
        return self._retriever

    def check(self) -> bool:
        """Swap in the published version if it is newer and sound.

        When the published version is damaged, the newest sound version
        between ours and it is taken instead: a worker started after a bad
        publish (it begins with the index the master preloaded) must still
        catch up with the last good one.
        """
        try:
            target = current_version(self.index_dir)
        except IndexFault as exc:
            log.warning("index pointer unreadable, keeping %s: %s", self.version, exc)
            return False
        if target is None or target.name <= self.version:
            return False
        between = [v for v in list_versions(self.index_dir) if self.version < v.name < target.name]
        for candidate in [target, *reversed(between)]:
            if candidate.name in self._bad:
                continue
            try:
                fresh = Retriever(load_version(candidate), self._retriever.search_settings)
            except IndexFault as exc:
                self._bad.add(candidate.name)
                log.error("index version rejected, keeping %s: %s", self.version, exc)
                continue
            log.info("switched index %s -> %s", self.version, candidate.name)
            self._retriever = fresh
            self.problem, self._unavailable = None, False
            return True
        return False

    def _start_scrub(self) -> None:
        """Start this process's scrub thread (threads do not survive a fork:
        each worker starts its own on its first request).  The thread holds
        the holder weakly, so it ends with it."""
        self._scrub_pid = os.getpid()
        ref = weakref.ref(self)

        def loop(interval: float) -> None:
            while True:
                time.sleep(interval)
                holder = ref()
                if holder is None:
                    return
                holder.scrub()
                del holder

        threading.Thread(target=loop, args=(self.scrub_interval,), name="index-scrub", daemon=True).start()

    def scrub(self) -> bool:
        """Re-read the live version's checksums; on damage, log it, make it
        :attr:`problem` and answer from the newest sound version (none: stop
        answering).  True when the live version is sound."""
        stored = self._retriever.stored
        try:
            verify_files(stored.path, stored.manifest, pace=lambda n: time.sleep(n / SCRUB_BYTES_PER_S))
            return True
        except IndexFault as exc:
            log.error("index scrub: live version damaged: %s", exc)
            problem = f"the live index is damaged: {exc}"
        with self._lock:
            self._bad.add(stored.path.name)
            self.problem = problem
            for candidate in reversed(list_versions(self.index_dir)):
                if candidate.name in self._bad:
                    continue
                try:
                    self._retriever = Retriever(load_version(candidate), self._retriever.search_settings)
                except IndexFault as exc:
                    self._bad.add(candidate.name)
                    log.error("index version rejected: %s", exc)
                    continue
                log.warning("index scrub: serving %s instead", candidate.name)
                return False
            log.error("index scrub: no sound version left; searches answer 503")
            self._unavailable = True
        return False
