"""Corpus: files on disk → :class:`Article` records.

Two layouts are read the same way:

* a folder of ``.txt`` / ``.md`` files, one article each, whose source ID is
  the file stem (``corpus/000_dee66f3a7b2b2239.txt`` → ``000_dee66f3a7b2b2239``),
  each with optional front matter, and an optional ``metadata.jsonl``
  beside them (:mod:`service.corpus.metadata`);
* a JSONL file (optionally ``.gz``) of ``{"_id" or "id", "title", "text", ...}``
  records, BEIR's ``corpus.jsonl`` among them.

Every bad file or line is reported with its path, line and reason, all of
them at once, so one run tells the user everything to fix.  Nothing is
guessed: an article without a title has ``title=None``.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from ..config import DEFAULT_MAX_FILE_BYTES
from .metadata import SIDECAR, date_problem, read_sidecar, split_front_matter

TEXT_SUFFIXES = (".txt", ".md")
MAX_FILE_BYTES = DEFAULT_MAX_FILE_BYTES
MAX_ID_CHARS = 200


@dataclass(frozen=True)
class Article:
    source_id: str
    text: str
    title: str | None = None
    url: str | None = None
    date: str | None = None

    def metadata(self) -> dict[str, str]:
        """Title, URL and date where the source gave them."""
        return {k: v for k, v in (("title", self.title), ("url", self.url), ("date", self.date)) if v}


@dataclass(frozen=True)
class Problem:
    """One rejected file or line."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


class CorpusError(Exception):
    """The corpus cannot be indexed as it is; ``problems`` lists why."""

    def __init__(self, problems: list[Problem], message: str | None = None) -> None:
        self.problems = problems
        lines = [str(p) for p in problems]
        super().__init__(message or "corpus rejected:\n  " + "\n  ".join(lines))


@dataclass
class CorpusReport:
    """What reading a corpus found: the good articles and every problem."""

    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    items_seen: int = 0
    #: Where each accepted article came from (path, line), parallel to ``articles``.
    origins: list[tuple[str, int | None]] = field(default_factory=list)

    def fingerprint(self) -> str:
        """Digest of the accepted content, independent of where it lives
        (see :func:`corpus_fingerprint`)."""
        return corpus_fingerprint(map(article_digest, self.articles))

    def ordered_fingerprint(self) -> str:
        """The digest indexes held before :func:`corpus_fingerprint` (of the
        articles in the order read): such an index still matches its corpus
        without a rebuild."""
        h = hashlib.sha256()
        for a in self.articles:
            _digest_content(h, a)
        return h.hexdigest()[:32]


#: Marks the digest :func:`corpus_fingerprint` makes (a sum of articles'),
#: so an index made before it is told apart and its digest worked out again.
FINGERPRINT_KIND = "s1-"
_DIGEST_MOD = 1 << 128


def article_digest(a: Article) -> int:
    """One article's contribution to :func:`corpus_fingerprint` (128 bits
    of the sha256 of its ID, metadata and text)."""
    h = hashlib.sha256()
    _digest_content(h, a)
    return int.from_bytes(h.digest()[:16], "big")


def _digest_content(h: "hashlib._Hash", a: Article) -> None:
    for part in (a.source_id, a.title or "", a.url or "", a.date or "", a.text):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")


def corpus_fingerprint(digests: Iterable[int]) -> str:
    """The collection's digest: the sum of its articles' digests modulo
    2**128.  A sum ignores the order the articles were read in and takes
    an article out by subtraction, so an index changed article by article
    (add, replace, remove) keeps the digest a full build of the same
    articles has, at the cost of the articles changed."""
    return f"{FINGERPRINT_KIND}{sum(digests) % _DIGEST_MOD:032x}"


def fingerprint_value(fingerprint: str | None) -> int | None:
    """The sum inside a :func:`corpus_fingerprint` (None: not one)."""
    if not isinstance(fingerprint, str) or not fingerprint.startswith(FINGERPRINT_KIND):
        return None
    try:
        return int(fingerprint[len(FINGERPRINT_KIND):], 16)
    except ValueError:
        return None


def read_corpus(path: Path | str, max_file_bytes: int = MAX_FILE_BYTES) -> CorpusReport:
    """Read a folder or JSONL file, collecting problems instead of stopping.

    ``max_file_bytes`` caps one article file: a stray multi-gigabyte log in
    the folder should be reported, not swallowed into memory.
    """
    path = Path(path)
    report = CorpusReport()
    if not path.exists():
        raise CorpusError([Problem(str(path), "no such file or folder")])
    if path.is_dir():
        _read_folder(path, report, max_file_bytes)
    elif path.name.endswith((".jsonl", ".jsonl.gz", ".json.gz")):
        _read_jsonl(path, report)
    elif path.suffix in TEXT_SUFFIXES:
        report.items_seen += 1
        _add(report, _read_text_file(path, path.parent.resolve(), max_file_bytes), str(path))
    else:
        raise CorpusError([Problem(str(path), "not a folder, a .txt/.md file or a .jsonl[.gz] file")])
    _reject_duplicates(report)
    if report.items_seen == 0:
        report.problems.append(Problem(str(path), "no articles found (empty folder or file)"))
    return report


