"""``campaign report`` in a real browser: Debian's Chromium, headless, driven
by playwright through ``executable_path`` (marked ``browser``).

The page must show every campaign, every edge and every count, log no
console error, throw nothing, and make no network request: every request
the page makes is recorded (and any that is not the page itself is
aborted). Skipped when Chromium is not installed, unless
CAMPAIGN_REQUIRE_BROWSER=1 (as .ci/run sets), when that is a failure.
A screenshot of each page is saved beside it (CAMPAIGN_REPORT_SCREENSHOTS=DIR
copies them there, to look at).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from campaignlang.check import check
from campaignlang.loader import load_paths
from campaignlang.report import edges_of
from test_report import EXPECTED_RUNS, LIFECYCLE, ROOT, full_args, make_report

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    required = os.environ.get("CAMPAIGN_REQUIRE_BROWSER") == "1"
    if not Path(CHROMIUM).exists():
        if required:
            pytest.fail(f"{CHROMIUM} is missing and CAMPAIGN_REQUIRE_BROWSER=1")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed (pip install 'campaignlang[browser]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()


class Visit:
    """One page load: the page, its console errors, its requests."""

    def __init__(self, browser: Any, path: Path, shot: Path):
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.context = browser.new_context(viewport={"width": 1300, "height": 900})
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        url = path.resolve().as_uri()

        def route(r: Any) -> None:
            self.requests.append(r.request.url)
            if r.request.url == url:
                r.continue_()
            else:
                r.abort()
        self.context.route("**/*", route)
        self.page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))
        self.page.goto(url, wait_until="load")
        self.page.screenshot(path=str(shot), full_page=True)
        keep = os.environ.get("CAMPAIGN_REPORT_SCREENSHOTS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(keep) / shot.name)
        self.url = url

    def close(self) -> None:
        self.context.close()


def _selector(attr: str, value: str) -> str:
    return f'[{attr}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"]'


def test_lifecycle_report_shows_every_campaign_edge_and_count(browser: Any, tmp_path: Path) -> None:
    make_report(tmp_path, *full_args(tmp_path))
    visit = Visit(browser, tmp_path / "site" / "index.html", tmp_path / "lifecycle.png")
    page = visit.page
    try:
        result = check(load_paths([LIFECYCLE]))
        for c in result.model.campaigns:
            node = page.locator("svg#callgraph g.node" + _selector("data-campaign", c.qualname))
            assert node.count() == 1 and node.is_visible(), c.qualname
            box = node.locator("rect").bounding_box()
            assert box and box["width"] > 100 and box["height"] > 30
            assert c.name in node.locator("text.name").text_content()
            n = EXPECTED_RUNS[c.qualname]
            assert node.locator("text.count").text_content() == f"{n} run{'s' if n != 1 else ''}"
            card = page.locator("section.campaign" + _selector("data-campaign", c.qualname))
            assert card.is_visible()
            assert f"{n} run{'s' if n != 1 else ''} in the scenario" in card.inner_text()
            # the canvas: every trigger, filter and step is drawn
            sl = c.smart_list
            assert card.locator("li.trigger").count() == (len(sl.triggers) if sl else 0)
            assert card.locator("li.filter").count() == (len(sl.filters) if sl else 0)
            assert card.locator("ol.steps > li").count() == len(c.steps)
        edges = edges_of(result)
        assert len(edges) == 4
        for caller, target, kind in edges:
            edge = page.locator("svg#callgraph g.edge" + _selector("data-from", caller)
                                + _selector("data-to", target) + _selector("data-kind", kind))
            assert edge.count() == 1, (caller, target, kind)
            path = edge.locator("path")
            box = path.bounding_box()
            assert box and box["width"] + box["height"] > 20
            dash = path.get_attribute("stroke-dasharray")
            assert (dash is not None) == (kind == "request")       # request dashed, execute solid
        # counts per step: the nurture's second email ran for ann and jo
        drip = page.locator("section.campaign" + _selector("data-campaign", '"Nurture"."Drip"'))
        steps = drip.locator("ol.steps > li")
        assert [steps.nth(i).locator(".badge.ran").inner_text() for i in range(4)] == ["2×"] * 4
        route = page.locator("section.campaign" + _selector("data-campaign", '"Ops Routing"."Route"'))
        first = route.locator("ol.steps > li").first.locator("li.branch")
        assert [first.nth(i).locator(".badge.ran").inner_text() for i in range(3)] == ["1×", "0×", "1×"]
        assert "not reached by tests" in first.nth(1).inner_text()
        assert "4 passed, 0 failed" in page.locator("table.summary").inner_text()
        # hovering a node highlights its edges (the inline script runs)
        page.locator("svg#callgraph g.node" + _selector("data-campaign", '"Ops Scoring"."Score"')).hover()
        assert page.locator("svg#callgraph g.edge.hl").count() == 2
        assert visit.errors == []
        assert visit.requests == [visit.url]
    finally:
        visit.close()


def test_depth_limit_and_cycle_in_the_browser(browser: Any, tmp_path: Path) -> None:
    make_report(tmp_path / "deep", path=ROOT / "tests/diagnostics/CL205-execute-too-deep.campaign")
    make_report(tmp_path / "loop", path=ROOT / "tests/diagnostics/CL206-execution-cycle.campaign")
    deep = Visit(browser, tmp_path / "deep" / "site" / "index.html", tmp_path / "deep.png")
    try:
        limit = deep.page.locator("svg#callgraph g.depth-limit")
        assert limit.is_visible() and "depth limit" in (limit.text_content() or "")
        assert deep.page.locator("g.edge.too-deep").count() == 1
        assert deep.page.locator("g.node.flagged").count() == 1
        assert deep.errors == [] and deep.requests == [deep.url]
    finally:
        deep.close()
    loop = Visit(browser, tmp_path / "loop" / "site" / "index.html", tmp_path / "loop.png")
    try:
        assert loop.page.locator("g.edge.cycle").count() == 3
        assert all(loop.page.locator("g.edge.cycle").nth(i).is_visible() for i in range(3))
        assert "execution cycle" in loop.page.locator("ul.diagnostics").inner_text()
        assert loop.errors == [] and loop.requests == [loop.url]
    finally:
        loop.close()
