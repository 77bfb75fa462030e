"""Answer-type cues: which types of answer (a number, a sum of money, a
length of time, a date, a name, a place) a word of a sentence can be,
read off how it is written and the word before it.

A word's cues depend on its spelling and two facts about its context
only, so they are remembered by those (a bounded memo of strings, shared
by every index).  The index stores each word's cues as the bits of
:data:`CUE_NAMES` (:func:`sentence_cue_bits`), so a request reads them
rather than reading the words again.
"""

from __future__ import annotations

import re
from itertools import chain, repeat

from .analysis import Memo, normalize

MONTHS = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
RELATIVE_DATES = frozenset("yesterday today tomorrow".split())
NUMBER_WORDS = frozenset(
    """one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy
    eighty ninety hundred thousand million billion trillion dozen dozens hundreds
    thousands millions billions half quarter double twice""".split()
)
CURRENCY_WORDS = frozenset("pounds pound dollars dollar euros euro pence cents".split())
DURATION_UNITS = frozenset("year years month months week weeks day days hour hours minute minutes".split())
PLACE_PREPOSITIONS = frozenset("in at across from near to throughout within".split())
_YEAR_RE = re.compile(r"(?:1[89]|20)\d\d(?:-\d\d)?")

#: A word as written → :func:`normalize` of it: each word of a passage is
#: normalised up to three times while its sentence is read, and words repeat.
NORMALIZED = Memo(normalize)


def read_cues(key: tuple[str, bool, bool]) -> tuple[str, ...]:
    """The cues of a word, given as (spelling, opens the sentence, follows
    a capitalised word or a place preposition)."""
    surface, first, after_place = key
    low = NORMALIZED[surface]
    cues = set()
    if surface[0].isdigit() or surface[0] in "£$€¥" or low in NUMBER_WORDS:
        cues.update(("number", "duration"))
    if surface[0] in "£$€¥" or low in CURRENCY_WORDS:
        cues.add("money")
    if low in DURATION_UNITS:
        cues.add("duration")
    if _YEAR_RE.fullmatch(low) or low in WEEKDAYS or low in RELATIVE_DATES or (
            low in MONTHS and surface[0].isupper()):
        cues.add("date")
    capital = surface[0].isupper() and "date" not in cues
    acronym = len(surface) > 1 and surface.isupper()
    if capital and (not first or acronym):
        cues.add("name")
        if after_place:
            cues.add("place")
    return tuple(sorted(cues))


_CUES = Memo(read_cues)


def follows_place(prev: str) -> bool:
    """Whether a capitalised word after ``prev`` may name a place: ``prev``
    is capitalised or a place preposition such as "in" ("" opens a sentence)."""
    return prev[:1].isupper() or NORMALIZED[prev] in PLACE_PREPOSITIONS


def word_cues(surface: str, prev: str, first: bool) -> tuple[str, ...]:
    """Answer types a word can fill, read off how it is written (and, for
    a capitalised word, whether it opens the sentence and whether the word
    before it :func:`follows_place`)."""
    capital = surface[0].isupper()
    return _CUES[surface, capital and first, capital and follows_place(prev)]


def sentence_cues(surfaces: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """Each word's cues, for the words of one sentence as written, in order."""
    return tuple(map(word_cues, surfaces, chain(("",), surfaces), chain((True,), repeat(False))))


#: The answer types, in the order of their bits in a stored cue mask
#: (sorted, as :func:`read_cues` sorts a word's cues).
CUE_NAMES = ("date", "duration", "money", "name", "number", "place")
#: Cue mask → the cues it holds, sorted: what :func:`read_cues` returns.
CUES_OF_BITS: tuple[tuple[str, ...], ...] = tuple(
    tuple(name for j, name in enumerate(CUE_NAMES) if bits >> j & 1) for bits in range(1 << len(CUE_NAMES)))
_BITS_OF_CUES = {cues: bits for bits, cues in enumerate(CUES_OF_BITS)}


def sentence_cue_bits(surfaces: tuple[str, ...]) -> list[int]:
    """:func:`sentence_cues` as masks of :data:`CUE_NAMES` bits."""
    return list(map(_BITS_OF_CUES.__getitem__, sentence_cues(surfaces)))


def context_cue_bits(surface: str) -> tuple[int, ...]:
    """A word's cue mask (:func:`sentence_cue_bits`) in each context that
    :func:`word_cues` tells apart, at ``2 * opens the sentence +
    follows_place(the word before)``: the index works a spelling's cues out
    once and picks them by context, word by word, in arrays."""
    if not surface[0].isupper():  # the context only matters to a capital
        return (_BITS_OF_CUES[read_cues((surface, False, False))],) * 4
    return tuple(_BITS_OF_CUES[read_cues((surface, first, place))] for first in (False, True)
                 for place in (False, True))
