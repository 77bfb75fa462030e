"""What the collection holds, by source: dates, the passage mask of a
filter, the newest-first list of sources and the order by date.

A filter becomes a mask over passages (:class:`Filters` → :meth:`Collection.allowed`)
that the scorer applies inside its kernels, so a filtered top-k is exact
(:mod:`service.retrieval.kernels`).  Dates are compared by calendar day
(``YYYY-MM-DD``, a date-time's day as written); an article without a date
is outside every date range.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Sequence

import numpy as np

#: A source without a date, in the day arrays (sorts after every real day).
NO_DAY = -1


@dataclass(frozen=True)
class Filters:
    """Which passages a search may return: of these sources (empty: any)
    and dated within ``[date_from, date_to]`` (ISO days; None: open)."""

    sources: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.sources) or self.date_from is not None or self.date_to is not None

    def to_json(self) -> dict[str, Any]:
        return {"source": list(self.sources), "date_from": self.date_from, "date_to": self.date_to}


def day_number(day: str) -> int:
    """``"2014-06-03"`` → 20140603, the order of days."""
    return int(day[:4]) * 10000 + int(day[5:7]) * 100 + int(day[8:10])


@dataclass(frozen=True)
class SourceEntry:
    """A source as the list of the collection shows it."""

    source_id: str
    title: str | None
    date: str | None
    url: str | None
    passages: int

    def to_json(self) -> dict[str, Any]:
        return {"source_id": self.source_id, "title": self.title, "date": self.date, "url": self.url,
                "passages": self.passages}


class Collection:
    """The sources of one loaded index, with their passages' ranges."""

    def __init__(self, sources: Sequence[dict[str, str]], p_source: np.ndarray,
                 live: np.ndarray | None = None) -> None:
        """``live``: which of ``sources`` the index still holds (None: all);
        a deleted one is in no list and no lookup."""
        self.sources = sources
        live = np.ones(len(sources), dtype=bool) if live is None else live
        self.index = {s["id"]: i for (i, s), kept in zip(enumerate(sources), live.tolist()) if kept}
        self.p_source = p_source
        #: Passages of source i are the contiguous range first[i]:first[i+1].
        self.first = np.searchsorted(p_source, np.arange(len(sources) + 1))
        self.days = np.array([day_number(s["date"]) if s.get("date") else NO_DAY for s in sources], dtype=np.int64)
        self._live = live

    @cached_property
    def _newest(self) -> list[int]:
        """The live sources newest first, then by ID: the list's order
        (undated sources last).  Sorted when first listed: a one-shot
        ``ask`` lists nothing (40 ms at 38,000 sources)."""
        days, sources = self.days.tolist(), self.sources
        return sorted(np.flatnonzero(self._live).tolist(), key=lambda i: (-days[i], sources[i]["id"]))

    def allowed(self, filters: Filters | None) -> np.ndarray | None:
        """The mask of the passages ``filters`` allow (None: every passage)."""
        if filters is None or not filters.active:
            return None
        keep = np.ones(len(self.sources), dtype=bool)
        if filters.sources:
            keep[:] = False
            keep[[self.index[s] for s in filters.sources]] = True
        if filters.date_from is not None or filters.date_to is not None:
            keep &= self.days != NO_DAY
            if filters.date_from is not None:
                keep &= self.days >= day_number(filters.date_from)
            if filters.date_to is not None:
                keep &= self.days <= day_number(filters.date_to)
        return keep[self.p_source]

    def passage_days(self, docs: np.ndarray) -> np.ndarray:
        """The day numbers of passages ``docs`` (NO_DAY where undated)."""
        return self.days[self.p_source[docs]]

    def entries(self, offset: int, limit: int) -> list[SourceEntry]:
        """``limit`` sources from ``offset`` of the newest-first list."""
        out = []
        for i in self._newest[offset:offset + limit]:
            s = self.sources[i]
            out.append(SourceEntry(s["id"], s.get("title"), s.get("date"), s.get("url"),
                                   int(self.first[i + 1] - self.first[i])))
        return out

    def date_range(self) -> tuple[str, str] | None:
        """The earliest and latest date of the dated sources, as written."""
        dated = [self.sources[i]["date"] for i in self._newest if self.sources[i].get("date")]
        if not dated:
            return None
        return min(dated, key=lambda d: (d[:10], d)), max(dated, key=lambda d: (d[:10], d))
