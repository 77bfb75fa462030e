"""Across segments, top-k is one compiled call that shares its threshold
and skips segments that cannot reach it: it must equal every segment's own
top-k merged, and rank-bm25 on the live articles."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rank_bm25 import BM25Okapi

from service.corpus.passages import passages_of
from service.corpus.reader import Article, CorpusReport
from service.index.build import build_from_report
from service.index.changes import apply_changes
from service.retrieval.retriever import Retriever
from tests.test_archive import SETTINGS, WORDS, assert_plain_equals_compiled


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


@pytest.mark.parametrize("seed", range(3))
def test_many_segments_with_deletions_and_filters_score_as_rank_bm25(tmp_path, monkeypatch, seed):
    # Thirty segments, some articles replaced (the old copy dead in an
    # earlier segment) and some removed; every top-k, filtered or not,
    # equals the plain merge and rank-bm25 on the articles left.
    monkeypatch.setattr("service.index.changes.MAX_SEGMENTS", 10**6)  # the automatic merge off
    rng = random.Random(100 + seed)
    live: dict[str, Article] = {}
    batches = []
    for b in range(30):
        batch = []
        for _ in range(rng.randint(1, 4)):
            sid = f"s{rng.randint(0, 60):03d}" if b and rng.random() < 0.3 else f"n{b:02d}{len(batch)}"
            if sid not in {a.source_id for a in batch}:
                batch.append(Article(sid, _text(rng), title=None))
        batches.append(batch)
        live.update((a.source_id, a) for a in batch)
    removed = rng.sample(sorted(live), len(live) // 6)
    r = _segmented(tmp_path / "idx", batches, removed)
    for sid in removed:
        del live[sid]
    scorer = r.scorer
    one_shot = Retriever(r.stored, one_shot=True)
    assert len(scorer.parts) > 20 and not r.weighted.live.all()
    ordered = sorted(live.values(), key=lambda a: a.source_id)
    passages = list(passages_of(ordered, SETTINGS))
    ref = BM25Okapi([r.analyzer(p.text) for p in passages], k1=SETTINGS.k1, b=SETTINGS.b, epsilon=SETTINGS.epsilon)
    n = int(scorer.offsets[-1])
    for _ in range(30):
        terms = rng.choices(WORDS + ["zzz"], k=rng.randint(1, 5))
        keep = {a.source_id for a in ordered if rng.random() < 0.6}
        for allowed in (None, np.array([r._passage_fields(d)[1] in keep for d in range(n)])):
            want_all = ref.get_scores(terms)
            assert_plain_equals_compiled(one_shot, r, terms, allowed)
            ok = [i for i, p in enumerate(passages) if allowed is None or p.source_id in keep]
            for k in (1, 3, 7, 1000):
                docs, scores, total = scorer.top_k(terms, k, allowed)
                plain = scorer.top_k_plain(terms, k, allowed)
                assert docs.tolist() == plain[0].tolist() and scores.tolist() == plain[1].tolist(), (terms, k)
                assert total == plain[2]
                ids = [r._passage_fields(int(d))[0] for d in docs]
                by_id = {p.passage_id: i for i, p in enumerate(passages)}
                np.testing.assert_allclose(scores, want_all[[by_id[i] for i in ids]], rtol=1e-9, atol=1e-12)
                best = sorted(ok, key=lambda i: -want_all[i])[:k] if set(terms) - {"zzz"} else []
                matched = [i for i in ok if any(t in r.analyzer(passages[i].text) for t in terms)]
                np.testing.assert_allclose(scores, want_all[best][:len(scores)], rtol=1e-9, atol=1e-12)
                assert len(docs) == min(k, len(matched)) and total == len(matched)


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
