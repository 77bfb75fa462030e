"""One evaluation as ``python -m service eval`` asks for it: the question set
or a BEIR set, in-process or against a running server, run and described.

:func:`run_eval` chooses the searches and the index, runs them and returns an
:class:`EvalOutcome` holding everything the command prints or writes, so the
command line only reads its arguments and puts the outcome where asked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import Config, default_index_dir
from ..corpus.reader import load_corpus
from ..index.sync import open_index
from ..retrieval.retriever import Retriever
from .datasets import EvalError, check_sources, load_beir, load_questions, qrels_of
from .metrics import ALL
from .report import beir_miss_lines, comparison_table, evaluation_json, miss_lines, summary_table
from .runs import api_rank_passages, api_search, evaluate_beir, evaluate_questions, http_search, \
    retriever_rank_passages

__all__ = ["EvalError", "EvalOutcome", "EvalRequest", "run_eval"]

IN_PROCESS = "in-process"


@dataclass(frozen=True)
class EvalRequest:
    """What to evaluate, as the command line's flags say it."""

    questions: Path  # the question set, unless beir is given
    beir: Path | None = None  # a BEIR-layout folder instead of the question set
    url: str | None = None  # a running server instead of in-process search
    whole_docs: bool = False  # index each document whole (in-process only)
    k: int | None = None  # passages per question; None: the set's default
    retrieval: str | None = None  # "lexical" or "hybrid"; None: the index's (or server's) default
    compare: bool = True  # a hybrid run in-process also runs lexically, side by side
    rebuild: bool = False  # rebuild the index (replacing another corpus's)


@dataclass(frozen=True)
class EvalOutcome:
    """A finished run: its figures, misses and rankings, and how it was run."""

    title: str
    mode: str  # "in-process" or the server's URL
    k: int
    over: Path  # the question set or BEIR folder evaluated
    summary: dict[str, dict[str, float | None]]  # metric → group → mean
    counts: dict[str, int]  # group → questions
    misses: list[str]  # one description per miss
    rankings: dict[str, list[str]]  # question → sources, best first
    qrels: dict[str, dict[str, int]]
    doc: dict[str, Any]  # the --json document
    lists_misses: bool  # a question set prints every miss; a BEIR set, how many
    retrieval: str = "default"  # how the passages were ranked
    baseline: "EvalOutcome | None" = None  # the same run ranked lexically, for comparison

    @property
    def how(self) -> str:
        """The report's line saying what was run."""
        return f"`python -m service eval` over {self.over}, {self.mode}, k={self.k}."

    def text(self) -> str:
        """The table and misses as the command prints them."""
        lines = [f"{self.title}: {self.mode}, k={self.k}, retrieval {self.retrieval}",
                 summary_table(self.summary, self.counts)]
        if self.baseline is not None:
            lines += [f"\nSide by side ({self.baseline.retrieval} → {self.retrieval}):",
                      comparison_table(self.baseline.summary, self.summary, self.counts)]
        if not self.lists_misses:
            lines.append(f"\n{len(self.misses)} of {self.counts[ALL]} queries have no relevant document first "
                         "(--json or --report lists them).")
        else:
            lines.append(f"\nMisses ({len(self.misses)}):" if self.misses else "\nNo misses.")
            lines += self.misses
        return "\n".join(lines)


def run_eval(request: EvalRequest, config: Config) -> EvalOutcome:
    """Run the evaluation asked for over ``config``'s corpus and index (``--corpus``
    and ``--index`` folded in); a bad set or an unreachable server raises :class:`EvalError`."""
    retriever = None
    if not request.url:
        corpus = load_beir(request.beir).corpus if request.beir else config.corpus
        retriever = _retriever(config, corpus, request.whole_docs, request.rebuild)
    run = _run_beir if request.beir else _run_questions
    outcome = run(request, config, retriever)
    if request.compare and retriever is not None and outcome.retrieval == "hybrid":
        baseline = run(replace(request, retrieval="lexical"), config, retriever)
        outcome = replace(outcome, baseline=baseline, doc={**outcome.doc, "lexical": baseline.doc})
    return outcome


def _retriever(config: Config, corpus: Path | None, whole_docs: bool, rebuild: bool) -> Retriever:
    """The index an in-process run searches; whole-document indexes get their
    own folder so switching modes does not rebuild the everyday index each time."""
    settings = replace(config.settings, max_words=0) if whole_docs else config.settings
    index_dir = config.index_dir
    if index_dir is None and whole_docs:
        everyday = default_index_dir(corpus or config.corpus_path)
        index_dir = everyday.with_name(everyday.name + "-whole")
    config = replace(config, corpus=corpus, index_dir=index_dir, settings=settings)
    return Retriever(open_index(config, rebuild="always" if rebuild else "auto"), config.search)


def _mode(request: EvalRequest, retriever: Retriever | None) -> str:
    if retriever is None:
        return request.retrieval or "the server's default"
    return request.retrieval or retriever.default_retrieval


def _run_questions(request: EvalRequest, config: Config, retriever: Retriever | None) -> EvalOutcome:
    questions = load_questions(request.questions)
    k = request.k or config.default_k
    if retriever is None:
        check_sources(questions, {a.source_id for a in load_corpus(config.corpus_path).articles})
        search = http_search(request.url, k, retrieval=request.retrieval)
    else:
        check_sources(questions, set(retriever.stored.live_source_ids()))
        search = api_search(retriever, k, request.retrieval)
    result = evaluate_questions(questions, search)
    mode, retrieval = request.url or IN_PROCESS, _mode(request, retriever)
    doc = {"questions": str(request.questions), "mode": mode, "k": k, "retrieval": retrieval,
           **evaluation_json(result)}
    return EvalOutcome(
        title=f"Question set {request.questions.name}", mode=mode, k=k, over=request.questions,
        summary=result.summary, counts=result.counts, misses=miss_lines(result),
        rankings={r.question.id: r.ranking for r in result.results}, qrels=qrels_of(questions),
        doc=doc, lists_misses=True, retrieval=retrieval)


def _run_beir(request: EvalRequest, config: Config, retriever: Retriever | None) -> EvalOutcome:
    folder = request.beir
    assert folder is not None
    beir = load_beir(folder)
    k = request.k or (100 if request.whole_docs else 1000)
    if retriever is None:
        rank = api_rank_passages(http_search(request.url, k, retrieval=request.retrieval))
    else:
        rank = retriever_rank_passages(retriever, k, request.retrieval)
    result = evaluate_beir(beir, rank)
    mode, retrieval = request.url or IN_PROCESS, _mode(request, retriever)
    doc = {"dataset": str(folder), "mode": mode, "k": k, "retrieval": retrieval, "summary": result.summary,
           "counts": result.counts, "per_query": result.per_query}
    return EvalOutcome(
        title=f"BEIR {folder.name}" + (" (whole documents)" if request.whole_docs else ""),
        mode=mode, k=k, over=folder, summary=result.summary, counts=result.counts,
        misses=beir_miss_lines(beir, result), rankings=result.rankings, qrels=beir.qrels,
        doc=doc, lists_misses=False, retrieval=retrieval)
