"""Measure index settings on the question set, SciFact and squad-dev-a.

    python eval/tune.py --datasets DIR [NAME=VALUE,... ...]

Each argument is one trial: settings that differ from the current defaults
(``max_words=200,overlap_sentences=1``); with no argument the trials in TRIALS
are run.  Every trial builds its indexes in a temporary folder and prints a
Markdown row, so the table in eval/README.md is this script's output.
SciFact is measured with whole documents (as published BEIR figures are)
and squad-dev-a with the passages the service serves.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import fields, replace
from pathlib import Path

from service import open_corpus
from service.config import BUNDLED_CORPUS, PROJECT_ROOT, IndexSettings
from service.evaluation.datasets import load_beir, load_questions
from service.evaluation.metrics import ALL, ANSWERABLE
from service.evaluation.runs import api_search, evaluate_beir, evaluate_questions, retriever_rank_passages

TRIALS = [
    "",
    "stopwords=none", "stopwords=lucene",
    "stemming=False",
    "join_compounds=False",
    "index_titles=False",
    "max_words=120,max_sentences=5", "max_words=80", "max_words=120", "max_words=200",
    "max_sentences=5", "overlap_sentences=1", "overlap_sentences=2",
    "k1=1.5", "k1=0.9,b=0.4", "k1=2.0", "b=0.5", "b=0.9", "epsilon=0.0", "epsilon=0.5",
]
COLUMNS = ["QS S@1", "QS S@5", "QS Ans@1", "QS Ans@5", "SciFact nDCG@10", "SciFact R@100",
           "SQuAD S@1", "SQuAD nDCG@10"]


def parse_trial(spec: str) -> dict[str, object]:
    kinds = {f.name: f.type for f in fields(IndexSettings)}
    out: dict[str, object] = {}
    for part in filter(None, spec.split(",")):
        name, _, raw = part.partition("=")
        if name not in kinds:
            raise SystemExit(f"unknown setting {name!r}; known: {', '.join(kinds)}")
        default = getattr(IndexSettings(), name)
        out[name] = raw == "True" if isinstance(default, bool) else type(default)(raw)
    return out


def measure(settings: IndexSettings, datasets: Path, work: Path) -> list[float]:
    seed = open_corpus(BUNDLED_CORPUS, work / "seed", settings)
    qs = evaluate_questions(load_questions(PROJECT_ROOT / "eval" / "questions.jsonl"), api_search(seed, 10))
    row = [qs.summary[m][ANSWERABLE] for m in ("Success@1", "Success@5", "AnswerInTop1", "AnswerInTop5")]
    scifact = load_beir(datasets / "scifact")
    whole = replace(settings, max_words=0)
    sf = evaluate_beir(scifact, retriever_rank_passages(open_corpus(scifact.corpus, work / "sf", whole), 100))
    row += [sf.summary["nDCG@10"][ALL], sf.summary["R@100"][ALL]]
    squad = load_beir(datasets / "squad-dev-a")
    sq = evaluate_beir(squad, retriever_rank_passages(open_corpus(squad.corpus, work / "sq", settings), 1000))
    return row + [sq.summary["Success@1"][ALL], sq.summary["nDCG@10"][ALL]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, required=True, help="folder holding scifact/ and squad-dev-a/")
    parser.add_argument("trials", nargs="*", default=TRIALS)
    args = parser.parse_args()
    print("| trial | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for spec in args.trials:
        settings = replace(IndexSettings(), **parse_trial(spec))
        with tempfile.TemporaryDirectory() as tmp:
            row = measure(settings, args.datasets, Path(tmp))
        print(f"| {spec or 'defaults'} | " + " | ".join(f"{v:.3f}" for v in row) + " |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
