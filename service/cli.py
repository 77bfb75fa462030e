"""Command line: ``python -m service`` (or the ``groundedqa`` script).

``--corpus`` and ``--index`` mean the same in every subcommand, so
``index --corpus X`` followed by ``ask --corpus X`` uses the index just built.
Errors are one message on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from pathlib import Path
from typing import Callable, Sequence

from .build import build_index
from .config import Config
from .corpus import CorpusError
from .response import search_json
from .search import Retriever
from .store import IndexFault

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("service")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", type=Path, help="folder of .txt/.md articles or a .jsonl[.gz] file "
                   "(default: the bundled corpus; env GROUNDEDQA_CORPUS)")
    p.add_argument("--index", type=Path, dest="index_dir",
                   help="index directory (default: derived from the corpus path under "
                        "$GROUNDEDQA_INDEX_ROOT or ~/.cache/groundedqa; env GROUNDEDQA_INDEX_DIR)")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Source-grounded question answering over a collection of articles.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="build (or rebuild) the index of a corpus")
    _common(p)
    p.add_argument("--skip-bad", action="store_true",
                   help="index the good files and report the bad ones instead of failing")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="print the passages that best answer a question")
    _common(p)
    p.add_argument("-k", type=_positive_int, default=None, help="how many passages (default 10)")
    p.add_argument("--json", action="store_true", help="print the JSON the HTTP API returns")
    p.add_argument("question", nargs="+", help="the question, in plain English")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("serve", help="serve the HTTP API and web form with gunicorn")
    _common(p)
    p.add_argument("--host", help="address to listen on (default 127.0.0.1; env GROUNDEDQA_HOST)")
    p.add_argument("--port", type=_port, help="port (default 8000; env GROUNDEDQA_PORT)")
    p.add_argument("--workers", type=_positive_int,
                   help="gunicorn worker processes (default 2; env GROUNDEDQA_WORKERS)")
    p.set_defaults(func=cmd_serve)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    return Config.from_env().with_overrides(corpus=args.corpus, index_dir=args.index_dir)


def cmd_index(args: argparse.Namespace, config: Config) -> int:
    target = config.resolved_index_dir
    version, report = build_index(config.corpus, target, config.settings, skip_bad=args.skip_bad,
                                  max_file_bytes=config.max_file_bytes)
    for problem in report.problems:
        print(f"skipped {problem}", file=sys.stderr)
    retriever = Retriever.open(target)
    print(f"indexed {retriever.n_sources} articles as {retriever.n_passages} passages "
          f"({len(report.problems)} rejected of {report.items_seen} seen) into {version}")
    return EXIT_OK


def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    question = " ".join(args.question).strip()
    if not question:
        print("error: the question is empty", file=sys.stderr)
        return EXIT_USAGE
    k = args.k or config.default_k
    if k > config.max_k:
        print(f"error: -k must be at most {config.max_k}", file=sys.stderr)
        return EXIT_USAGE
    retriever = Retriever.from_config(config)
    doc = search_json(retriever, question, k)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return EXIT_OK
    print_answer(doc)
    if not doc["hits"]:
        print("No passage shares a word with the question.")
        return EXIT_OK
    if doc["abstained"]:
        print("Closest passages (they do not answer it):")
    for hit in doc["hits"]:
        print(f"{hit['rank']:>2}. [{hit['source_id']}] {hit['id']}  score {hit['score']:.3f}")
        print(textwrap.indent(textwrap.fill(hit["text"], 88), "    "))
    return EXIT_OK


def print_answer(doc: dict) -> None:
    """The answer and its citations first, or the plain statement that the
    articles don't answer the question."""
    ans = doc.get("answer")
    if ans is None:
        print(f"The articles don't answer this question ({doc.get('reason')}).\n")
        return
    print(textwrap.fill(ans["text"], 88))
    cited = ", ".join(f"[{c['source_id']}] {c['passage_id']}" for c in ans["citations"])
    print(f"    — {cited} (characters {ans['start_char']}-{ans['end_char']})\n")


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from .serve import serve  # gunicorn is only needed here

    config = config.with_overrides(host=args.host, port=args.port, workers=args.workers)
    if config.workers < 1 or not 0 <= config.port <= 65535:
        print("error: GROUNDEDQA_WORKERS must be at least 1 and GROUNDEDQA_PORT in 0..65535",
              file=sys.stderr)
        return EXIT_USAGE
    serve(config)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    parser = make_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace, Config], int] = args.func
    try:
        config = config_from_args(args)
        return func(args, config)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (IndexFault, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
