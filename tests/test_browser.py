"""A real browser against the real server (``python -m service serve``).

Debian's ``chromium`` driven by Playwright; nothing is downloaded (never
``playwright install``).  Skipped only when chromium or Playwright is
missing on a developer's machine; under ``CI`` a missing browser fails the
run, so the check cannot silently vanish there (``.ci/run`` installs it).

Screenshots go to ``$GROUNDEDQA_SCREENSHOT_DIR`` (e.g. ``docs`` to refresh
the README's) or else to the test's temp directory; their paths are printed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves it out

CHROMIUM = Path(os.environ.get("GROUNDEDQA_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
SEED_Q = "How many trusts attended the first Lorenzo user group meeting?"
LORENZO = "000_dee66f3a7b2b2239"
PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


@pytest.fixture(scope="module")
def browser():
    problem = _missing()
    if problem:
        if _in_ci():
            pytest.fail(f"browser test cannot run under CI: {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP)
    p = context.new_page()
    p.dialogs = []  # every alert/confirm/prompt that fires, which must be none
    p.on("dialog", lambda d: (p.dialogs.append(d.message), d.dismiss()))
    yield p
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("GROUNDEDQA_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def ask(page, base: str, question: str) -> None:
    """Type the question into the labelled field and submit with the keyboard."""
    page.goto(base + "/")
    field = page.get_by_label("Your question")
    field.fill(question)
    with page.expect_navigation():
        field.press("Enter")


def test_question_to_results_to_highlighted_source(page, live_server, shots):
    ask(page, live_server, SEED_Q)
    assert "q=How+many+trusts" in page.url
    links = page.locator("a.source-link")
    assert links.count() == 10
    first = links.first
    assert first.inner_text() == LORENZO
    assert page.locator("ol.hits mark").count() > 0
    quoted = page.locator("blockquote.passage").first.inner_text()
    page.screenshot(path=str(shots / "screenshot.png"))

    with page.expect_navigation():
        first.click()
    assert f"/sources/{LORENZO}?passage=" in page.url
    passage_id = page.url.split("#", 1)[1]
    current = page.locator("mark.passage.current")
    assert current.count() == 1
    assert current.get_attribute("id") == passage_id
    assert current.inner_text() == quoted  # the passage shown in the results, in place
    assert current.evaluate("el => el.matches(':target')")  # the anchor points at it
    box = current.bounding_box()
    assert box is not None and 0 <= box["y"] < DESKTOP["height"]  # scrolled into view
    background = current.evaluate("el => getComputedStyle(el).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")
    page.screenshot(path=str(shots / "screenshot-source.png"))
    print(f"screenshots in {shots}")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markup_in_the_question_shows_as_text(page, live_server, payload):
    ask(page, live_server, payload)
    assert page.dialogs == []
    assert page.get_by_label("Your question").input_value() == payload
    assert page.locator("#results-h q").inner_text() == payload
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 0
    assert payload in page.locator("main").inner_text()


def test_results_fit_a_phone_screen(browser, live_server, shots):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        p = context.new_page()
        ask(p, live_server, SEED_Q)
        overflow = p.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"page is {overflow}px wider than a {PHONE['width']}px screen"
        field, button = p.get_by_label("Your question").bounding_box(), p.locator("form button").bounding_box()
        assert field["width"] > PHONE["width"] * 0.8 and button["x"] + button["width"] <= PHONE["width"]
        p.screenshot(path=str(shots / "screenshot-phone.png"))
    finally:
        context.close()


def test_filter_page_and_open_a_source_by_its_title(page, live_archive, shots):
    page.goto(live_archive + "/")
    assert page.evaluate("document.activeElement.id") == "q"  # the empty home page focuses the box
    assert "14 articles" in page.locator("p.summary").inner_text()
    page.get_by_label("Your question").fill("harbour ferry")
    page.get_by_label("from").fill("2014-02-01")
    page.get_by_label("to").fill("2014-06-30")
    page.get_by_label("Passages").select_option("5")
    with page.expect_navigation():
        page.locator("form button").click()
    assert "date_from=2014-02-01" in page.url and "date_to=2014-06-30" in page.url
    titles = page.locator("a.source-link").all_inner_texts()
    assert len(titles) == 5 and all(t.startswith("Harbour story") for t in titles)
    dates = page.locator("ol.hits .date").all_inner_texts()
    assert all("2014-02-01" <= d <= "2014-06-30" for d in dates)
    with page.expect_navigation():
        page.get_by_role("link", name="next page").click()
    assert "offset=5" in page.url and "date_from=2014-02-01" in page.url
    second = page.locator("a.source-link").all_inner_texts()
    assert page.locator("ol.hits").get_attribute("start") == "6"
    assert len(second) == 4 and not set(second) & set(titles)  # 9 articles in range, one passage each
    title = second[0]
    page.screenshot(path=str(shots / "screenshot-filtered.png"))
    with page.expect_navigation():
        page.locator("a.source-link").first.click()
    assert page.locator("h1").inner_text() == title
    with page.expect_navigation():
        page.get_by_role("link", name="Back to the results").click()
    assert "offset=5" in page.url and page.locator("a.source-link").first.inner_text() == title
