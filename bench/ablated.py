"""The real server with one stage of ``/api/search`` left out: the rows of
``bench/http_bench.py --parts``, which show under load, in the same run as
the full service and the bare-Flask ceiling, what each stage of a request
costs.  A benchmark instrument only; the service has no such modes.

    python bench/ablated.py VARIANT --corpus DIR --index DIR --port N

VARIANT is one of:

- ``no-answer``: no grounded answer is chosen (the document says it abstained);
- ``no-marks``: highlights are the escaped passage without ``<mark>``s;
- ``no-answer-no-marks``: both;
- ``cached``: each (question, k) is answered once per worker and its
  document kept, so later requests cost only the HTTP layer: validation,
  encoding the same-size JSON, headers, gunicorn.  The floor any search
  work sits on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.qa import ask as response  # noqa: E402
from service.web import api  # noqa: E402
from service.answer import AnswerOutcome  # noqa: E402
from service.config import Config  # noqa: E402
from service.answer import highlight  # noqa: E402
from service.web.serve import serve  # noqa: E402

VARIANTS = ("no-answer", "no-marks", "no-answer-no-marks", "cached")


def _no_answer(result: Any, retriever: Any) -> AnswerOutcome:
    return AnswerOutcome(None, True, "left out by the benchmark")


def _no_marks(text: str, terms: Any, analyzer: Any) -> str:
    return highlight(text, (), analyzer)


def _cached() -> Any:
    real = api.search_json
    documents: dict[tuple[str, int], dict] = {}

    def search_json(retriever: Any, question: str, k: int) -> dict:
        key = (question, k)
        if key not in documents:
            documents[key] = real(retriever, question, k)
        return documents[key]

    return search_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variant", choices=VARIANTS)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    if "no-answer" in args.variant:
        response.answer = _no_answer
    if "no-marks" in args.variant:
        response.highlight = _no_marks
    if args.variant == "cached":
        api.search_json = _cached()
    serve(Config.from_env().with_overrides(corpus=args.corpus, index_dir=args.index, port=args.port))


if __name__ == "__main__":
    main()