def read_files(paths: list[Path], max_file_bytes: int = MAX_FILE_BYTES) -> CorpusReport:
    """Read articles from ``.txt``/``.md`` files and ``.jsonl[.gz]`` files
    (what ``add`` takes), with the checks of a corpus, duplicates across the
    files included; problems are collected, not raised."""
    report = CorpusReport()
    for path in paths:
        one = read_corpus(path, max_file_bytes)
        report.articles += one.articles
        report.origins += one.origins
        report.problems += one.problems
        report.items_seen += one.items_seen
    _reject_duplicates(report)
    return report


def load_corpus(path: Path | str, skip_bad: bool = False, max_file_bytes: int = MAX_FILE_BYTES) -> CorpusReport:
    """Read a corpus; raise :class:`CorpusError` on any problem unless ``skip_bad``.

    Even with ``skip_bad`` a corpus with no good article is an error: an
    empty index would answer every question with nothing.
    """
    report = read_corpus(path, max_file_bytes)
    if report.problems and not skip_bad:
        raise CorpusError(report.problems)
    if not report.articles:
        raise CorpusError(report.problems or [Problem(str(path), "no articles found")])
    return report


def _add(report: CorpusReport, result: Article | Problem, where: str, line: int | None = None) -> None:
    if isinstance(result, Problem):
        report.problems.append(result)
    else:
        report.articles.append(result)
        report.origins.append((where, line))


def _reject_duplicates(report: CorpusReport) -> None:
    """A duplicate ID is ambiguous: keep neither copy, report each."""
    counts: dict[str, int] = {}
    for a in report.articles:
        counts[a.source_id] = counts.get(a.source_id, 0) + 1
    dups = {k for k, n in counts.items() if n > 1}
    if not dups:
        return
    kept, kept_origins = [], []
    for a, (where, line) in zip(report.articles, report.origins):
        if a.source_id in dups:
            report.problems.append(Problem(where, f"duplicate source ID {a.source_id!r}", line))
        else:
            kept.append(a)
            kept_origins.append((where, line))
    report.articles, report.origins = kept, kept_origins


def _check_id(source_id: object) -> str | None:
    """Why an ID is unusable, or None."""
    if not isinstance(source_id, (str, int)) or isinstance(source_id, bool):
        return "source ID must be a string"
    sid = str(source_id)
    if not sid.strip() or sid != sid.strip():
        return "source ID is empty or has surrounding spaces"
    if len(sid) > MAX_ID_CHARS:
        return f"source ID longer than {MAX_ID_CHARS} characters"
    if "#" in sid or any(not ch.isprintable() for ch in sid):
        return "source ID contains '#' or control characters"
    return None


