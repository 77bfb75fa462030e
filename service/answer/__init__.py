"""Answer: the sentence of the top passages that answers the question, or
an abstention, and the question's words marked in each passage.

``question`` (what the question asks for and how much its words weigh)
→ ``reading`` (a passage's sentences, as the index stored them) →
``selection`` (the best run of sentences) → ``outcome`` (the quote with
its citations, or why there is none); ``highlight`` (the question's words
marked).
"""

from .highlight import highlight
from .outcome import MAX_ANSWER_WORDS, Answer, AnswerOutcome, Citation, answer
from .question import answer_type
from .candidates import ANSWER_DEPTH

__all__ = ["ANSWER_DEPTH", "MAX_ANSWER_WORDS", "Answer", "AnswerOutcome", "Citation", "answer",
           "answer_type", "highlight"]
