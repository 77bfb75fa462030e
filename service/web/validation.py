"""Validation: raw search parameters → a checked question and ``k``.

Kept outside Flask so the HTTP API and the web form apply the very same
limits, and every problem with a request is reported at once (a client
fixing ``q`` should not then discover that ``k`` was wrong too).  Values
named in messages are shown through :func:`repr`, truncated, so an error
message never carries raw user text (or a lone surrogate) into a response.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping

from ..config import RETRIEVAL_MODES, Config
from ..qa.ask import Options
from .options import REPEATABLE, check_options

#: The parameters ``/api/search`` and the web form understand.
SEARCH_PARAMS = ("q", "k", "retrieval", "source", "date_from", "date_to", "sort", "offset", "explain")
#: The parameters of ``/api/sources`` and ``/sources``.
LIST_PARAMS = ("offset", "limit")
#: How the form and the CLI name the API's terse parameters in messages.
PLAIN_NAMES = {"q": "the question", "k": "the number of passages"}
_SHOWN_CHARS = 40
_SHOWN_NAMES = 10
#: A parameter not given at all (in JSON, ``null`` is a value given, and refused).
_ABSENT = object()


@dataclass(frozen=True)
class ParamError:
    """One problem with a request: which parameter (None if none in
    particular) and what is wrong, in words a client can act on."""

    param: str | None
    message: str


class InvalidParams(ValueError):
    """A request with one or more problems; ``errors`` lists them all."""

    def __init__(self, errors: list[ParamError]) -> None:
        self.errors = errors
        super().__init__("; ".join(e.message for e in errors))


@dataclass(frozen=True)
class SearchParams:
    q: str
    k: int
    terms: list[str]  # q's search terms, as the index analyses it
    retrieval: str | None  # "lexical", "hybrid", or None: the index's default
    options: Options = Options()


def _shown(value: str) -> str:
    """A safe, bounded rendering of user text for an error message."""
    return repr(value[:_SHOWN_CHARS]) + ("…" if len(value) > _SHOWN_CHARS else "")


def _is_text(value: str) -> bool:
    """False for strings that are not Unicode text (lone surrogates, which
    JSON's ``\\ud800`` escapes can smuggle in and UTF-8 cannot encode)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _repeated(name: str, times: int) -> ParamError:
    """A parameter given more than once: which one would win is a guess we refuse to make."""
    return ParamError(name, f"{_shown(name)} is given {times} times; give it once")


def flatten_query(multi: Mapping[str, list[str]]) -> tuple[dict[str, str], list[ParamError]]:
    """A query string's ``{name: [values]}`` → ``{name: value}``, with an
    error for every search parameter given more than once (which one would
    win is a guess we refuse to make), except ``source``, whose values are
    kept as a list."""
    flat: dict[str, Any] = {}
    errors = []
    for name, values in multi.items():
        if name in REPEATABLE:
            flat[name] = values
            continue
        if len(values) > 1 and name in SEARCH_PARAMS:
            errors.append(_repeated(name, len(values)))
        flat[name] = values[0] if values else ""
    return flat, errors


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A request body → the JSON object it holds, or :class:`InvalidParams`.

    A key given twice in one object is refused, as a repeated query
    parameter is (``json`` would silently keep the last).
    ``RecursionError`` is caught with the decoding errors: a body of a few
    thousand ``[`` is valid-looking JSON that exhausts the parser's stack.
    """
    repeated: dict[str, int] = {}

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) < len(pairs):
            names = [name for name, _ in pairs]
            repeated.update((name, names.count(name)) for name in obj if names.count(name) > 1)
        return obj

    try:
        doc = json.loads(body, object_pairs_hook=unique_keys)
    except RecursionError:
        raise InvalidParams([ParamError(None, "the JSON body is nested too deeply")]) from None
    except ValueError as exc:  # includes UnicodeDecodeError
        raise InvalidParams([ParamError(None, f"the body is not valid JSON ({exc})")]) from None
    if not isinstance(doc, dict):
        raise InvalidParams([ParamError(None, 'the JSON body must be an object like {"q": "...", "k": 10}')])
    if repeated:
        raise InvalidParams([_repeated(name, times) for name, times in repeated.items()])
    return doc


def _check_q(raw: Any, config: Config, analyze: Callable[[str], list[str]],
             name: str = "q") -> tuple[str | None, list[str], ParamError | None]:
    """The trimmed question and its search terms, or what is wrong with it
    (``name``: how the message calls it)."""
    if raw is _ABSENT:
        return None, [], ParamError("q", "q (the question) is required" if name == "q" else f"{name} is required")
    if not isinstance(raw, str):
        return None, [], ParamError("q", f"{name} must be a string")
    if not _is_text(raw):
        return None, [], ParamError("q", f"{name} is not valid Unicode text (it contains a lone surrogate)")
    q = raw.strip()
    if not q:
        return None, [], ParamError("q", f"{name} must not be empty")
    if len(q) > config.max_query_chars:
        return None, [], ParamError("q", f"{name} is {len(q)} characters long; the limit is {config.max_query_chars}")
    terms = analyze(q)
    if len(terms) > config.max_query_terms:
        return None, [], ParamError("q", f"{name} has {len(terms)} search terms; the limit is {config.max_query_terms}")
    return q, terms, None


def _check_k(raw: Any, config: Config, from_text: bool, name: str = "k") -> tuple[int | None, ParamError | None]:
    if raw is _ABSENT:
        return config.default_k, None
    wrong = ParamError("k", f"{name} must be an integer from 1 to {config.max_k}")
    if from_text and isinstance(raw, str):
        # Plain digits only: int() would also take " 5", "+5" and "5_0".
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 6):
            return None, wrong
        raw = int(raw)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # JSON Schema's integer: 50.0 is one
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= config.max_k:
        return None, wrong
    return raw, None


def _check_retrieval(raw: Any, modes: Collection[str]) -> tuple[str | None, ParamError | None]:
    if raw is _ABSENT or raw == "":
        return None, None
    if raw not in RETRIEVAL_MODES:
        return None, ParamError("retrieval", "retrieval must be lexical or hybrid")
    if raw not in modes:
        return None, ParamError("retrieval", f"retrieval={raw} is not available: this index has no "
                                             "passage vectors (it was built with --no-semantic)")
    return raw, None


def check_search(
    params: Mapping[str, Any],
    config: Config,
    analyze: Callable[[str], list[str]],
    ignore_unknown: bool = False,
    errors: list[ParamError] | None = None,
    from_text: bool = False,
    modes: Collection[str] = RETRIEVAL_MODES,
    has_source: Callable[[str], bool] = lambda source_id: False,
    plain: bool = False,
) -> SearchParams:
    """Checked ``q`` and ``k`` from ``params`` (a query string's values or a
    JSON object), or :class:`InvalidParams` listing every problem, including
    ``errors`` found earlier (e.g. by :func:`flatten_query`).

    ``q`` is at most ``config.max_query_chars`` characters and
    ``config.max_query_terms`` search terms (``analyze`` gives them the
    way the index will: words left after stopwords; they are returned, so
    the search does not analyse the question again); ``k`` is an integer in
    1..``config.max_k``, ``config.default_k`` when absent; a string of
    digits counts as one only ``from_text`` (a query string, where every
    value is text), never in JSON, where ``"3"`` is not a number but
    ``50.0`` is an integer; ``retrieval`` is one of ``modes`` (what the
    index can serve) or absent.  A JSON ``null`` is a value given, not an
    absent one: refused for all of them.  The filters, order, page and
    ``explain``: :mod:`service.web.options` (``has_source`` tells which
    source IDs exist).  ``plain``: messages call ``q`` and ``k`` "the
    question" and "the number of passages", as the form and the CLI do.
    """
    errors = list(errors or [])
    unknown = sorted(str(name) for name in params if name not in SEARCH_PARAMS)
    if unknown and not ignore_unknown:
        names = ", ".join(_shown(n) for n in unknown[:_SHOWN_NAMES])
        more = f" and {len(unknown) - _SHOWN_NAMES} more" if len(unknown) > _SHOWN_NAMES else ""
        errors.append(ParamError(None, f"unknown parameter(s) {names}{more}; "
                                       f"the parameters are {', '.join(SEARCH_PARAMS)}"))
    names = PLAIN_NAMES if plain else {"q": "q", "k": "k"}
    q, terms, q_error = _check_q(params.get("q", _ABSENT), config, analyze, names["q"])
    k, k_error = _check_k(params.get("k", _ABSENT), config, from_text, names["k"])
    retrieval, r_error = _check_retrieval(params.get("retrieval", _ABSENT), modes)
    options, problems = check_options(params, config, has_source, from_text)
    errors += [e for e in (q_error, k_error, r_error) if e]
    errors += [ParamError(param, message) for param, message in problems]
    if errors:
        raise InvalidParams(errors)
    assert q is not None and k is not None
    return SearchParams(q, k, terms, retrieval, options)


def _list_int(raw: Any, name: str, low: int, high: int, default: int, errors: list[ParamError]) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 7 and low <= int(raw) <= high:
        return int(raw)
    errors.append(ParamError(name, f"{name} must be an integer from {low} to {high}"))
    return default


def check_list(multi: Mapping[str, list[str]], config: Config, n_sources: int,
               ignore_unknown: bool = False) -> tuple[int, int, list[ParamError]]:
    """``offset`` (0 to the number of sources) and ``limit`` (1 to
    ``config.max_list_limit``) of a page of the list of sources from a
    query string's ``{name: [values]}``, and every problem with them."""
    errors = []
    unknown = sorted(n for n in multi if n not in LIST_PARAMS)
    if unknown and not ignore_unknown:
        errors.append(ParamError(None, f"unknown parameter(s) {', '.join(_shown(n) for n in unknown[:_SHOWN_NAMES])}; "
                                       "the parameters are offset and limit"))
    for name in LIST_PARAMS:
        if len(multi.get(name, [])) > 1:
            errors.append(ParamError(name, f"{name} is given {len(multi[name])} times; give it once"))
    first = {name: (multi.get(name) or [None])[0] for name in LIST_PARAMS}
    offset = _list_int(first["offset"], "offset", 0, n_sources, 0, errors)
    limit = _list_int(first["limit"], "limit", 1, config.max_list_limit, config.default_list_limit, errors)
    return offset, limit, errors
