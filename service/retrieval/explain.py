"""Why a passage scored: BM25Okapi's sum, term by term.

Computed afresh from the passage's own terms (title terms first when
titles are indexed, as the build counts them) and the index's statistics,
not read back from the posting weights, so the breakdown is a check on the
scorer as well as an explanation: its contributions sum to the hit's score.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Sequence

from ..config import IndexSettings
from ..index.arrays import CollectionStats


def raw_idf(df: int, n_docs: int) -> float:
    """rank-bm25's idf before its floor."""
    return math.log(n_docs - df + 0.5) - math.log(df + 0.5)


def explain_terms(query_terms: Sequence[str], passage_terms: Sequence[str], length: int, stats: CollectionStats,
                  settings: IndexSettings) -> list[dict[str, Any]]:
    """A passage of ``length`` terms in the collection of ``stats``.

    One entry per distinct query term, in query order: ``term``, ``tf``
    (in the passage), ``df``, ``idf`` (after the floor), ``floored``,
    ``length``, ``avg_length`` and ``contribution`` (times the term's count
    in the query, as rank-bm25 adds it)."""
    tf_of = Counter(passage_terms)
    avg = float(stats.avgdl)
    k1, b = settings.k1, settings.b
    out = []
    for term, count in Counter(query_terms).items():
        t = stats.vocab.get(term)
        tf = tf_of.get(term, 0)
        if t is None:
            df, idf, floored = 0, 0.0, False
        else:
            df = int(stats.df[t])
            idf = float(stats.idf[t])
            floored = raw_idf(df, stats.n_docs) < 0
        contribution = count * idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg)) if tf else 0.0
        out.append({"term": term, "tf": tf, "df": df, "idf": idf, "floored": floored, "length": length,
                    "avg_length": avg, "contribution": contribution})
    return out
