"""Parallel tokenization must build exactly the index a single process builds."""

import random

import numpy as np

from service.index import arrays as index, passage_terms as tokenize
from service.index.build import build_from_report
from service.config import IndexSettings
from service.corpus.reader import load_corpus
from service.index.store import load_version

_WORDS = ["trust", "trusts", "NHS", "E-Health", "£1.5m", "2020-21", "Zürich", "women’s", "the", "of",
          "contract", "write-down", "meeting", "Lorenzo", "IL-6", "and", "deal", "board"]


def _article(rng: random.Random, i: int) -> str:
    title = f"# Title {i} {rng.choice(_WORDS)} only{i}title\n\n" if i % 3 else ""
    paragraphs = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 40))) + f" word{i}x{p}."
                  for p in range(rng.randint(1, 4))]
    return title + "\n\n".join(paragraphs)


def test_two_workers_and_small_blocks_build_the_same_index(make_corpus, tmp_path, monkeypatch):
    rng = random.Random(7)
    files = {f"a{i:03d}.md": _article(rng, i) for i in range(60)}
    files["z-headings.md"] = "# Only headings zzznotindexed\n\nA heading\n\nAnother one\n"
    report = load_corpus(make_corpus(files))
    # Small chunks: every worker handles several, in an order of its own.
    monkeypatch.setattr(tokenize, "CHUNK_CHARS", 800)
    one = load_version(build_from_report(report, tmp_path / "one", IndexSettings(), workers=1))
    # ... and the arrays written to disk a few terms at a time.
    monkeypatch.setattr(index, "BLOCK_POSTINGS", 50)
    two = load_version(build_from_report(report, tmp_path / "two", IndexSettings(), workers=2))
    assert two.manifest["build_stats"]["workers"] == 2
    one, two = one.segments[0], two.segments[0]
    assert one.arrays.terms == two.arrays.terms
    # A title of an article without passages adds no term without postings.
    assert "zzznotindex" not in one.arrays.terms and min(np.diff(one.arrays.ptr)) > 0
    for name in ("ptr", "docs", "tfs", "doc_len", "bitmap_row", "bitmaps"):
        assert np.array_equal(getattr(one.arrays, name), getattr(two.arrays, name)), name
    for name, values in one.passages.items():
        assert np.array_equal(values, two.passages[name]), name
