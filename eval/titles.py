"""Are titles worth indexing with the text?  SciFact (whole documents,
lexical, the only bundled-for-eval set whose titles are the documents'
own) with titles indexed and without, side by side in one run.

    python eval/titles.py /work/shared/datasets/scifact
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from service.config import Config, IndexSettings
from service.evaluation.datasets import load_beir
from service.evaluation.metrics import ALL
from service.evaluation.runs import evaluate_beir, retriever_rank_passages
from service.index.build import ensure_index
from service.retrieval.retriever import Retriever


def main(folder: str) -> None:
    scifact = load_beir(Path(folder))
    for titles in (True, False):
        settings = replace(IndexSettings(), max_words=0, index_titles=titles)
        with tempfile.TemporaryDirectory() as tmp:
            config = Config(corpus=scifact.corpus, index_dir=Path(tmp) / "index", settings=settings, semantic=False)
            run = evaluate_beir(scifact, retriever_rank_passages(Retriever(ensure_index(config)), 100, "lexical"))
        print(f"| index_titles={titles} | {run.summary['nDCG@10'][ALL]:.4f} | {run.summary['R@100'][ALL]:.4f} |",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
