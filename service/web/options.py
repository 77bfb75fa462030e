"""Checks of a search's filters, order, page and ``explain`` → :class:`Options`.

``source`` is the one parameter a query string may repeat
(``source=a&source=b``; in JSON a string or a list); ``date_from`` and
``date_to`` are inclusive ISO days; ``sort`` is ``relevance`` or ``date``;
``offset`` counts from 0 to ``config.max_offset``; ``explain`` is a
boolean.  Every problem is collected, none stops the others' checks.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Callable, Mapping

from ..config import Config
from ..qa.ask import SORTS, Options
from ..retrieval.collection import Filters

#: Parameters that may be given more than once in a query string.
REPEATABLE = ("source",)
#: The parameters checked here.
OPTIONS = ("source", "date_from", "date_to", "sort", "offset", "explain")
_TRUE = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "": False}


def _day(raw: Any, name: str, errors: list[tuple[str, str]]) -> str | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str) and len(raw) == 10 and raw[4] == "-" and raw[7] == "-":
        try:
            date.fromisoformat(raw)
            return raw
        except ValueError:
            pass
    shown = repr(raw[:40]) if isinstance(raw, str) else "a non-string value"
    errors.append((name, f"{name} must be a date like 2014-06-03 (year-month-day), not {shown}"))
    return None


def _sources(raw: Any, config: Config, has_source: Callable[[str], bool],
             errors: list[tuple[str, str]]) -> tuple[str, ...]:
    if raw is None or raw == "" or raw == []:
        return ()
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        errors.append(("source", "source must be a source ID or a list of them"))
        return ()
    values = [v for v in values if v != ""]
    if len(values) > config.max_sources:
        errors.append(("source", f"source names {len(values)} sources; the limit is {config.max_sources}"))
        return ()
    unknown = [v for v in values if not has_source(v)]
    for v in unknown[:10]:
        errors.append(("source", f"there is no source with ID {v[:80]!r} (GET /api/sources lists them)"))
    return tuple(dict.fromkeys(values)) if not unknown else ()


def _offset(raw: Any, config: Config, from_text: bool, errors: list[tuple[str, str]]) -> int:
    if raw is None or raw == "":
        return 0
    if from_text and isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 7:
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= config.max_offset:
        errors.append(("offset", f"offset must be an integer from 0 to {config.max_offset}"))
        return 0
    return raw


def _explain(raw: Any, from_text: bool, errors: list[tuple[str, str]]) -> bool:
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    if from_text and isinstance(raw, str) and raw.lower() in _TRUE:
        return _TRUE[raw.lower()]
    errors.append(("explain", "explain must be true or false"))
    return False


def check_options(params: Mapping[str, Any], config: Config, has_source: Callable[[str], bool],
                  from_text: bool) -> tuple[Options, list[tuple[str, str]]]:
    """The options ``params`` ask for, and every ``(param, message)`` wrong with them."""
    errors: list[tuple[str, str]] = []
    nulls = [name for name in OPTIONS if name in params and params[name] is None]
    errors += [(name, f"{name} is null; leave it out or give it a value") for name in nulls]
    params = {name: value for name, value in params.items() if value is not None}
    sources = _sources(params.get("source"), config, has_source, errors)
    date_from = _day(params.get("date_from"), "date_from", errors)
    date_to = _day(params.get("date_to"), "date_to", errors)
    if date_from and date_to and date_from > date_to:
        errors.append(("date_to", f"date_from ({date_from}) is after date_to ({date_to})"))
    sort = params.get("sort") or "relevance"
    if sort not in SORTS:
        errors.append(("sort", "sort must be relevance or date"))
        sort = "relevance"
    offset = _offset(params.get("offset"), config, from_text, errors)
    explain = _explain(params.get("explain"), from_text, errors)
    return Options(Filters(sources, date_from, date_to), sort, offset, explain), errors