def _clean_text(text: str) -> str:
    """Drop a BOM and turn CRLF/CR into LF, so character spans are stable."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _walk(folder: Path) -> Iterator[Path]:
    return (Path(e.path) for e in list_entries(folder))


def _read_folder(folder: Path, report: CorpusReport, max_file_bytes: int) -> None:
    root = folder.resolve()
    sidecar = folder / SIDECAR
    for file in _walk(folder):
        if file == sidecar:
            continue
        report.items_seen += 1
        if file.suffix not in TEXT_SUFFIXES:
            report.problems.append(Problem(str(file), "not a .txt or .md file"))
            continue
        _add(report, _read_text_file(file, root, max_file_bytes), str(file))
    if sidecar.is_file():
        _apply_sidecar(sidecar, report)


def _apply_sidecar(sidecar: Path, report: CorpusReport) -> None:
    """Set the articles' title, date and URL from ``metadata.jsonl`` (over
    what the file itself says); an ID with no article is a problem."""
    where = str(sidecar)
    by_id, problems = read_sidecar(sidecar)
    report.problems += [Problem(where, reason, line or None) for line, reason in problems]
    index = {a.source_id: i for i, a in enumerate(report.articles)}
    for sid, (line, fields) in by_id.items():
        i = index.get(sid)
        if i is None:
            report.problems.append(Problem(where, f"no article has the source ID {sid!r}", line))
        else:
            report.articles[i] = dataclasses.replace(report.articles[i], **fields)


def _read_text_file(file: Path, root: Path, max_file_bytes: int) -> Article | Problem:
    return read_text_file(file, root, max_file_bytes)[0]


def list_files(folder: Path) -> Iterator[Path]:
    """The files a folder corpus consists of (hidden ones left out), in
    reading order; ``metadata.jsonl`` among them."""
    return _walk(folder)


def list_entries(folder: Path | str) -> Iterator[os.DirEntry]:
    """:func:`list_files` as directory entries: a folder's files by name,
    then its subfolders' (hidden ones and linked folders not entered).
    ``os.scandir`` rather than paths: a start-up stats every file of the
    corpus, and building a ``Path`` per file cost more than the ``stat``."""
    try:
        with os.scandir(folder) as it:
            entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError:
        return
    dirs = []
    for e in entries:
        try:
            is_dir = e.is_dir()
        except OSError:
            is_dir = False
        if not is_dir:
            yield e
        elif not e.is_symlink():
            dirs.append(e)
    for d in dirs:
        yield from list_entries(d.path)


def read_text_file(file: Path, root: Path, max_file_bytes: int = MAX_FILE_BYTES) -> tuple[Article | Problem, str | None]:
    """One article file of the folder ``root``, and the SHA-256 of its bytes
    (None when they could not be read): what an incremental index records
    to tell a changed file from a touched one."""
    where = str(file)
    try:
        real = file.resolve()
        if root not in real.parents and real != root:
            return Problem(where, "symbolic link pointing outside the corpus folder"), None
        size = real.stat().st_size
        if size > max_file_bytes:
            return Problem(where, f"file is {size} bytes, over the {max_file_bytes}-byte limit"), None
        data = real.read_bytes()
    except OSError as exc:
        return Problem(where, f"cannot be read: {exc.strerror or exc}"), None
    digest = hashlib.sha256(data).hexdigest()
    return _parse_text_file(file, data, where), digest


def _parse_text_file(file: Path, data: bytes, where: str) -> Article | Problem:
    if b"\x00" in data:
        return Problem(where, "binary file (contains NUL bytes)")
    try:
        text = _clean_text(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Problem(where, f"not valid UTF-8 (byte {exc.start}); re-save it as UTF-8")
    fields, text, problems = split_front_matter(text)
    if problems:
        line, reason = problems[0]  # one Problem per file: the first to fix
        return Problem(where, reason + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""), line)
    if not text.strip():
        return Problem(where, "empty file")
    sid = file.stem
    why = _check_id(sid)
    if why:
        return Problem(where, why)
    title = fields.get("title")
    if title is None and file.suffix == ".md":
        first = text.lstrip().split("\n", 1)[0]
        if first.startswith("# "):
            title = first[2:].strip() or None
    return Article(source_id=sid, text=text, title=title, url=fields.get("url"), date=fields.get("date"))


def _open_jsonl(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _read_jsonl(path: Path, report: CorpusReport) -> None:
    where = str(path)
    lineno = 0
    try:
        with _open_jsonl(path) as fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                report.items_seen += 1
                _add(report, _parse_record(raw, where, lineno), where, lineno)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        # Reading stopped after ``lineno`` good lines (a truncated or damaged
        # .gz): name the line it stopped in, as for any other bad line.
        report.problems.append(Problem(where, f"cannot be read: {exc}", lineno + 1 if lineno else None))


def _parse_record(raw: bytes, where: str, lineno: int) -> Article | Problem:
    try:
        rec = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Problem(where, f"not valid UTF-8 (byte {exc.start} of the line)", lineno)
    except (json.JSONDecodeError, RecursionError) as exc:
        return Problem(where, f"not valid JSON: {getattr(exc, 'msg', exc)}", lineno)
    if not isinstance(rec, dict):
        return Problem(where, "record is not a JSON object", lineno)
    sid = rec.get("_id", rec.get("id"))
    if sid is None:
        return Problem(where, 'record has no "_id" or "id"', lineno)
    why = _check_id(sid)
    if why:
        return Problem(where, why, lineno)
    text = rec.get("text")
    if not isinstance(text, str) or not text.strip():
        return Problem(where, 'record has no non-empty "text"', lineno)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return Problem(where, "text contains an unpaired surrogate escape", lineno)
    meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}

    def field_of(*names: str) -> str | None:
        for source in (rec, meta):
            for n in names:
                v = source.get(n)
                if isinstance(v, str) and v.strip():
                    return v.strip()
        return None

    day = field_of("date", "published", "publication_date")
    why = date_problem(day) if day else None
    if why:
        return Problem(where, why, lineno)
    return Article(
        source_id=str(sid),
        text=_clean_text(text),
        title=field_of("title"),
        url=field_of("url", "link"),
        date=day,
    )
