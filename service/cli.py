"""Command line: ``python -m service`` (or the ``groundedqa`` script).

``--corpus`` and ``--index`` mean the same in every subcommand, so
``index --corpus X`` followed by ``ask --corpus X`` uses the index just built;
``--index DIR`` alone uses the index in DIR as it is, and an index folder
holding another corpus's index is only replaced with ``--rebuild``.
Errors are one message on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
from pathlib import Path
from typing import Callable, Sequence

from .config import PROJECT_ROOT, RETRIEVAL_MODES, Config
from .corpus.reader import CorpusError, read_files
from .index.build import Rebuild, build_index, check_same_corpus, recorded_corpus
from .index.changes import apply_changes, compact
from .index.store import IndexFault, current_version, load_best, read_manifest
from .index.sync import open_index, sync_folder, syncable
from .qa.ask import search_json
from .retrieval.retriever import Retriever
from .web.validation import InvalidParams, check_search

DEFAULT_QUESTIONS = PROJECT_ROOT / "eval" / "questions.jsonl"

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
#: What a Unix tool killed by SIGPIPE reports (128 + 13).
EXIT_BROKEN_PIPE = 141

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
                        "$GROUNDEDQA_INDEX_ROOT or ~/.cache/groundedqa; env GROUNDEDQA_INDEX_DIR); "
                        "given without --corpus, its index is used as it is")
    p.add_argument("--rebuild", action="store_true",
                   help="rebuild the index, even where the folder holds another corpus's index")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Source-grounded question answering over a collection of articles.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="bring the index of a corpus up to date (a folder: only what changed)")
    _common(p)
    p.add_argument("--full", action="store_true", help="rebuild from scratch instead of applying what changed")
    p.add_argument("--skip-bad", action="store_true",
                   help="index the good files and report the bad ones instead of failing")
    p.add_argument("--no-semantic", action="store_true",
                   help="lexical only: store no passage vectors (faster to build; no hybrid retrieval); "
                        "an existing index keeps its own unless --full")
    p.add_argument("--no-sentence-vectors", action="store_true",
                   help="passage vectors only, not each sentence's (a fraction of the disk and encoding time "
                        "for huge archives; ranks by the passages' meaning alone)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("add", help="add articles to the index, replacing those with the same source ID")
    _common(p)
    p.add_argument("--skip-bad", action="store_true", help="add the good files and report the bad ones")
    p.add_argument("--no-semantic", action="store_true",
                   help="a new index only: lexical, no passage vectors (an existing index keeps its own)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE",
                   help=".txt/.md articles (source ID = file stem) or .jsonl[.gz] records")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("remove", help="remove articles from the index by source ID")
    _common(p)
    p.add_argument("--missing-ok", action="store_true", help="ignore IDs the index does not hold")
    p.add_argument("source_ids", nargs="+", metavar="SOURCE_ID")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("compact", help="merge the index's segments into one")
    _common(p)
    p.set_defaults(func=cmd_compact)

    p = sub.add_parser("ask", help="print the passages that best answer a question")
    _common(p)
    p.add_argument("-k", type=_positive_int, default=None, help="how many passages (default 10)")
    p.add_argument("--retrieval", choices=RETRIEVAL_MODES, default=None,
                   help="rank by words alone, or by words and meaning (default: hybrid where the index has vectors)")
    p.add_argument("--source", action="append", metavar="ID", help="only passages of this source (repeatable)")
    p.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="only articles dated on or after this day")
    p.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="only articles dated on or before this day")
    p.add_argument("--sort", choices=("relevance", "date"), default=None,
                   help="best match first (default) or newest article first")
    p.add_argument("--offset", type=int, default=None, metavar="N", help="start at the N-th passage (0: the first)")
    p.add_argument("--explain", action="store_true", help="show why each passage scored and why the answer won")
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

    p = sub.add_parser("eval", help="measure retrieval on the question set or a BEIR dataset")
    _common(p)
    p.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS,
                   help="question set, JSONL (default: eval/questions.jsonl)")
    p.add_argument("--beir", type=Path, metavar="DIR",
                   help="evaluate a BEIR-layout dataset (corpus.jsonl[.gz], queries.jsonl, qrels/test.tsv)")
    p.add_argument("--url", help="evaluate a running server, e.g. http://127.0.0.1:8000, instead of in-process")
    p.add_argument("--whole-docs", action="store_true", help="index each document whole instead of as passages")
    p.add_argument("-k", type=_positive_int, default=None,
                   help="passages retrieved per question (default 10; --beir: 100 with --whole-docs, else 1000)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--report", type=Path, metavar="PATH", help="write a Markdown report and a PNG chart beside it")
    p.add_argument("--trec-run", type=Path, metavar="PATH",
                   help="write the TREC run here and the qrels beside it (<PATH stem>.qrels)")
    p.add_argument("--retrieval", choices=RETRIEVAL_MODES, default=None,
                   help="how to rank (default: the index's, hybrid where it has vectors)")
    p.add_argument("--no-compare", action="store_true",
                   help="skip the lexical run that a hybrid run is shown beside")
    p.set_defaults(func=cmd_eval)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    return Config.from_env().with_overrides(corpus=args.corpus, index_dir=args.index_dir)


def cmd_index(args: argparse.Namespace, config: Config) -> int:
    """Build the index of the corpus (with ``--index DIR`` alone: of the corpus DIR's index records)."""
    target = config.resolved_index_dir
    recorded = recorded_corpus(target) if config.corpus is None and config.index_dir else None
    corpus = Path(recorded) if recorded else config.corpus_path
    semantic = config.semantic and not args.no_semantic
    sentences = config.sentence_vectors and not args.no_sentence_vectors
    if syncable(corpus):
        if not args.rebuild:
            check_same_corpus(target, corpus)
        summary = sync_folder(corpus, target, config.settings, semantic, args.skip_bad, config.max_file_bytes,
                              full=args.full or args.rebuild, sentences=sentences)
        for problem in summary.rejected:
            print(f"skipped {problem}", file=sys.stderr)
        # The live version's manifest, not the version opened (see below).
        live = summary.version or current_version(target) or load_best(target, verify=False).path
        manifest = read_manifest(live)
        print(f"{summary}; indexed {manifest['n_sources']} articles as {manifest['n_passages']} passages "
              f"({len(summary.rejected)} rejected of {summary.seen} seen) into {live}"
              + ("" if summary.version else " (nothing changed; nothing published)"))
        return EXIT_OK
    version, report = build_index(corpus, target, config.settings, skip_bad=args.skip_bad,
                                  max_file_bytes=config.max_file_bytes,
                                  semantic=semantic, replace_other=args.rebuild, sentences=sentences)
    problems, seen = report.problems, report.items_seen
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    # The counts are the manifest's: opening the new version to print them
    # paged in its arrays (a 1M-passage build: 16 s and 1.9 GB at the end).
    manifest = read_manifest(version)
    print(f"indexed {manifest['n_sources']} articles as {manifest['n_passages']} passages "
          f"({len(problems)} rejected of {seen} seen) into {version}")
    return EXIT_OK


def _published(version: Path | None, n_merged: int = 0) -> str:
    if version is None:
        return "nothing changed; nothing published"
    # The manifest's counts, as `index` prints them: opening the version
    # would page in its arrays only to count them.
    manifest = read_manifest(version)
    merged = f", {n_merged} segments merged" if n_merged else ""
    return (f"published {version.name}: {manifest['n_sources']} articles, "
            f"{manifest['n_passages']} passages in {len(manifest['segments'])} segments{merged}")


def cmd_add(args: argparse.Namespace, config: Config) -> int:
    report = read_files(args.files, config.max_file_bytes)
    if report.problems and not args.skip_bad:
        raise CorpusError(report.problems)
    for problem in report.problems:
        print(f"skipped {problem}", file=sys.stderr)
    if not report.articles:
        raise CorpusError(report.problems, "no article to add")
    summary = apply_changes(config.resolved_index_dir, config.settings, add=report.articles,
                            semantic=config.semantic and not args.no_semantic,
                            rejected=[str(p) for p in report.problems], sentences=config.sentence_vectors)
    print(f"added {summary.added}, replaced {summary.replaced} ({len(report.problems)} skipped); "
          + _published(summary.version, summary.merged))
    return EXIT_OK


def cmd_remove(args: argparse.Namespace, config: Config) -> int:
    summary = apply_changes(config.resolved_index_dir, config.settings, remove=args.source_ids,
                            missing_ok=args.missing_ok)
    unknown = len(set(args.source_ids)) - summary.removed
    print(f"removed {summary.removed}" + (f" ({unknown} not in the index)" if unknown else "") + "; "
          + _published(summary.version, summary.merged))
    return EXIT_OK


def cmd_compact(args: argparse.Namespace, config: Config) -> int:
    summary = compact(config.resolved_index_dir)
    print(_published(summary.version, summary.merged) if summary.version else "already one segment without deletions; nothing published")
    return EXIT_OK


def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    """The API's search with its limits (the same check_search), printed for a terminal.
    One question: the plain scorer (nothing compiled or weighed at start)."""
    retriever = Retriever(open_index(config, _rebuild(args)), config.search, one_shot=True)
    params = {"q": " ".join(args.question).strip(), "k": args.k, "retrieval": args.retrieval,
              "source": args.source, "date_from": args.date_from, "date_to": args.date_to, "sort": args.sort,
              "offset": args.offset, "explain": args.explain}
    try:
        checked = check_search({n: v for n, v in params.items() if v is not None}, config, retriever.query_terms,
                               modes=retriever.modes, has_source=retriever.has_source, plain=True)
    except InvalidParams as exc:
        for error in exc.errors:
            print(f"error: {error.message}", file=sys.stderr)
        return EXIT_USAGE
    doc = search_json(retriever, checked.q, checked.k, checked.terms, checked.retrieval, checked.options)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return EXIT_OK
    print_answer(doc)
    if not doc["hits"]:
        print("No passage shares a word with the question" + (" and passes the filters." if any(
            doc["filters"].values()) else "."))
        return EXIT_OK
    if doc["notice"]:
        print(textwrap.fill(doc["notice"], 88) + "\n")
    if doc["abstained"]:
        print("Closest passages (they do not answer it):")
    for hit in doc["hits"]:
        print_hit(hit)
    return EXIT_OK


def print_hit(hit: dict) -> None:
    """One ranked passage: its source's title and ID, score, text and,
    when explained, its score term by term."""
    meaning = "" if hit["semantic_score"] is None else f"  meaning {hit['semantic_score']:.2f}"
    title = hit["source"].get("title")
    date = hit["source"].get("date")
    named = f"{title} [{hit['source_id']}]" if title else f"[{hit['source_id']}]"
    print(f"{hit['rank']:>2}. {named}{' ' + date if date else ''} {hit['id']}  score {hit['score']:.3f}{meaning}")
    print(textwrap.indent(textwrap.fill(hit["text"], 88), "    "))
    for t in hit.get("explain", {}).get("terms", []):
        floor = " (floored)" if t["floored"] else ""
        print(f"      {t['term']:<16} tf {t['tf']:<3} df {t['df']:<6} idf {t['idf']:.3f}{floor}  "
              f"length {t['length']}/{t['avg_length']:.1f}  adds {t['contribution']:.3f}")


def print_answer(doc: dict) -> None:
    """The answer and its citations first (a possible answer marked as
    such, with its confidence), or the plain statement that the articles
    don't answer the question."""
    ans = doc.get("answer")
    if ans is None:
        print(f"The articles don't answer this question ({doc.get('reason')}).\n")
        return
    if not ans["confident"]:
        print(f"Possible answer (not sure, confidence {ans['confidence']:.2f}):")
    print(textwrap.fill(ans["text"], 88))
    cited = ", ".join((f"{c['title']} " if c.get("title") else "") + f"[{c['source_id']}] {c['passage_id']}"
                      for c in ans["citations"])
    print(f"    — {cited} (characters {ans['start_char']}-{ans['end_char']})")
    why = ans.get("explain")
    if why:
        shares = ", ".join(f"{n} {v:.3f}" for n, v in why["contributions"].items() if v)
        print(f"    chosen by its score {why['score']:.3f} (ahead by {why['margin']:.3f}): {shares}")
    print()


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from .web.serve import serve  # gunicorn is only needed here

    config = config.with_overrides(host=args.host, port=args.port, workers=args.workers)
    if config.workers < 1 or not 0 <= config.port <= 65535:
        print("error: GROUNDEDQA_WORKERS must be at least 1 and GROUNDEDQA_PORT in 0..65535",
              file=sys.stderr)
        return EXIT_USAGE
    serve(config, rebuild=_rebuild(args))
    return EXIT_OK


def _rebuild(args: argparse.Namespace) -> Rebuild:
    return "always" if args.rebuild else "auto"


def cmd_eval(args: argparse.Namespace, config: Config) -> int:
    """Run the evaluation the flags ask for, write the files asked for, print the outcome."""
    try:
        from .evaluation.report import write_report, write_trec
        from .evaluation.suite import EvalError, EvalRequest, run_eval
    except ImportError as exc:
        print(f"error: eval needs the evaluation extra ({exc.name} is missing): "
              "pip install 'groundedqa[eval]'", file=sys.stderr)
        return EXIT_ERROR
    if args.url and (args.whole_docs or args.index_dir):
        print("error: --whole-docs and --index apply to in-process runs, not --url", file=sys.stderr)
        return EXIT_USAGE
    if args.beir and args.corpus:
        print("error: --beir brings its own corpus; leave out --corpus", file=sys.stderr)
        return EXIT_USAGE
    request = EvalRequest(questions=args.questions, beir=args.beir, url=args.url, whole_docs=args.whole_docs,
                          k=args.k, retrieval=args.retrieval, compare=not args.no_compare, rebuild=args.rebuild)
    try:
        outcome = run_eval(request, config)
        if args.trec_run:
            qrels_path = write_trec(args.trec_run, outcome.rankings, outcome.qrels)
            print(f"wrote {args.trec_run} and {qrels_path}", file=sys.stderr)
        if args.report:
            chart = write_report(args.report, outcome.title, outcome.how, outcome.summary, outcome.counts,
                                 outcome.misses)
            print(f"wrote {args.report} and {chart}", file=sys.stderr)
        print(json.dumps(outcome.doc, ensure_ascii=False, indent=2) if args.json else outcome.text())
    except EvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # an output file (--report, --trec-run) cannot be written
        print(f"error: cannot write {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    parser = make_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace, Config], int] = args.func
    try:
        config = config_from_args(args)
        return func(args, config)
    except (CorpusError, IndexFault, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``ask ... | head``): stop quietly, as Unix
        # tools do, with nothing more written to the closed pipe at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
