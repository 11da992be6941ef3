"""The dashboard in a real headless Chromium (Debian's package), driven by Playwright.

Never a downloaded browser: Playwright launches ``/usr/bin/chromium`` (or
``$OKRSYNC_TEST_CHROMIUM``). axe-core and the Nu HTML validator come from npm
(tests/dashboard/package.json; ``npm ci --prefix tests/dashboard``), the
validator run with the machine's Java. Screenshots go to
``test-output/dashboard/`` beside the test log. Without Chromium, Java or the
npm packages these tests skip, unless ``OKRSYNC_TEST_REQUIRE_BROWSER=1`` (CI)
makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dashboard.conftest import Site

HERE = Path(__file__).parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
VNU = HERE / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
SHOTS = HERE.parents[1] / "test-output" / "dashboard"
CHROMIUM = os.environ.get("OKRSYNC_TEST_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("OKRSYNC_TEST_REQUIRE_BROWSER") == "1"
PHONE = {"width": 390, "height": 844}


def missing(what: str) -> None:
    if REQUIRED:
        pytest.fail(f"{what} (OKRSYNC_TEST_REQUIRE_BROWSER=1)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def shot(tab: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    return path


def kr_links(tab: Any) -> list[str]:
    hrefs: list[str] = tab.eval_on_selector_all(
        "a.name", "els => els.map(e => e.getAttribute('href'))"
    )
    return hrefs


def test_the_example_company_loads(site: Site, page: Any) -> None:
    page.goto(site.url + "/")
    assert page.title() == "OKRs 2026-Q4"
    assert page.locator("li.objective").count() == len(site.config.objectives)
    assert len(kr_links(page)) == len(site.config.krs)
    assert page.locator("li.objective > details[open]").count() == len(site.config.objectives)
    assert page.get_by_text("held for review", exact=False).first.is_visible()
    shot(page, "tree-light")
    page.emulate_media(color_scheme="dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"  # the dark palette applies
    shot(page, "tree-dark")


def test_a_phone_sees_the_whole_width(site: Site, chromium: Any) -> None:
    context = chromium.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    tab = context.new_page()
    try:
        for path, name in (("/", "tree-phone"), ("/kr/annual-revenue", "kr-phone")):
            tab.goto(site.url + path)
            overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
            shot(tab, name)
    finally:
        context.close()


def test_a_filter_narrows_the_tree_and_the_link_shares_it(site: Site, page: Any) -> None:
    page.goto(site.url + "/")
    everything = set(kr_links(page))
    page.select_option("#f-team", "product")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"team=product"))
    narrowed = set(kr_links(page))
    product = {f"/kr/{k}" for k, e in site.config.krs.items() if e.objective.team == "product"}
    assert narrowed == product
    assert narrowed < everything
    shared = page.url
    page.goto(site.url + "/")
    page.goto(shared)  # the address alone gives the same view
    assert set(kr_links(page)) == product
    assert page.locator("#f-team").input_value() == "product"
    shot(page, "tree-filtered")


def test_a_key_result_page_shows_its_chart_and_provenance(site: Site, page: Any) -> None:
    page.goto(site.url + "/")
    page.locator('a.name[href="/kr/annual-revenue"]').click()
    page.wait_for_url(re.compile(r"/kr/annual-revenue$"))
    chart = page.locator("svg.chart")
    box = chart.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 100
    assert page.locator("svg.chart circle.point").count() >= 1
    assert (page.locator("svg.chart title").text_content() or "").startswith("Grow annual revenue")
    assert page.get_by_role("heading", name="Where the number comes from").is_visible()
    assert "warehouse (sql)" in page.locator("dl.explain").inner_text()
    shot(page, "kr-light")
    page.emulate_media(color_scheme="dark")
    shot(page, "kr-dark")


def test_the_tree_can_be_walked_with_the_keyboard(site: Site, page: Any) -> None:
    page.goto(site.url + "/")
    seen: list[str] = []
    for _ in range(60):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(
            "(() => { const e = document.activeElement;"
            " return e.tagName + ' ' + (e.getAttribute('href') || e.id || e.textContent.trim().slice(0, 40)); })()"
        ))  # fmt: skip
    assert seen[0].startswith("A #main")  # the skip link first
    assert any(s.startswith("SELECT f-team") for s in seen)
    summaries = [s for s in seen if s.startswith("SUMMARY")]
    links = [s for s in seen if s.startswith("A /kr/")]
    assert len(summaries) >= 3
    assert len(links) >= 5
    # Enter on an objective folds it; its key results leave the tab order; Enter opens it again.
    page.focus("li.objective summary")
    page.keyboard.press("Enter")
    assert page.locator("li.objective > details").first.get_attribute("open") is None
    page.keyboard.press("Enter")
    assert page.locator("li.objective > details").first.get_attribute("open") == ""
    page.focus('a.name[href="/kr/annual-revenue"]')
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/kr/annual-revenue$"))


def axe(tab: Any) -> list[dict[str, Any]]:
    if not AXE.exists():
        missing(f"no {AXE.relative_to(HERE.parents[1])} (npm ci --prefix tests/dashboard)")
    tab.add_script_tag(path=str(AXE))
    result: dict[str, Any] = tab.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(
    "path", ["/", "/?status=off_track", "/kr/annual-revenue", "/kr/time-on-site"]
)
def test_axe_finds_no_serious_violation(site: Site, page: Any, path: str, scheme: str) -> None:
    page.emulate_media(color_scheme=scheme)
    page.goto(site.url + path)
    violations = axe(page)
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert serious == [], json.dumps(violations, indent=1)


def test_the_html_validates(site: Site, tmp_path: Path) -> None:
    java = shutil.which("java")
    if java is None:
        missing("no java for the Nu HTML validator")
    if not VNU.exists():
        missing(f"no {VNU.relative_to(HERE.parents[1])} (npm ci --prefix tests/dashboard)")
    files = []
    for name, path in [("tree", "/"), ("filtered", "/?team=product"), ("kr", "/kr/annual-revenue"),
                       ("manual", "/kr/customer-nps"), ("missing", "/kr/nope")]:  # fmt: skip
        html = httpx.get(site.url + path, headers={"Accept": "text/html"}, timeout=30).text
        file = tmp_path / f"{name}.html"
        file.write_text(html)
        files.append(str(file))
    done = subprocess.run(
        [java, "-jar", str(VNU), "--format", "json", "--also-check-svg", *files],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    messages = json.loads(done.stderr or '{"messages": []}')["messages"]
    problems = [m for m in messages if m.get("type") == "error" or m.get("subType") == "warning"]
    assert problems == [], json.dumps(problems, indent=1)
