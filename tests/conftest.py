"""Shared fixtures: every test builds its indexes under its own temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import BUNDLED_CORPUS
from service.corpus import load_corpus
from service.search import Retriever


@pytest.fixture(autouse=True)
def _index_root(tmp_path_factory, monkeypatch):
    """Never touch the user's cache: indexes go to a per-test temp dir."""
    monkeypatch.setenv("GROUNDEDQA_INDEX_ROOT", str(tmp_path_factory.mktemp("indexes")))


@pytest.fixture(scope="session")
def seed_articles():
    return load_corpus(BUNDLED_CORPUS).articles


@pytest.fixture(scope="session")
def seed_retriever(tmp_path_factory) -> Retriever:
    return Retriever.from_corpus(BUNDLED_CORPUS, tmp_path_factory.mktemp("seed-index"))


@pytest.fixture
def make_corpus(tmp_path):
    """Write {name: text-or-bytes} into a fresh folder and return its path."""

    def make(files: dict[str, str | bytes], name: str = "c") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for fname, content in files.items():
            path = folder / fname
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return folder

    return make
