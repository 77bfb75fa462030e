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

from flask import Blueprint, abort, render_template, request

from ..retrieval.retriever import SourceView
from .state import app_state
from .validation import InvalidParams, flatten_query

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


@bp.get("/")
def index():
    state = app_state()
    args, earlier = flatten_query(request.args.to_dict(flat=False))
    retriever = state.retriever
    context = {"q": args.get("q", ""), "k": args.get("k", str(state.config.default_k)),
               "k_choices": K_CHOICES, "limits": state.config, "doc": None, "errors": [],
               "modes": retriever.modes, "retrieval": args.get("retrieval") or retriever.default_retrieval}
    if "q" not in args:
        return render_template("index.html", **context)
    try:
        checked = state.check_search(retriever, args, earlier, from_text=True, ignore_unknown=True)
    except InvalidParams as exc:
        return render_template("index.html", **{**context, "errors": exc.errors}), 400
    context["doc"] = state.search(retriever, checked.q, checked.k, checked.terms, checked.retrieval)
    context["retrieval"] = context["doc"]["retrieval"]
    # A k typed into the URL stays selected when the form is sent again.
    context["k_choices"] = sorted({*K_CHOICES, checked.k})
    context["k"] = str(checked.k)
    return render_template("index.html", **context)


@bp.get("/sources/<path:source_id>")
def source(source_id: str):
    view = app_state().retriever.source(source_id)
    if view is None:
        abort(404, description="There is no source with this ID in the collection.")
    current = request.args.get("passage")
    return render_template("source.html", view=view, segments=segments(view, current),
                           url=safe_url(view.metadata.get("url")), current=current)
