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

from service.config import Config  # noqa: E402
from service.qa.ask import Options, ask, response_json, search_json  # noqa: E402
from service.web.serve import serve  # noqa: E402

VARIANTS = ("no-answer", "no-marks", "no-answer-no-marks", "cached")


def _left_out(with_answer: bool, with_marks: bool) -> Any:
    def search(retriever: Any, question: str, k: int, terms: Any = None, retrieval: Any = None,
               options: Options = Options()) -> dict:
        return response_json(ask(retriever, question, k, terms, retrieval=retrieval, options=options,
                                 with_answer=with_answer, with_marks=with_marks))

    return search


def _cached() -> Any:
    documents: dict[tuple[Any, ...], dict] = {}

    def search(retriever: Any, question: str, k: int, terms: Any = None, retrieval: Any = None,
               options: Options = Options()) -> dict:
        key = (question, k, retrieval, options)
        if key not in documents:
            documents[key] = search_json(retriever, question, k, terms, retrieval, options)
        return documents[key]

    return search


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variant", choices=VARIANTS)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    search = (_cached() if args.variant == "cached"
              else _left_out("no-answer" not in args.variant, "no-marks" not in args.variant))
    serve(Config.from_env().with_overrides(corpus=args.corpus, index_dir=args.index, port=args.port), search)


if __name__ == "__main__":
    main()
