"""Answer: the sentence of the top passages that answers the question, or
an abstention, and the question's words marked in each passage.

``question`` (what the question asks for and how much its words weigh)
→ ``cues`` (the answer types a word can be) → ``reading`` (a passage's
sentences, read once) → ``selection`` (the best run of sentences) →
``outcome`` (the quote with its citations, or why there is none);
``escaping`` (a passage escaped once) → ``highlight`` (the question's
words marked).  ``caches`` keeps the readings and escapings of an index's
passages for as long as the index is loaded.
"""

from .caches import PassageCaches
from .highlight import highlight
from .outcome import MAX_ANSWER_WORDS, Answer, AnswerOutcome, Citation, answer
from .question import answer_type
from .candidates import ANSWER_DEPTH

__all__ = ["ANSWER_DEPTH", "MAX_ANSWER_WORDS", "Answer", "AnswerOutcome", "Citation", "PassageCaches", "answer",
           "answer_type", "highlight"]
