"""Compiled inner loop of reading a stored passage (numba): which of its
words carry a question's terms.  A passage has a hundred words or so, and
a handful of numpy calls on arrays that small cost more than the loop."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def term_hits(term_ids, nterms, wanted):
    """For each of a passage's word terms that is in ``wanted``, in text
    order: its word's index (words have ``nterms`` terms each, back to back
    in ``term_ids``) and the index in ``wanted`` of the term (the first, if
    it is there twice)."""
    words = np.empty(term_ids.shape[0], dtype=np.int64)
    which = np.empty(term_ids.shape[0], dtype=np.int64)
    n = 0
    pos = 0
    for w in range(nterms.shape[0]):
        for i in range(pos, pos + nterms[w]):
            t = term_ids[i]
            for k in range(wanted.shape[0]):
                if t == wanted[k]:
                    words[n] = w
                    which[n] = k
                    n += 1
                    break  # once per word term, whatever ``wanted`` repeats
        pos += nterms[w]
    return words[:n], which[:n]
