"""The sets an evaluation runs on, read and checked before anything is searched.

* A question set (``eval/questions.jsonl``): one ``{"id", "question",
  "sources", "answer", "kind"}`` object per line.
* A BEIR-layout folder: ``corpus.jsonl[.gz]``, ``queries.jsonl`` and
  ``qrels/<split>.tsv``; only the queries that have judgements are kept.

A bad file raises :class:`EvalError` naming the file and line, so a run
never measures a set that is not what its author meant.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("lexical", "paraphrase", "multi", "unanswerable")


class EvalError(Exception):
    """The evaluation cannot run as asked (bad file, unknown source, server down)."""


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    sources: tuple[str, ...]  # any one of them answers it; () = unanswerable
    answer: str | None  # words occurring verbatim in one of the sources
    kind: str

    @property
    def answerable(self) -> bool:
        return bool(self.sources)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise EvalError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise EvalError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise EvalError(f"{path}: cannot be read: {exc.strerror or exc}") from None


def _json_line(path: Path, lineno: int, line: str) -> dict[str, Any]:
    try:
        rec = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise EvalError(f"{path}:{lineno}: not valid JSON: {getattr(exc, 'msg', exc)}") from None
    if not isinstance(rec, dict):
        raise EvalError(f"{path}:{lineno}: not a JSON object")
    return rec


def _question_problem(rec: dict[str, Any]) -> str | None:
    """Why a question record is unusable, or None."""
    for name in ("id", "question"):
        if not isinstance(rec.get(name), str) or not rec[name].strip():
            return f'"{name}" must be a non-empty string'
    sources, answer, kind = rec.get("sources"), rec.get("answer", "missing"), rec.get("kind")
    if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
        return '"sources" must be a list of source IDs'
    if kind not in KINDS:
        return f'"kind" must be one of {", ".join(KINDS)}'
    if (kind == "unanswerable") != (not sources):
        return 'a question has no sources exactly when its "kind" is "unanswerable"'
    if sources and (not isinstance(answer, str) or not answer.strip()):
        return '"answer" must be the words of a source that answer it'
    if not sources and answer is not None:
        return 'an unanswerable question has "answer": null'
    if kind == "multi" and len(set(sources)) < 2:
        return 'a "multi" question needs at least two sources'
    return None


def load_questions(path: Path | str) -> list[Question]:
    """Read and check a question set; the first problem raises, naming file:line."""
    path = Path(path)
    out: list[Question] = []
    seen: set[str] = set()
    for lineno, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        rec = _json_line(path, lineno, line)
        why = _question_problem(rec)
        if why is None and rec["id"] in seen:
            why = f"duplicate question id {rec['id']!r}"
        if why:
            raise EvalError(f"{path}:{lineno}: {why}")
        seen.add(rec["id"])
        out.append(Question(rec["id"], rec["question"], tuple(rec["sources"]), rec["answer"], rec["kind"]))
    if not out:
        raise EvalError(f"{path}: no questions")
    return out


def check_sources(questions: Iterable[Question], known: Collection[str]) -> None:
    """Every expected source must exist in the corpus searched, or every
    question naming it would count as a miss for the wrong reason."""
    unknown = sorted({s for q in questions for s in q.sources if s not in known})
    if unknown:
        raise EvalError("the question set names sources that are not in the corpus: " + ", ".join(unknown))


def qrels_of(questions: Iterable[Question]) -> dict[str, dict[str, int]]:
    """The answerable questions' sources as binary relevance judgements."""
    return {q.id: {s: 1 for s in q.sources} for q in questions if q.answerable}


@dataclass(frozen=True)
class BeirSet:
    corpus: Path
    queries: dict[str, str]  # only the queries that have qrels
    qrels: dict[str, dict[str, int]]


def load_beir(folder: Path | str, split: str = "test") -> BeirSet:
    """Read a BEIR folder; only queries appearing in the qrels are kept."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EvalError(f"{folder}: no such folder")
    corpus = next((folder / n for n in ("corpus.jsonl", "corpus.jsonl.gz") if (folder / n).is_file()), None)
    if corpus is None:
        raise EvalError(f"{folder}: no corpus.jsonl or corpus.jsonl.gz")
    qrels = _read_qrels(folder / "qrels" / f"{split}.tsv")
    queries_path = folder / "queries.jsonl"
    queries: dict[str, str] = {}
    for lineno, line in enumerate(_read_lines(queries_path), start=1):
        if not line.strip():
            continue
        rec = _json_line(queries_path, lineno, line)
        qid, text = rec.get("_id", rec.get("id")), rec.get("text")
        if not isinstance(qid, (str, int)) or not isinstance(text, str):
            raise EvalError(f'{queries_path}:{lineno}: a query needs "_id" and "text"')
        if str(qid) in qrels:
            queries[str(qid)] = text
    missing = sorted(set(qrels) - set(queries))
    if missing:
        raise EvalError(f"{queries_path}: no text for queries in the qrels: {', '.join(missing[:5])}")
    return BeirSet(corpus, queries, qrels)


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in enumerate(_read_lines(path), start=1):
        cols = line.split("\t")
        if not line.strip() or (lineno == 1 and cols[0] == "query-id"):
            continue
        try:
            qid, doc, rel = cols
            qrels.setdefault(qid, {})[doc] = int(rel)
        except ValueError:
            raise EvalError(f"{path}:{lineno}: expected query-id<TAB>corpus-id<TAB>score") from None
    if not qrels:
        raise EvalError(f"{path}: no judgements")
    return qrels
