"""Serving: the Flask app under gunicorn, started from Python.

``python -m service serve`` builds the app (loading the index, or building
it first if it is missing or stale) in the gunicorn master, before any
worker exists; with ``preload_app`` the workers are forked from it and share
the memory-mapped index arrays read-only through the page cache instead of
each loading a copy.  Problems with the corpus or index therefore surface
as one error message before the server starts, not as crashing workers.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from ..answer.judge import judge_for
from ..config import Config
from ..index.build import Rebuild
from ..index.sync import open_index
from ..qa.ask import Search, search_json
from ..retrieval.retriever import Retriever
from .app import create_app
from .worker import Worker

#: Gunicorn's request-line cap: 0 lifts its 8,190-byte default (to its own
#: hard bound of 1 MiB) so that the app's ``max_url_bytes`` decides, with a
#: JSON 414: a 1,000-character question in a non-Latin script takes up to
#: 9,000 bytes percent-encoded and must fit.
REQUEST_LINE_LIMIT = 0


class GunicornApp(BaseApplication):
    """Gunicorn with options from a dict instead of its command line."""

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.app = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        # Options an older gunicorn does not know (control_socket_disable) are skipped.
        for key, value in self.options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.app


def bind_address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def gunicorn_options(config: Config) -> dict[str, Any]:
    return {
        "bind": bind_address(config.host, config.port),
        "workers": config.workers,
        "worker_class": Worker,
        "threads": config.threads,
        "preload_app": True,
        "accesslog": "-",
        "errorlog": "-",
        "limit_request_line": REQUEST_LINE_LIMIT,
        "proc_name": "groundedqa",
        # No management socket in the user's home: nothing here needs one,
        # and two servers on one machine would contend for its path.
        "control_socket_disable": True,
    }


def app_from_env() -> Flask:
    """The app for the index of the environment's corpus (built if missing
    or stale): ``gunicorn 'service.web.serve:app_from_env()'``."""
    config = Config.from_env()
    return create_app(config, Retriever(open_index(config), config.search))


def warm_up(app: Flask) -> Any:
    """A gunicorn ``post_fork`` hook: each new worker, before its first
    request, catches up with the index published since the master loaded
    its own (a worker respawned after a kill would otherwise answer from an
    older index than the others until its reload thread ran), and opens its
    own encoder and answer-judge sessions (one made before the fork must not
    be used after it), so no reader waits a few hundred ms for any of them.

    A worker forked after the first ones (one died, or a HUP) first reads
    its index whole if it did not just load a newer one: a file damaged in
    place after loading shows in the mappings every worker inherits, and a
    kernel reading a damaged ``docs.npy`` crashes the process (SIGSEGV), so
    without this each respawned worker crashed in turn before its scrub
    thread's first round."""

    def hook(server: Any, worker: Any) -> None:
        state = app.extensions["groundedqa"]
        holder = state.holder
        if not holder.check() and getattr(worker, "age", 0) > state.config.workers:
            holder.scrub(pace=False)
        retriever = holder.get()
        if retriever.encoder is not None:
            retriever.encoder.encode_queries(["warm up"])
        judge = judge_for(retriever)
        if judge is not None:
            judge.score("warm up", ["warm up"])

    return hook


def exit_at_once(server: Any, worker: Any) -> None:
    """A gunicorn ``worker_exit`` hook: a worker that has finished leaves
    without running native destructors, because onnxruntime's state,
    inherited across the fork, aborts the process in them (SIGABRT)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def serve(config: Config, search: Search = search_json, rebuild: Rebuild = "auto") -> None:
    """Load the index once (:func:`service.index.sync.open_index` with
    ``rebuild``), then serve it with ``config.workers`` workers
    (``search``: see :func:`service.web.app.create_app`)."""
    retriever = Retriever(open_index(config, rebuild), config.search)
    app = create_app(config, retriever, search)
    judge_for(retriever)  # verified and loaded once here, shared by the forked workers
    # Everything loaded so far (the index's vocabulary, the libraries) lives
    # as long as the server: moved out of the garbage collector's sight, a
    # worker's full collections no longer walk it (tens of ms each on a
    # large index) and do not write to pages shared with the other workers.
    gc.freeze()
    GunicornApp(app, {**gunicorn_options(config), "post_fork": warm_up(app), "worker_exit": exit_at_once}).run()
