"""Trial: would a term-proximity re-rank close the Success@1 gap?

    python eval/proximity.py --datasets DIR

BM25 scores each word on its own; a question that copies a phrase of its
passage ("the Lorenzo user group") gets nothing extra for the words being
next to each other.  This re-ranks BM25's top 30 passages by

    BM25 + a * (idf of adjacent question-word pairs also adjacent in the passage)
         + u * (idf of those pairs within 8 words of each other)

(the ordered and unordered windows of Metzler and Croft's sequential
dependence model) and prints Success@1 and nDCG@10 for a grid of a and u on
squad-dev-a (passages, as served) and the question set (answerable
questions).  Nothing here is used by the service: it measures whether the
idea is worth a second kind of score in the API (eval/README.md records the
outcome).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Sequence

from ir_measures import Success, nDCG

from service import open_corpus
from service.config import BUNDLED_CORPUS, PROJECT_ROOT
from service.evaluation.datasets import load_beir, load_questions, qrels_of
from service.evaluation.metrics import ALL, as_run, best_per_source, ir_scores
from service.retrieval.retriever import Retriever, SearchResult

DEPTH = 30
WINDOW = 8
GRID = [(a, u) for a in (0.0, 0.1, 0.2, 0.3, 0.5, 0.8) for u in (0.0, 0.1, 0.2, 0.4)]
MEASURES = (Success @ 1, nDCG @ 10)


def pair_features(query: Sequence[str], passage: Sequence[str], idf: dict[str, float]) -> tuple[float, float]:
    """(ordered, unordered) idf mass of the query's adjacent term pairs
    found adjacent / within WINDOW terms in the passage."""
    positions: dict[str, list[int]] = {}
    for i, t in enumerate(passage):
        positions.setdefault(t, []).append(i)
    ordered = unordered = 0.0
    for a, b in zip(query, query[1:]):
        if a == b or a not in positions or b not in positions:
            continue
        weight = (idf[a] + idf[b]) / 2
        after_a = {i + 1 for i in positions[a]}
        if any(j in after_a for j in positions[b]):
            ordered += weight
        if any(abs(i - j) <= WINDOW for i in positions[a] for j in positions[b]):
            unordered += weight
    return ordered, unordered


def features(retriever: Retriever, results: list[SearchResult]) -> list[list[tuple[str, float, float, float]]]:
    """Per query: (source ID, BM25, ordered, unordered) of each hit."""
    n = retriever.n_passages
    vocab, ptr = retriever.scorer.vocab, retriever.stored.arrays.ptr

    def idf(t: str) -> float:
        df = int(ptr[vocab[t] + 1] - ptr[vocab[t]]) if t in vocab else 1
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    out = []
    for res in results:
        weights = {t: idf(t) for t in res.terms}
        out.append([(h.source_id, h.score, *pair_features(res.terms, retriever.analyzer(h.text), weights))
                    for h in res.hits])
    return out


def grid(name: str, qids: list[str], feats: list, qrels: dict) -> None:
    print(f"\n{name}\n\n| a (ordered) | u (window) | Success@1 | nDCG@10 |\n|---|---|---|---|")
    for a, u in GRID:
        run = {}
        for qid, hits in zip(qids, feats):
            ranked = sorted(((s + a * o + u * w, sid) for sid, s, o, w in hits), reverse=True)
            run[qid] = as_run(best_per_source((sid, s) for s, sid in ranked))
        per_query = ir_scores(qrels, run, MEASURES)
        means = [sum(v[str(m)] for v in per_query.values()) / len(per_query) for m in MEASURES]
        print(f"| {a} | {u} | {means[0]:.3f} | {means[1]:.3f} |")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", type=Path, required=True, help="folder holding squad-dev-a")
    args = p.parse_args(argv)

    squad = load_beir(args.datasets / "squad-dev-a")
    retriever = open_corpus(squad.corpus)
    qids = list(squad.queries)
    results = retriever.search_many([squad.queries[q] for q in qids], k=DEPTH)
    grid(f"squad-dev-a ({len(qids)} queries)", qids, features(retriever, results), squad.qrels)

    questions = [q for q in load_questions(PROJECT_ROOT / "eval" / "questions.jsonl") if q.answerable]
    retriever = open_corpus(BUNDLED_CORPUS)
    results = retriever.search_many([q.question for q in questions], k=DEPTH)
    grid(f"question set, {len(questions)} answerable ({ALL} kinds)", [q.id for q in questions],
         features(retriever, results), qrels_of(questions))


if __name__ == "__main__":
    main()
