"""Analysis: text → index terms.

One analyzer serves both the index and the query, so a question is always
cut the same way as the passages it is matched against.  Steps:

1. Unicode NFKC, then curly quotes/apostrophes and dashes folded to ASCII,
   so "Women’s" and "Women's" are one word.
2. Case folding.
3. Tokens: words, and numbers kept whole with their currency sign, decimal
   point, thousands separators (dropped) and ranges: ``£1m``, ``£1.5``,
   ``2020-21``, ``125``.  Hyphenated words split into their parts.
4. English stopwords removed (a named list, chosen by evaluation).
5. Snowball English stemming through PyStemmer (numbers are not stemmed).
"""

from __future__ import annotations

import re
import struct
import unicodedata
from functools import lru_cache
from typing import Any, Callable, Iterable

import Stemmer

from ..config import IndexSettings

# Lucene's / Elasticsearch's default English stop set.
LUCENE_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such "
    "that the their then there these they this to was will with".split()
)

# The widely used NLTK English list: also drops pronouns, auxiliaries and
# question words, which carry no topic in a question ("how many", "what did").
EXTENDED_STOPWORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves
    he him his himself she her hers herself it its itself they them their theirs
    themselves what which who whom this that these those am is are was were be
    been being have has had having do does did doing a an the and but if or
    because as until while of at by for with about against between into through
    during before after above below to from up down in out on off over under
    again further then once here there when where why how all any both each few
    more most other some such no nor not only own same so than too very s t can
    will just don should now d ll m o re ve y ain aren couldn didn doesn hadn
    hasn haven isn ma mightn mustn needn shan shouldn wasn weren won wouldn""".split()
)

STOPWORD_LISTS: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "lucene": LUCENE_STOPWORDS,
    "extended": EXTENDED_STOPWORDS,
}

_FOLD = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
        "\u2212": "-", "\u00ad": "",
    }
)

# A number: optional currency sign, digits with separators / decimals, an
# optional range or fiscal-year tail (2020-21, 90-120), an optional unit
# suffix of letters (1m, 336m, 12bn, 4th).  Otherwise a word: letters/digits
# with internal apostrophes (possessives are left to the stemmer).
_TOKEN_RE = re.compile(
    r"""
    (?P<num>[£$€¥]?\d+(?:[.,]\d+)*(?:-\d+(?:[.,]\d+)*)*[^\W\d_]*%?)
    | (?P<word>[^\W_]+(?:'[^\W_]+)*)
    """,
    re.VERBOSE,
)
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")
# The same alternation without groups, for ``findall``: a match is a number
# exactly when it starts with a currency sign or a digit (the number branch
# is tried first and matches wherever one of those starts), so the matched
# string alone decides how it is cleaned up.
_TOKEN_FLAT_RE = re.compile(_TOKEN_RE.pattern.replace("(?P<num>", "(?:").replace("(?P<word>", "(?:"), re.VERBOSE)
_COMPOUND_RE = re.compile(r"[^\W_]+(?:-[^\W_]+)+")
#: Distinct surface tokens remembered per analyzer before the memo restarts.
MEMO_SIZE = 1 << 20


def normalize(text: str) -> str:
    """NFKC + ASCII quotes and dashes + case folding."""
    return unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()


def raw_tokens(text: str) -> list[str]:
    """Surface tokens after normalisation, before stopwords and stemming.

    The highlighter and the answer selector use these too, so what is
    marked on the page is exactly what matched.
    """
    return list(map(_RAW_TOKENS.__getitem__, _normalized_matches(text)[1]))


@lru_cache(maxsize=1)
def _normalized_matches(text: str) -> tuple[str, tuple[str, ...]]:
    """``text`` normalised, and the token pattern's matches in it.  One
    entry is enough: a request reads its question for its search terms and
    then, right after, for the answer's raw tokens."""
    norm = normalize(text)
    return norm, tuple(_TOKEN_FLAT_RE.findall(norm))


def _clean_match(tok: str) -> str:
    """:func:`_clean` of a matched string: a number is a match that starts
    with a currency sign or a digit (see ``_TOKEN_FLAT_RE``)."""
    return _clean(tok, tok[0] in "£$€¥" or tok[0].isdecimal())


def _clean(tok: str, is_num: bool) -> str:
    if is_num:
        return _THOUSANDS_RE.sub("", tok)
    if tok.endswith("'s"):
        # "women's" → "women", "o'neill" stays whole.
        return tok[:-2]
    return tok


def joined_compounds(norm: str) -> list[str]:
    """``"e-health"`` → ``"ehealth"``, for normalised text; number ranges
    such as ``2020-21`` are one token already and are left alone."""
    out = []
    for m in _COMPOUND_RE.finditer(norm):
        joined = m.group().replace("-", "")
        if not joined.isdigit():
            out.append(joined)
    return out


def positions_by_term(groups: Iterable[Iterable[str]]) -> dict[str, tuple[int, ...]]:
    """Term → the positions, in order, of the groups holding it: which
    words of a passage carry a term (the highlighter), which sentences
    (the answer), looked up per question term instead of scanned."""
    by_term: dict[str, list[int]] = {}
    for i, terms in enumerate(groups):
        for t in terms:
            by_term.setdefault(t, []).append(i)
    return {t: tuple(ix) for t, ix in by_term.items()}


class Memo(dict):
    """A dict that computes and keeps a missing key's value on lookup.

    ``memo[key]`` is one dict lookup once ``key`` has been seen, which is
    what makes per-token work cheap on Zipfian text; it restarts after
    ``MEMO_SIZE`` keys so it cannot grow without bound.
    """

    def __init__(self, compute: Callable[[str], Any]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: str) -> Any:
        value = self._compute(key)
        if len(self) >= MEMO_SIZE:
            self.clear()
        self[key] = value
        return value


#: Matched string → raw token, shared by every caller of :func:`raw_tokens`.
_RAW_TOKENS = Memo(_clean_match)


class Analyzer:
    """Turns text into index terms according to :class:`IndexSettings`."""

    def __init__(self, settings: IndexSettings | None = None) -> None:
        settings = settings or IndexSettings()
        self.stopwords = STOPWORD_LISTS[settings.stopwords]
        self._stemmer = Stemmer.Stemmer("english") if settings.stemming else None
        self.join_compounds = settings.join_compounds
        # Stemming dominates analysis time; words repeat heavily (Zipf).
        self._stem = lru_cache(maxsize=1 << 18)(self._stem_uncached)
        # Surface token → index term ("" for a stopword): one dict lookup
        # per token on the hot path, cleaning and stemming once per word.
        self._memo = Memo(self._term_of_match)
        #: ``word_terms(word)``: the distinct terms of a short string such
        #: as one word, in order, memoised: the highlighter and the answer
        #: selector ask about the same words over and over, a passage's
        #: hundred words at a time, so it is the memo's own lookup (no
        #: Python call per word).  Tuples of strings, not frozensets: the
        #: garbage collector stops tracking those, and the memo holds a
        #: value per distinct word of everything served.
        self.word_terms: Callable[[str], tuple[str, ...]] = \
            Memo(lambda word: tuple(dict.fromkeys(self(word)))).__getitem__

    def _stem_uncached(self, token: str) -> str:
        if self._stemmer is None or token[0].isdigit() or not token[0].isalpha():
            return token
        return self._stemmer.stemWord(token)

    def is_stopword(self, token: str) -> bool:
        return token in self.stopwords

    def term(self, token: str) -> str:
        """The index term of one raw token (stemmed)."""
        return self._stem(token)

    def _term_of_match(self, tok: str) -> str:
        """The index term of a matched surface string, "" if a stopword."""
        cleaned = _clean_match(tok)
        return "" if cleaned in self.stopwords else self._stem(cleaned)

    def _with_compounds(self, norm: str, tokens: list[str]) -> list[str]:
        """With ``join_compounds``, hyphenated words also come joined up
        ("e-health" → "ehealth"), after the text's own tokens."""
        if self.join_compounds and "-" in norm:
            tokens += joined_compounds(norm)
        return tokens

    def term_ids(self, term_id: Callable[[str], int]) -> "PackedTermIds":
        """A fast text → packed term ids function for the index build."""
        return PackedTermIds(self, term_id)

    def term_of_surface(self, tok: str) -> str:
        """The index term of one string matched by the token pattern in
        normalised text, "" if none: for callers keeping their own memo."""
        return self._memo[tok]

    def __call__(self, text: str) -> list[str]:
        """Index terms of ``text``, in order, duplicates kept.

        The same as stemming :func:`raw_tokens` minus stopwords (a test
        holds it to that), computed with one ``findall`` and a memo.
        """
        # map() over the bound lookup is several times faster than a list
        # comprehension subscripting a dict subclass.
        norm, matches = _normalized_matches(text)
        return list(filter(None, map(self._memo.__getitem__, self._with_compounds(norm, list(matches)))))


#: One term id as stored in a packed buffer: native int32, what
#: ``np.frombuffer(buf, np.int32)`` reads back.
_PACK_ID = struct.Struct("=i").pack


class PackedTermIds:
    """Text → the int32 ids of its index terms, packed as bytes.

    The index build analyses every token of the corpus (10⁸ on a million
    passages), so per-token Python work is what it costs.  Here the text is
    normalised once and cut at whitespace with ``str.split``: no token can
    contain whitespace (neither token pattern matches it; a test checks
    every whitespace character), so the tokens of the text are, in order,
    the tokens of its pieces.  Each distinct piece ("Saksa.", "women's") is
    analysed once and remembered as the packed ids of its terms (``b""``
    for stopwords), so a token costs one dict lookup and a bytes join, both
    in C.  Joined hyphenated compounds come after the text's own terms, as
    in :meth:`Analyzer.__call__`, so term order, and with it the
    vocabulary order of the index, is unchanged.
    """

    def __init__(self, analyzer: Analyzer, term_id: Callable[[str], int]) -> None:
        self._analyzer = analyzer
        self._term_id = term_id
        self._pieces = Memo(self._piece_ids)
        self._surfaces = Memo(self._surface_ids)

    def _surface_ids(self, tok: str) -> bytes:
        term = self._analyzer.term_of_surface(tok)
        return _PACK_ID(self._term_id(term)) if term else b""

    def _piece_ids(self, piece: str) -> bytes:
        # The piece is normalised already: it must not be normalised again.
        return b"".join(map(self._surfaces.__getitem__, _TOKEN_FLAT_RE.findall(piece)))

    def raw_piece(self, piece: str) -> tuple[bytes, tuple[str, ...]]:
        """One whitespace piece of text as written: the packed ids of its
        terms, and its joined compounds (whose ids come after the whole
        text's terms: :meth:`compound_ids`).  Text is read piece by piece
        the same as whole: normalisation maps each character on its own
        (NFKC never joins a character to a whitespace one, a test checks)
        and no token crosses whitespace."""
        norm = normalize(piece)
        ids = b"".join(map(self._surfaces.__getitem__, _TOKEN_FLAT_RE.findall(norm)))
        if self._analyzer.join_compounds and "-" in norm:
            return ids, tuple(joined_compounds(norm))
        return ids, ()

    def compound_ids(self, compounds: Iterable[str]) -> bytes:
        """The packed ids of joined compounds from :meth:`raw_piece`."""
        return b"".join(map(self._surfaces.__getitem__, compounds))

    def __call__(self, text: str) -> bytes:
        norm = normalize(text)
        packed = b"".join(map(self._pieces.__getitem__, norm.split()))
        if self._analyzer.join_compounds and "-" in norm:
            packed += b"".join(map(self._surfaces.__getitem__, joined_compounds(norm)))
        return packed
