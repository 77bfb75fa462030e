"""Synthetic corpora for the benchmarks: Zipfian text with a fixed seed.

Passages of ``PASSAGE_WORDS`` words (5 sentences of 20), ten to an article,
one paragraph each, so the project's passage splitter keeps one paragraph
per passage.  Words are pronounceable made-up words chosen so that the
project's analyzer maps each to itself (no stopword, stemming leaves it
alone): every engine then sees exactly the sampled word ranks, and word
``r`` has probability proportional to ``1 / (r + 1)``.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from service.text.analysis import Analyzer

VOCAB_SIZE = 200_000
PASSAGE_WORDS = 100
SENTENCE_WORDS = 20
PASSAGES_PER_ARTICLE = 10
SEED = 20261122
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


def vocabulary(n: int = VOCAB_SIZE) -> list[str]:
    """``n`` distinct words, shortest first, each its own index term."""
    analyzer = Analyzer()
    syllables = [c + v for c in _CONSONANTS for v in _VOWELS]
    out: list[str] = []
    seen: set[str] = set()
    for n_syl in itertools.count(2):
        for parts in itertools.product(syllables, repeat=n_syl):
            word = "".join(parts)
            if analyzer(word) == [word] and word not in seen:
                seen.add(word)
                out.append(word)
                if len(out) == n:
                    return out
    raise AssertionError("unreachable")


def zipf_cdf(n: int = VOCAB_SIZE) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1)
    return np.cumsum(p / p.sum())


def sample_ranks(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(size)), len(cdf) - 1)


def write_corpus(path: Path, n_passages: int, seed: int = SEED) -> Path:
    """Write ``n_passages`` passages as a JSONL corpus (once; reused after)."""
    path = Path(path)
    if path.exists():
        return path
    words = vocabulary()
    cdf = zipf_cdf()
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".partial")
    n_articles = -(-n_passages // PASSAGES_PER_ARTICLE)
    with open(tmp, "w", encoding="utf-8") as fh:
        done = 0
        for a in range(n_articles):
            n = min(PASSAGES_PER_ARTICLE, n_passages - done)
            ranks = sample_ranks(rng, cdf, n * PASSAGE_WORDS).reshape(-1, SENTENCE_WORDS)
            sentences = [" ".join([words[i] for i in r]).capitalize() + "." for r in ranks.tolist()]
            per = PASSAGE_WORDS // SENTENCE_WORDS
            paragraphs = [" ".join(sentences[i:i + per]) for i in range(0, len(sentences), per)]
            fh.write(json.dumps({"_id": f"syn{a:07d}", "text": "\n\n".join(paragraphs)}) + "\n")
            done += n
    tmp.rename(path)
    return path


def queries(n: int, seed: int = SEED + 1) -> list[list[str]]:
    """``n`` queries of 2-6 words drawn from the same Zipf law as the text
    (so they include very common words: the hard case for pruning)."""
    words = vocabulary()
    cdf = zipf_cdf()
    rng = np.random.default_rng(seed)
    return [[words[r] for r in sample_ranks(rng, cdf, int(rng.integers(2, 7)))] for _ in range(n)]
