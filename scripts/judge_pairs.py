"""Collect the answer judge's training pairs from squad-dev-a (the service's venv).

    .venv/bin/python scripts/judge_pairs.py --squad /work/shared/datasets/squad-dev-a \
        --out build/judge/pairs.jsonl

The judge (``scripts/train_judge.py``) learns to tell, among the sentences
the cheap selector keeps, the one that answers the question.  So its pairs
are what it will be shown: every squad-dev-a question is searched as the
service searches (hybrid), each single sentence of its top passages is a
candidate with the hand-set prefilter's score (``train_selector.HAND``),
and the question is paired with the ``--finalists`` it ranks best plus
``--others`` drawn at random (seeded) from the rest.  A pair is labelled
right when the sentence is of the question's paragraph and holds one of
SQuAD's answer spans.  Each line also names the question's article, so
the trainer can hold articles out.  The sentence text is the one the
service reads (``semantic.sentence_text``, cut to ``--words`` words).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_selector import HAND, READER, SEED, check_inputs, read_squad  # noqa: E402

from service import open_corpus  # noqa: E402
from service.answer.candidates import ANSWER_DEPTH  # noqa: E402
from service.answer.model import CHEAP  # noqa: E402
from service.answer.selection import plain_candidates  # noqa: E402
from service.answer.semantic import sentence_text  # noqa: E402
from service.evaluation.metrics import fold  # noqa: E402

#: Words of a sentence kept: more than the judge's input holds after the
#: question (its tokenizer cuts the longer part, the sentence).
WORDS = 64


def pairs_of(result, retriever, gold: str, spans: list[str], finalists: int, others: int,
             rng: random.Random) -> list[tuple[str, bool]]:
    """(sentence text, right) for the question's chosen candidates."""
    wanted = [fold(a) for a in spans]
    weights = [HAND[n] for n in CHEAP]
    single = [(sum(w * v for w, v in zip(weights, x)), key, run[0]) for key, x, run, _ in
              plain_candidates(result, retriever, READER) if len(run) == 1]
    single.sort(key=lambda c: (-c[0], c[1]))
    chosen = single[:finalists]
    rest = single[finalists:]
    chosen += rng.sample(rest, min(others, len(rest)))
    out = []
    for _, _, s in chosen:
        text = sentence_text(s.hit, s.analysed, WORDS)
        out.append((text, s.hit.source_id == gold and any(w in fold(text) for w in wanted)))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--squad", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--finalists", type=int, default=6, help="the prefilter's best single sentences paired")
    p.add_argument("--others", type=int, default=2, help="further sentences of the top passages, at random")
    args = p.parse_args()
    t0 = time.perf_counter()
    check_inputs(args.squad)
    squad = read_squad(args.squad)
    retriever = open_corpus(args.squad / "corpus.jsonl")
    rng = random.Random(SEED)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    n_pairs = n_right = 0
    with args.out.open("w", encoding="utf-8") as f:
        for n, (qid, text, gold, spans) in enumerate(squad, 1):
            result = retriever.search(text, ANSWER_DEPTH)
            for sentence, right in pairs_of(result, retriever, gold, spans, args.finalists, args.others, rng):
                f.write(json.dumps({"qid": qid, "article": gold.split("_")[0], "question": text,
                                    "sentence": sentence, "label": int(right)}, ensure_ascii=False) + "\n")
                n_pairs += 1
                n_right += right
            if n % 1000 == 0:
                print(f"  {n}/{len(squad)} questions, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(json.dumps({"questions": len(squad), "pairs": n_pairs, "right": n_right, "sha256": digest,
                      "seconds": round(time.perf_counter() - t0)}))


if __name__ == "__main__":
    main()
