"""The one configuration object.

Everything that changes what the index contains (analysis, passage size,
BM25 parameters) lives in :class:`IndexSettings`, because that part is
fingerprinted into the index manifest: change it and a saved index no longer
matches.  Everything else (where files live, how the server runs) lives in
:class:`Config`, which wraps the settings and can be read from the
environment so the CLI, the WSGI server and the tests configure the service
the same way.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

#: Project root: the bundled corpus lives beside the package in a checkout.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The default corpus: the checkout's ``corpus/``; for an installed package
#: (no checkout around it), ``corpus/`` in the working directory.
BUNDLED_CORPUS = PROJECT_ROOT / "corpus" if (PROJECT_ROOT / "corpus").is_dir() else Path("corpus")

ENV_PREFIX = "GROUNDEDQA_"
DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class IndexSettings:
    """Settings baked into an index; a change means a rebuild."""

    # Passages: whole sentences only, packed up to these limits.
    # max_words=0 indexes every article whole, as one passage (for corpora of
    # short documents and for comparing against document-level benchmarks).
    max_words: int = 160
    max_sentences: int = 8
    overlap_sentences: int = 0
    # Analysis.
    stopwords: str = "extended"  # "none" | "lucene" | "extended" (see analysis.py)
    stemming: bool = True
    # Hyphenated compounds also indexed joined ("E-Health" → also "ehealth").
    join_compounds: bool = True
    index_titles: bool = True
    # BM25Okapi parameters.  k1 = 1.2 (rank-bm25's own default is 1.5) and
    # the passage limits above were chosen by measurement: eval/README.md.
    k1: float = 1.2
    b: float = 0.75
    epsilon: float = 0.25

    def __post_init__(self) -> None:
        if self.max_words < 0 or self.max_sentences < 1:
            raise ValueError("max_words must be at least 0 (0: whole articles) and max_sentences at least 1")
        if not 0 <= self.overlap_sentences < self.max_sentences:
            raise ValueError("overlap_sentences must be in [0, max_sentences)")
        if self.stopwords not in ("none", "lucene", "extended"):
            raise ValueError("stopwords must be one of: none, lucene, extended")
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise ValueError("k1 must be >= 0 and b in [0, 1]")

    def fingerprint(self) -> str:
        """Stable digest of the settings, stored in the index manifest."""
        text = ",".join(f"{k}={v!r}" for k, v in sorted(asdict(self).items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


RETRIEVAL_MODES = ("lexical", "hybrid")


@dataclass(frozen=True)
class RetrievalSettings:
    """How questions are matched, chosen per request within what the index
    holds; not baked into the index (an index with vectors serves both).

    ``hybrid`` re-ranks BM25's exact top ``hybrid_depth`` passages, plus
    the ``dense_depth`` passages nearest the question in meaning, by a blend
    of the two scores (``hybrid_weight`` on BM25's share); where the index
    has its sentences' vectors, ``sentence_share`` of the meaning's share is
    the passage's best sentence's cosine, and BM25's share is
    ``sentence_weight`` (0: the passage's cosine alone).  The defaults were
    chosen by measurement (eval/README.md).  A question that shares no word
    with any passage gets no hits in either mode.
    """

    retrieval: str = "hybrid"
    hybrid_depth: int = 100
    hybrid_weight: float = 0.5
    dense_depth: int = 50
    sentence_weight: float = 0.4
    sentence_share: float = 0.5

    def __post_init__(self) -> None:
        if self.retrieval not in RETRIEVAL_MODES:
            raise ValueError(f"retrieval must be one of: {', '.join(RETRIEVAL_MODES)}")
        if self.hybrid_depth < 1 or self.dense_depth < 0 or not 0 <= self.hybrid_weight <= 1:
            raise ValueError("hybrid_depth must be at least 1, dense_depth at least 0, hybrid_weight in [0, 1]")
        if not (0 <= self.sentence_weight <= 1 and 0 <= self.sentence_share <= 1):
            raise ValueError("sentence_weight and sentence_share must be in [0, 1]")


def default_index_root() -> Path:
    """Where indexes live unless ``--index`` says otherwise.

    A cache directory rather than the corpus folder, so a read-only corpus
    (or a single JSONL file) can be indexed too.
    """
    env = os.environ.get(ENV_PREFIX + "INDEX_ROOT")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "groundedqa"


def default_index_dir(corpus: Path) -> Path:
    """The index directory derived from a corpus path.

    Named after the corpus and a digest of its absolute path, so
    ``index --corpus X`` and a later ``ask --corpus X`` meet at the same place
    and two corpora never share one.
    """
    resolved = Path(corpus).resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    return default_index_root() / f"{resolved.stem or 'corpus'}-{digest}"


@dataclass(frozen=True)
class Config:
    """Paths, serving options and the index settings."""

    # None: the index in ``index_dir`` as it is, if one is named; else the
    # bundled corpus (``corpus_path``).
    corpus: Path | None = None
    index_dir: Path | None = None
    settings: IndexSettings = field(default_factory=IndexSettings)
    search: RetrievalSettings = field(default_factory=RetrievalSettings)
    # Whether a new index stores passage vectors for hybrid retrieval
    # (``index --no-semantic``: lexical only).  An existing index is served
    # as it was built either way.
    semantic: bool = True
    # Whether a new semantic index also stores each passage's sentences'
    # vectors (ranked by the best sentence beside the passage; about 4 to 9
    # times the passage vectors' disk and encoding time): off for huge
    # archives (``index --no-sentence-vectors``).  An existing index keeps
    # what it was built with.
    sentence_vectors: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    # Threads per worker answering whole requests (service/web/worker.py).
    threads: int = 4
    # Seconds a request may take to arrive, head and body; then a 408.
    request_timeout: float = 10.0
    # Seconds between a worker's checks for a newly published index.
    reload_interval: float = 1.0
    # Seconds between re-reads of the live version's checksums (0: never).
    scrub_interval: float = 300.0
    # Corpus reading: one article file larger than this is rejected.
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    # Request limits (HTTP API and web form).
    max_query_chars: int = 1000
    max_query_terms: int = 64
    max_k: int = 50
    # How far into the ranking a page may start, and how many sources one
    # search may be restricted to.
    max_offset: int = 1000
    max_sources: int = 50
    # GET /api/sources and /sources: sources per page.
    max_list_limit: int = 200
    default_list_limit: int = 50
    # Path + query string; a 1,000-character question in any script fits.
    max_url_bytes: int = 12288
    default_k: int = 10
    # Largest request body the HTTP API reads (bytes); larger ones get 413.
    # A 1,000-character question, fully \u-escaped, fits well within it.
    max_body_bytes: int = 16384

    @property
    def corpus_path(self) -> Path:
        """The corpus named, or the bundled one."""
        return Path(self.corpus) if self.corpus else BUNDLED_CORPUS

    @property
    def resolved_index_dir(self) -> Path:
        return Path(self.index_dir) if self.index_dir else default_index_dir(self.corpus_path)

    def with_overrides(self, **overrides: Any) -> "Config":
        """A copy with the given non-None values replaced."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        """Read ``GROUNDEDQA_*`` variables (e.g. ``GROUNDEDQA_CORPUS``,
        ``GROUNDEDQA_PORT``, ``GROUNDEDQA_K1``); unknown values keep defaults."""
        env = os.environ if environ is None else environ
        base = cls()
        return replace(base, settings=replace(base.settings, **_env_values(base.settings, env)),
                       search=replace(base.search, **_env_values(base.search, env)), **_env_values(base, env))


def _env_values(obj: Any, env: Mapping[str, str]) -> dict[str, Any]:
    """The fields of dataclass ``obj`` that ``env`` sets (non-empty), coerced
    to the type of ``obj``'s current value; ``settings`` and ``search`` are
    read field by field."""
    return {
        f.name: _coerce(f.name, raw, getattr(obj, f.name))
        for f in fields(obj)
        if f.name not in ("settings", "search") and (raw := env.get(ENV_PREFIX + f.name.upper()))
    }


def _coerce(name: str, raw: str, current: Any) -> Any:
    if isinstance(current, bool):
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"{ENV_PREFIX}{name.upper()}: expected a boolean, got {raw!r}")
    if isinstance(current, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}{name.upper()}: expected an integer, got {raw!r}") from None
    if isinstance(current, float):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}{name.upper()}: expected a number, got {raw!r}") from None
    if isinstance(current, Path) or current is None:
        return Path(raw)
    return raw
