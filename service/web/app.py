"""The Flask application: the JSON API and the web form over one retriever.

``create_app`` is an application factory in the style of the Flask
tutorial: it takes the configuration and an opened index, and the views
live in blueprints, :mod:`service.web.api` and :mod:`service.web.pages`.
Under gunicorn (``python -m service serve``) the factory runs once in the
master process and the workers inherit the loaded, memory-mapped index;
each worker then swaps in a newly published index on its own
(:class:`service.retrieval.reload.IndexHolder`), so "once" means once per version.

Also usable as ``gunicorn 'service.web.serve:app_from_env()'``.
"""

from __future__ import annotations

import os
import secrets
from functools import partial
from typing import Any

import orjson
from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, RequestURITooLarge

from ..config import Config
from ..qa.ask import Search, search_json
from ..retrieval.reload import IndexHolder, IndexUnavailable
from ..retrieval.retriever import Retriever
from . import api, pages
from .errors import handle_http_error, handle_unavailable, handle_unexpected_error
from .state import PINNED, AppState

#: Sent with every response.  The CSP allows no script at all (the pages
#: need none), styles and images only from this origin, and no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

_SECURITY_NAMES = frozenset(name.lower() for name in SECURITY_HEADERS)
_SECURITY_ITEMS = tuple(SECURITY_HEADERS.items())

class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with responses encoded by orjson: several times faster
    than the standard library on a search document, which is a good share
    of a request's time.  The JSON is the same: keys in the documented
    order, text as UTF-8 rather than ``\\u`` escapes, compact unless in
    debug mode, and types orjson would render its own way (dates,
    dataclasses) or not at all go through Flask's ``default`` as before.
    """

    sort_keys = False  # keep the documented key order
    ensure_ascii = False  # "CSC’s", not "CSC\u2019s"
    _OPTIONS = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        pretty = (self.compact is None and self._app.debug) or self.compact is False
        options = self._OPTIONS | (orjson.OPT_INDENT_2 if pretty else 0)
        return self._app.response_class(orjson.dumps(obj, default=self.default, option=options),
                                        mimetype=self.mimetype)


def create_app(config: Config, retriever: Retriever, search: Search = search_json) -> Flask:
    """An application serving ``retriever``, an index already opened: the
    app never builds one (:func:`service.index.build.ensure_index` does,
    before, in the CLI and :mod:`service.web.serve`).  ``search`` answers
    a checked question (a benchmark passes a variant with a stage left out)."""
    app = Flask(__name__)
    # Flask turns debug on from FLASK_DEBUG in the environment; a server must
    # not be switched into debug (pretty-printed JSON, templates re-read on
    # every request) by a stray variable: debug stays off outside tests.
    app.debug = False
    # One byte over the limit, so that reading a body (declared or chunked)
    # shows whether it is over: the API refuses it then (api._body).
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes + 1
    # No 308 redirects from "//" to "/": a source ID may start with "/",
    # and the API answers every path with JSON, not an HTML redirect page.
    app.url_map.merge_slashes = False
    app.json = FastJSONProvider(app)
    state = AppState(config, IndexHolder(retriever, config.index_dir, interval=config.reload_interval,
                                         scrub_interval=config.scrub_interval), search)
    app.extensions["groundedqa"] = state
    app.register_blueprint(api.bp)
    app.register_blueprint(api.health)
    app.register_blueprint(pages.bp)
    # The hook runs on every request: what it needs is bound here rather
    # than looked up through Flask's context proxies each time.
    app.before_request(partial(_check_url_length, config.max_url_bytes))
    app.wsgi_app = _ResponseHeaders(app.wsgi_app, state.holder)  # type: ignore[method-assign]
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(IndexUnavailable, handle_unavailable)
    app.register_error_handler(Exception, handle_unexpected_error)
    return app


def _check_url_length(limit: int) -> None:
    """Refuse over-long URLs with the documented 414 (in JSON under /api)
    rather than leaving it to the WSGI server's own plain-text limit."""
    environ = request.environ
    query = environ.get("QUERY_STRING", "")
    size = len(environ.get("PATH_INFO", "")) + (len(query) + 1 if query else 0)
    if size > limit:
        raise RequestURITooLarge(f"the URL is {size} bytes long; the limit is {limit} bytes (use POST for long questions)")


_TAGS: dict[int, str] = {}


def _worker_tag() -> str:
    """This process's random tag (made anew in each forked worker)."""
    pid = os.getpid()
    tag = _TAGS.get(pid)
    if tag is None:
        tag = _TAGS[pid] = secrets.token_hex(4)
    return tag


class _ResponseHeaders:
    """WSGI middleware around the Flask app: every response it sends gets
    the security headers it has not set itself, and which index version
    and which worker answered (that lets a load test prove that every
    worker's version only moves forward across reloads): an opaque tag, not
    the process id, which would tell every client about the host.

    Added at ``start_response``, the last step every response passes
    through, as plain ``(name, value)`` pairs: constants need none of the
    per-header checks Werkzeug's ``Headers`` makes, which were a measurable
    share of a short request.
    """

    def __init__(self, wsgi_app: Any, holder: IndexHolder) -> None:
        self.wsgi_app = wsgi_app
        self.holder = holder

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        holder = self.holder
        try:
            # Also starts this process's reload and scrub threads on its first
            # request.  The request is answered from this one retriever, and
            # its header names it, though a reload may swap in another meanwhile.
            retriever = environ[PINNED] = holder.get()
            version = retriever.stored.path.name
        except IndexUnavailable:
            version = holder.version  # the view answers that (a search's 503, /readyz's reason)
        tag = _worker_tag()

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            missing = (_SECURITY_ITEMS if _SECURITY_NAMES.isdisjoint(present)
                       else [item for item in _SECURITY_ITEMS if item[0].lower() not in present])
            return start_response(status, [*headers, *missing, ("X-Index-Version", version),
                                           ("X-Served-By", tag)], exc_info)

        return self.wsgi_app(environ, start)
