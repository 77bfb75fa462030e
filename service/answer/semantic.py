"""The semantic feature: how near in meaning a candidate's sentences are to
the question, by the shipped encoder's cosine.

Encoding is the answer stage's dearest step (a few ms per sentence on one
thread), so only the finalists' sentences are encoded, each cut to its
first words (the model's cost grows with its input), and every vector is
kept in a bounded cache: the same top sentences come back for question
after question.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..retrieval.retriever import Hit, Retriever, SearchResult
from .reading import SentenceReading

#: Sentence vectors kept, the most recently used (1.5 kB each).
VECTORS_KEPT = 8192


def question_vector(result: SearchResult, retriever: Retriever) -> np.ndarray | None:
    """The question's vector: hybrid retrieval made it already; a lexical
    search over an index with an encoder makes it here; None without one."""
    if result.query_vector is not None:
        return result.query_vector
    encoder = retriever.encoder
    return None if encoder is None else encoder.encode_queries([result.query])[0]


def sentence_text(hit: Hit, s: SentenceReading, words: int) -> str:
    """The first ``words`` words of sentence ``s`` of ``hit``, as written."""
    last = min(len(s.ends), words) - 1
    end = s.ends[last] if last >= 0 else s.end
    return hit.text[s.start - hit.start_char:end - hit.start_char]


@lru_cache(maxsize=VECTORS_KEPT)
def _cached_vector(encoder: object, text: str) -> np.ndarray:
    return encoder.encode_passages([text])[0]  # type: ignore[attr-defined]


def forget_sentence_vectors() -> None:
    """Empty the sentence-vector cache (a benchmark's cold start)."""
    _cached_vector.cache_clear()


def sentence_cosine(qvec: np.ndarray, retriever: Retriever, text: str, cached: bool = True) -> float:
    """Cosine of the question's vector and ``text``'s (both unit length);
    ``cached`` false encodes afresh (the same vector: the plain definition)."""
    encoder = retriever.encoder
    vec = _cached_vector(encoder, text) if cached else encoder.encode_passages([text])[0]
    return float(np.dot(qvec, vec))
