"""Across segments, top-k shares its threshold and skips segments that
cannot reach it: it must equal every segment's own top-k merged."""

from __future__ import annotations

import random

import numpy as np
import pytest

from service.corpus.reader import Article, CorpusReport
from service.index.build import build_from_report
from service.index.changes import apply_changes
from service.retrieval.retriever import Retriever
from tests.test_archive import SETTINGS, WORDS


def _text(rng: random.Random) -> str:
    return " ".join(" ".join(rng.choices(WORDS[:rng.randint(1, len(WORDS))], k=rng.randint(1, 7))).capitalize() + "."
                    for _ in range(rng.randint(1, 4)))


def _segmented(index, batches: list[list[Article]], remove: list[str] = ()) -> Retriever:
    build_from_report(CorpusReport(articles=batches[0]), index, SETTINGS, progress=False, semantic=False)
    for batch in batches[1:]:
        apply_changes(index, SETTINGS, add=batch, semantic=False, progress=False)
    if remove:
        apply_changes(index, SETTINGS, remove=list(remove), progress=False)
    return Retriever.open(index)


@pytest.mark.parametrize("seed", range(6))
def test_shared_threshold_equals_the_plain_merge(tmp_path, seed):
    rng = random.Random(seed)
    ids = iter(range(10**6))
    batches = [[Article(f"s{next(ids):04d}", _text(rng), title=None) for _ in range(rng.randint(1, 12))]
               for _ in range(rng.randint(3, 8))]
    everyone = [a.source_id for b in batches for a in b]
    r = _segmented(tmp_path / "idx", batches, rng.sample(everyone, len(everyone) // 5))
    scorer = r.scorer
    assert len(scorer.parts) > 2  # (removal may empty a segment and drop it)
    n = int(scorer.offsets[-1])
    for _ in range(40):
        terms = rng.choices(WORDS + ["zzz"], k=rng.randint(1, 5))
        allowed = None if rng.random() < 0.5 else np.array([rng.random() < 0.6 for _ in range(n)])
        for k in (1, 2, 5, 1000):
            got, want = scorer.top_k(terms, k, allowed), scorer.top_k_plain(terms, k, allowed)
            assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist(), (terms, k)
            assert got[2] == want[2]


def test_a_segment_that_cannot_reach_the_threshold_is_skipped(tmp_path):
    # The largest segment holds three passages made of "lorenzo" alone;
    # the others hold it once, in long passages: they cannot reach the
    # third-best score, so a top-3 never scores them.
    big = [Article(f"a{i:02d}", "Lorenzo lorenzo lorenzo.", title=None) for i in range(3)]
    big += [Article(f"b{i:02d}", "Trust record patient.", title=None) for i in range(12)]
    long = "Lorenzo trust record patient contract london system meeting nurse budget."
    small = [[Article(f"c{j}{i}", long, title=None) for i in range(2)] for j in range(3)]
    r = _segmented(tmp_path / "idx", [big, *small])
    assert len(r.scorer.parts) == 4
    (docs, scores, total), visited = r.scorer.top_k_visits(["lorenzo"], 3)
    assert visited == 1 and total == 9
    plain = r.scorer.top_k_plain(["lorenzo"], 3)
    assert docs.tolist() == plain[0].tolist() and scores.tolist() == plain[1].tolist()
    assert r.scorer.top_k_visits(["lorenzo"], 4)[1] == 4  # a fourth passage must come from them
