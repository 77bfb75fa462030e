"""The web form: ``/`` (search form and results) and ``/sources/<id>``.

Plain HTML, no JavaScript: the form uses GET so a results page can be shared
by its URL (``/?q=...``).  Jinja autoescapes everything; the one piece of
markup inserted as is is a hit's ``highlights``, which
:func:`service.highlight.highlight` builds by escaping the text first and
adding ``<mark>`` second.  Unknown query parameters are ignored here (links
get tracking parameters appended), unlike in the API, which names them.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Any
from urllib.parse import parse_qs, urlencode

from flask import Blueprint, abort, render_template, request, url_for

from ..retrieval.retriever import Retriever, SourceView
from .state import app_state
from .validation import SEARCH_PARAMS, InvalidParams, check_list, flatten_query

bp = Blueprint("web", __name__)  # templates and static files: the app's

#: Choices offered by the form's "passages" menu (any 1..max_k works in the URL).
K_CHOICES = (5, 10, 20, 50)


@dataclass(frozen=True)
class Segment:
    """A run of an article's text: a passage (with its ID) or the gap between two."""

    text: str
    passage_id: str | None = None
    current: bool = False


def segments(view: SourceView, current: str | None) -> list[Segment]:
    """Cut an article into its passages and the text between them, so the
    template can anchor each passage and mark the one that was linked.

    Every character is in exactly one segment: with ``overlap_sentences``
    a passage repeats the end of the one before, and its segment starts
    where that one's ended rather than showing those sentences twice.
    """
    out, pos = [], 0
    for p in view.passages:
        if p["start_char"] > pos:
            out.append(Segment(view.text[pos:p["start_char"]]))
        start = max(pos, p["start_char"])
        out.append(Segment(view.text[start:p["end_char"]], p["id"], p["id"] == current))
        pos = max(pos, p["end_char"])
    if pos < len(view.text):
        out.append(Segment(view.text[pos:]))
    return out


def safe_url(url: str | None) -> str | None:
    """A source's URL if it is a web address; never ``javascript:`` and the like."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


def _search_args(args: dict[str, Any]) -> dict[str, Any]:
    """The search parameters of ``args`` that are set (one value each,
    ``source`` a list), for the links that keep a search: the pages, the
    way back from a source."""
    out: dict[str, Any] = {}
    for name in SEARCH_PARAMS:
        value = args.get(name)
        if name == "source":
            value = [v for v in value or [] if v]
        elif isinstance(value, list):
            value = value[0] if value else None
        if value and name != "explain":
            out[name] = value
    return out


def _page_links(args: dict[str, Any], doc: dict[str, Any], k: int) -> dict[str, str | None]:
    """"Previous page" and "next page" URLs that keep the question and filters."""
    offset, end = doc["offset"], doc["offset"] + len(doc["hits"])
    prev_offset = max(0, offset - k) if offset > 0 else None
    more = len(doc["hits"]) == k and end < doc["total"]
    next_offset = end if more and end <= app_state().config.max_offset else None
    base = {**_search_args(args), "k": str(k)}
    return {name: (url_for("web.index", **{**base, "offset": str(o)}) if o is not None else None)
            for name, o in (("previous", prev_offset), ("next", next_offset))}


def _summary(retriever: Retriever) -> dict[str, Any]:
    """What the home page says the collection is."""
    return {"sources": retriever.n_sources, "passages": retriever.n_passages,
            "dates": retriever.collection.date_range()}


@bp.get("/")
def index():
    state = app_state()
    args, earlier = flatten_query(request.args.to_dict(flat=False))
    retriever = state.retriever
    sources = [s for s in args.get("source", []) if s]
    context = {"q": args.get("q", ""), "k": args.get("k", str(state.config.default_k)),
               "k_choices": K_CHOICES, "limits": state.config, "doc": None, "errors": [],
               "modes": retriever.modes, "retrieval": args.get("retrieval") or retriever.default_retrieval,
               "sources": [(s, retriever.title(s)) for s in sources], "date_from": args.get("date_from", ""),
               "date_to": args.get("date_to", ""), "sort": args.get("sort", "relevance"),
               "summary": _summary(retriever), "pages": {}, "back": ""}
    if "q" not in args:
        return render_template("index.html", **context)
    try:
        checked = state.check_search(retriever, {**args, "explain": True}, earlier, from_text=True,
                                     ignore_unknown=True, plain=True)
    except InvalidParams as exc:
        return render_template("index.html", **{**context, "errors": exc.errors}), 400
    doc = context["doc"] = state.search(retriever, checked.q, checked.k, checked.terms, checked.retrieval,
                                        options=checked.options)
    context["retrieval"] = doc["retrieval"]
    # A k typed into the URL stays selected when the form is sent again.
    context["k_choices"] = sorted({*K_CHOICES, checked.k})
    context["k"] = str(checked.k)
    context["pages"] = _page_links(args, doc, checked.k)
    context["back"] = urlencode(_search_args(args), doseq=True)
    context["cut"] = len(checked.q) >= state.config.max_query_chars
    return render_template("index.html", **context)


@bp.get("/sources")
def sources():
    """The collection, newest first: the page of ``GET /api/sources``."""
    state = app_state()
    retriever = state.retriever
    offset, limit, errors = check_list(request.args.to_dict(flat=False), state.config, retriever.n_sources,
                                       ignore_unknown=True)
    if errors:
        return render_template("sources.html", errors=errors, entries=[], summary=_summary(retriever)), 400
    entries = retriever.collection.entries(offset, limit)
    prev_offset = max(0, offset - limit) if offset else None
    next_offset = offset + limit if offset + limit < retriever.n_sources else None
    pages = {name: (url_for("web.sources", offset=o, limit=limit) if o is not None else None)
             for name, o in (("previous", prev_offset), ("next", next_offset))}
    return render_template("sources.html", errors=[], entries=entries, summary=_summary(retriever), pages=pages,
                           offset=offset)


@bp.get("/sources/<path:source_id>")
def source(source_id: str):
    view = app_state().retriever.source(source_id)
    if view is None:
        abort(404, description="There is no source with this ID in the collection.")
    current = request.args.get("passage")
    # The results this page was opened from: re-encoded from its parsed
    # parameters, so the link can only lead back to this site's search.
    back = request.args.get("back")
    back_url = None
    if back:
        kept = _search_args(parse_qs(back[:app_state().config.max_url_bytes]))
        back_url = url_for("web.index") + "?" + urlencode(kept, doseq=True) if kept.get("q") else None
    return render_template("source.html", view=view, segments=segments(view, current),
                           url=safe_url(view.metadata.get("url")), current=current, back_url=back_url)
