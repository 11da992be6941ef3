"""The dashboard's pages over HTTP: what they show of the example company, and what never.

(tests/dashboard/test_browser.py looks at the same pages in Chromium.)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.publish import current
from okrsync.publish.dashboard import pages
from okrsync.store.database import Store
from tests.dashboard.conftest import Site


class Links(HTMLParser):
    """Every href/src/action, and the text of each element with a class."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action") and value is not None:
                self.targets.append(value)


def get(site: Site, path: str) -> httpx.Response:
    return httpx.get(site.url + path, timeout=30)


def test_the_tree_shows_every_objective_and_key_result(site: Site) -> None:
    page = get(site, "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    for objective in site.config.objectives:
        assert f'id="o-{objective.id}"' in html
    for kr_id, entry in site.config.krs.items():
        assert f'href="/kr/{kr_id}"' in html
        assert entry.kr.title.replace("&", "&amp;") in html
    assert "on track" in html
    assert "off track" in html
    assert "held for review" in html  # the demo's staged trouble, with its reason
    assert "PERMISSION_DENIED" in html


def test_a_page_needs_nothing_from_elsewhere(site: Site) -> None:
    for path in ("/", "/kr/annual-revenue"):
        response = get(site, path)
        parser = Links()
        parser.feed(response.text)
        assert parser.targets
        assert all(t.startswith(("/", "#")) for t in parser.targets), parser.targets
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src" not in policy  # no script at all
        assert "<script" not in response.text
    css = get(site, "/static/dashboard.css")
    assert css.headers["content-type"].startswith("text/css")
    assert "prefers-color-scheme: dark" in css.text
    assert "url(" not in css.text  # no fonts or images fetched


def test_filters_narrow_the_tree_and_a_link_keeps_them(site: Site) -> None:
    everything = get(site, "/").text
    product = get(site, "/?team=product").text
    assert '<option value="product" selected>' in product
    product_krs = set(re.findall(r'href="/kr/([^"]+)"', product))
    all_krs = set(re.findall(r'href="/kr/([^"]+)"', everything))
    assert product_krs
    assert product_krs < all_krs
    teams = {e.kr.id: e.objective.team for e in site.config.krs.values()}
    assert {teams[k] for k in product_krs} == {"product"}
    off = get(site, "/?status=off_track").text
    off_krs = set(re.findall(r'href="/kr/([^"]+)"', off))
    assert off_krs
    assert 'class="status s-off_track">off track' in off
    assert all(f'href="/kr/{k}"' not in off for k in all_krs - off_krs)
    nobody = get(site, "/?owner=nobody@example.com")
    assert "No objective or key result matches these filters." in nobody.text


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("status=nope", "status must be one of"),
        ("level=galaxy", "level must be"),
        ("page=-1", "page must be"),
    ],
)
def test_a_bad_filter_is_a_400_that_says_why(site: Site, query: str, says: str) -> None:
    page = get(site, f"/?{query}")
    assert page.status_code == 400
    assert says in page.text


def test_a_key_result_page_shows_its_chart_and_provenance(site: Site) -> None:
    page = get(site, "/kr/annual-revenue")
    assert page.status_code == 200
    html = page.text
    assert '<svg class="chart"' in html
    assert 'class="target"' in html
    assert 'class="expected"' in html
    assert html.count('class="point"') >= 1
    assert "Where the number comes from" in html
    assert "warehouse (sql), a built-in simulator" in html
    assert "SELECT ROUND(SUM(arr), 2)" in html  # the rendered query
    assert "company.yaml" in html
    assert str(site.config.directory.resolve()) not in html  # no server paths
    assert "held for review" in html


def test_an_unknown_key_result_is_a_404_page(site: Site) -> None:
    page = get(site, "/kr/no-such-kr")
    assert page.status_code == 404
    assert "no key result &#39;no-such-kr&#39;" in page.text


def test_no_page_shows_a_secret(site: Site) -> None:
    assert site.secrets  # the demo's connections do hold secrets
    shown = "".join(
        get(site, path).text
        for path in ["/", "/api/status", "/metrics", *(f"/kr/{k}" for k in site.config.krs)]
    )
    assert [s for s in site.secrets if s in shown] == []


def write_org(directory: Path, objectives: int, per: int, title: str = "KR") -> loader.Config:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "connections.yaml").write_text("version: 1\nconnections: {}\n")
    lines = ["version: 1", "cycle: 2026-Q4", "objectives:"]
    for o in range(objectives):
        lines += [f"  - id: o{o}", f"    title: Objective {o}", "    owner: a@example.com",
                  "    key_results:"]  # fmt: skip
        for k in range(per):
            lines += [f"      - id: o{o}-k{k}", f'        title: "{title} {o}.{k}"',
                      "        owner: a@example.com", "        start: 0", "        target: 10",
                      "        source: {manual: true}"]  # fmt: skip
    (directory / "okrs.yaml").write_text("\n".join(lines) + "\n")
    return loader.load(directory, Registry.default(), secrets="skip")


def test_titles_are_text_never_markup(tmp_path: Path) -> None:
    config = write_org(tmp_path / "m", 1, 1, title="<script>alert(1)</script> & <b>")
    now = datetime(2026, 11, 15, tzinfo=UTC)
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as st:
        html = pages.tree_page(current.views(config, st, now), now, pages.Query(), None)
    assert "<script>" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in html


def test_a_large_organisation_is_paged_by_whole_top_objectives(tmp_path: Path) -> None:
    config = write_org(tmp_path / "m", 130, 5)  # 650 key results
    now = datetime(2026, 11, 15, tzinfo=UTC)
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as st:
        views = current.views(config, st, now)
    first = pages.tree_page(views, now, pages.Query(), None)
    second = pages.tree_page(views, now, pages.Query(page=2), None)
    on_first = set(re.findall(r'href="/kr/([^"]+)"', first))
    on_second = set(re.findall(r'href="/kr/([^"]+)"', second))
    assert len(on_first) == pages.PAGE_KRS
    assert len(on_first) + len(on_second) == 650
    assert not on_first & on_second
    assert "page 1 of 2" in first
    assert 'rel="next" href="/?page=2"' in first
    assert 'rel="prev" href="/"' in second
    assert "<details open>" in first  # top objectives open
    filtered = pages.tree_page(views, now, pages.Query(owner="a@example.com", page=2), None)
    assert 'rel="prev" href="/?owner=a%40example.com"' in filtered  # the filter stays
