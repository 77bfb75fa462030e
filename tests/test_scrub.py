"""The scrub: damage to the live version after it was loaded is noticed."""

from __future__ import annotations

import time

import pytest

from service.config import Config, IndexSettings
from service.index.build import build_index
from service.retrieval.reload import IndexHolder
from service.retrieval.retriever import Retriever
from service.web.app import create_app
from conftest import segment_file


@pytest.fixture
def two_versions(make_corpus, tmp_path):
    folder = make_corpus({"a.txt": "Apples are red."})
    idx = tmp_path / "idx"
    old = build_index(folder, idx, IndexSettings())[0]
    (folder / "b.txt").write_text("Bananas are yellow.")
    new = build_index(folder, idx, IndexSettings())[0]
    return folder, idx, old, new


def test_damage_to_the_live_version_moves_the_worker_to_a_sound_one_and_fails_readiness(flip_byte, two_versions):
    folder, idx, old, new = two_versions
    app = create_app(Config(index_dir=idx, scrub_interval=0), Retriever.open(idx))
    holder, client = app.extensions["groundedqa"].holder, app.test_client()
    assert holder.scrub() and client.get("/readyz").status_code == 200
    flip_byte(new)
    assert not holder.scrub()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and str(segment_file(new, "tfs.npy")) in ready.json["errors"][0]["message"]
    assert holder.version == old.name
    assert client.get("/api/search?q=apples").status_code == 200
    # A newly published sound version makes the worker ready again.
    (folder / "c.txt").write_text("Cherries are dark.")
    fresh = build_index(folder, idx, IndexSettings())[0]
    assert holder.check() and holder.version == fresh.name and holder.problem is None
    assert client.get("/readyz").status_code == 200


def test_a_worker_whose_version_was_pruned_moves_to_the_published_one_and_stays_ready(two_versions):
    # A worker slow to reload is still on a version a later publish pruned:
    # its files are gone (its mappings still read), which is no damage to report.
    folder, idx, old, new = two_versions
    app = create_app(Config(index_dir=idx, scrub_interval=0, reload_interval=0), Retriever.open(idx))
    holder = app.extensions["groundedqa"].holder
    (folder / "c.txt").write_text("Cherries are dark.")
    build_index(folder, idx, IndexSettings())
    (folder / "d.txt").write_text("Dates are sweet.")
    published = build_index(folder, idx, IndexSettings())[0]
    assert not new.exists()  # pruned: the published version and the one before it are kept
    assert not holder.scrub()
    assert holder.version == published.name and holder.problem is None
    assert app.test_client().get("/readyz").status_code == 200


def test_with_no_sound_version_left_searches_get_a_clear_503(flip_byte, two_versions):
    _, idx, old, new = two_versions
    app = create_app(Config(index_dir=idx, scrub_interval=0), Retriever.open(idx))
    flip_byte(new)
    flip_byte(old)
    app.extensions["groundedqa"].holder.scrub()
    resp = app.test_client().get("/api/search?q=apples")
    assert resp.status_code == 503 and "no sound index" in resp.json["errors"][0]["message"]
    assert app.test_client().get("/readyz").status_code == 503
    assert app.test_client().get("/healthz").status_code == 200  # alive, not ready


def test_the_scrub_runs_in_the_background(flip_byte, two_versions):
    _, idx, _, new = two_versions
    holder = IndexHolder(Retriever.open(idx), idx, scrub_interval=0.1)
    holder.get()
    flip_byte(new)
    deadline = time.monotonic() + 10
    while holder.problem is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert holder.problem and "checksum mismatch" in holder.problem
    assert holder.version != new.name  # the previous version, sound, answers instead



def test_the_problem_is_published_with_the_fallback_never_before_it(flip_byte, two_versions):
    """A reader (``/readyz``, a poll) must never see the problem beside the
    damaged version: the scrub picks the fallback first."""
    _, idx, old, new = two_versions
    holder = IndexHolder(Retriever.open(idx), idx, scrub_interval=0)
    seen = []
    real_open = holder._open

    def watched_open(version):
        seen.append((holder.problem, holder.version))
        return real_open(version)

    holder._open = watched_open
    flip_byte(new)
    assert not holder.scrub()
    assert seen and all(problem is None for problem, _ in seen)
    assert holder.version == old.name and "checksum mismatch" in holder.problem
