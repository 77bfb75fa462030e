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
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from ..index.store import IndexFault, current_version, list_versions, load_version

from .retriever import Retriever

log = logging.getLogger(__name__)


class IndexHolder:
    """The live retriever of one process, swapped when a new index is published."""

    def __init__(
        self,
        retriever: Retriever,
        index_dir: Path | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._retriever = retriever
        self.index_dir = Path(index_dir) if index_dir else retriever.stored.path.parent
        self.interval = interval
        self._clock = clock
        self._next_check = clock() + interval
        self._bad: set[str] = set()
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        return self._retriever.stored.path.name

    def get(self) -> Retriever:
        """The retriever to answer this request with."""
        now = self._clock()
        if now >= self._next_check and self._lock.acquire(blocking=False):
            try:
                self._next_check = now + self.interval
                self.check()
            finally:
                self._lock.release()
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
            return True
        return False
