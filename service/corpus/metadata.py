"""Article metadata: front matter, the sidecar ``metadata.jsonl``, dates.

A folder's article may open with a front-matter block::

    ---
    title: Lorenzo users meet
    date: 2014-06-03
    url: https://example.org/lorenzo
    ---

The block is cut off before anything else sees the text, so the article as
shown (and every character span into it) starts after it.  A sidecar
``metadata.jsonl`` in the folder gives the same fields by source ID
(``{"id", "title", "date", "url"}``).  A date must be ISO 8601, a date or a
date-time: anything else is a problem to fix, never a guess, because the
date filters and the date order read it.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

#: The fields front matter and metadata.jsonl may set.
FIELDS = ("title", "date", "url")
SIDECAR = "metadata.jsonl"
_FENCE = "---"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def date_problem(value: str) -> str | None:
    """Why ``value`` is not an ISO 8601 date or date-time, or None."""
    try:
        if _DAY.match(value):
            date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
            return None
    except ValueError:
        pass
    return f"date {value[:40]!r} is not an ISO 8601 date (2014-06-03) or date-time (2014-06-03T09:30:00Z)"


def day_of(value: str) -> str:
    """The calendar day (YYYY-MM-DD) of a valid ISO date or date-time, as
    written (a date-time's own offset): what the date filters compare."""
    return value[:10]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def split_front_matter(text: str) -> tuple[dict[str, str], str, list[tuple[int, str]]]:
    """``(fields, text as shown, problems as (line, reason))`` of an article.

    Without a block the text is returned whole.  The shown text starts on
    the line after the closing ``---``; blank lines right after it are
    dropped, so a span never points into the block or its margin.
    """
    if not text.startswith(_FENCE + "\n"):
        return {}, text, []
    lines = text.split("\n")
    try:
        close = lines.index(_FENCE, 1)
    except ValueError:
        return {}, text, [(1, "front matter opened with '---' is never closed by a '---' line")]
    fields: dict[str, str] = {}
    problems: list[tuple[int, str]] = []
    for n, line in enumerate(lines[1:close], start=2):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip().lower(), _unquote(value.strip())
        if not sep or key not in FIELDS:
            problems.append((n, f"front matter line {line.strip()[:60]!r} is not 'title:', 'date:' or 'url:'"))
        elif key in fields:
            problems.append((n, f"front matter gives {key!r} twice"))
        elif value:
            why = date_problem(value) if key == "date" else None
            if why:
                problems.append((n, why))
            else:
                fields[key] = value
    body = "\n".join(lines[close + 1:]).lstrip("\n")
    return fields, body, problems


def read_sidecar(path: Path) -> tuple[dict[str, tuple[int, dict[str, str]]], list[tuple[int, str]]]:
    """``(line, fields)`` by source ID from a ``metadata.jsonl``, and its
    problems as ``(line, reason)``."""
    out: dict[str, tuple[int, dict[str, str]]] = {}
    problems: list[tuple[int, str]] = []
    try:
        raw_lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        return {}, [(0, f"cannot be read: {exc.strerror or exc}")]
    for n, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        try:
            rec: Any = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            problems.append((n, f"not valid JSON: {getattr(exc, 'msg', exc)}"))
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str) or not rec["id"].strip():
            problems.append((n, 'a record is a JSON object with a string "id"'))
            continue
        unknown = sorted(set(rec) - {"id", *FIELDS})
        if unknown:
            problems.append((n, f"unknown field(s) {', '.join(unknown)}; known: id, {', '.join(FIELDS)}"))
            continue
        if rec["id"] in out:
            problems.append((n, f"source ID {rec['id']!r} appears twice"))
            continue
        fields = {}
        for key in FIELDS:
            value = rec.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                problems.append((n, f'"{key}" must be a string'))
            elif value.strip():
                why = date_problem(value.strip()) if key == "date" else None
                if why:
                    problems.append((n, why))
                else:
                    fields[key] = value.strip()
        out[rec["id"]] = (n, fields)
    return out, problems
