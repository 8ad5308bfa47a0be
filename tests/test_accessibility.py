"""Every dashboard page passes axe-core at WCAG 2.1 AA, in light and dark, and the overview works by keyboard.

axe-core is the engine browsers' own accessibility tools run; it is fetched from npm at a pinned
version (``tests/npm_packages.py``) and evaluated inside the page in a real Chromium, against the
real server's pages with their strict Content-Security-Policy in force. The theme follows the
browser's ``prefers-color-scheme``, so each page is checked with both emulated.

Keyboard: a person without a mouse must reach every control of the overview with Tab alone and
see where the focus is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import DESKTOP_CHROME, browser  # noqa: F401  (the fixture)
from tests.dashboard_pages import Pages, log_in, running_pages
from tests.npm_packages import AXE, package_file

WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, geo_db: Path) -> Iterator[Pages]:
    with running_pages(tmp_path_factory.mktemp("a11y"), geo_db) as running:
        yield running


@pytest.fixture(scope="module")
def axe_source() -> str:
    return package_file(AXE, "axe.min.js").read_text()


def violations(page: Any, axe_source: str) -> list[str]:
    """axe's findings on the page as shown, one line each (rule, impact, the first few elements)."""
    page.evaluate(axe_source)  # evaluated by the browser's debugger protocol: the page's CSP still holds for itself
    found = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' — '"
        " + n.failureSummary.split('\\n').slice(1, 3).join(' '))})))",
        WCAG_AA,
    )
    return [f"{v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in found]


def _open_details(page: Any) -> None:
    """Disclosures open too, so what they hide is checked as well."""
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")


@pytest.mark.parametrize("width", [1280, 390])  # a phone has a layout of its own: a range menu, stacked lists
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_has_no_wcag_aa_violations(
    browser: Any,  # noqa: F811
    pages: Pages,
    axe_source: str,
    scheme: str,
    width: int,
) -> None:
    viewport = {"width": width, "height": 900}
    context = browser.new_context(user_agent=DESKTOP_CHROME, color_scheme=scheme, viewport=viewport)
    page = context.new_page()
    found: dict[str, list[str]] = {}
    try:
        for name, path in pages.public().items():
            page.goto(pages.url(path))
            _open_details(page)
            found[name] = violations(page, axe_source)
        log_in(page, pages)
        for name, path in pages.logged_in().items():
            response = page.goto(pages.url(path))
            assert response is not None and response.status == 200, name
            _open_details(page)
            found[name] = violations(page, axe_source)
    finally:
        context.close()
    assert set(found) >= {
        "login",
        "sites",
        "overview",
        "overview-empty",
        "overview-filtered",
        "list",
        "settings",
        "users",
        "account",
        "share",
    }
    failing = {name: v for name, v in found.items() if v}
    assert not failing, json.dumps(failing, indent=1, ensure_ascii=False)


# One name per control: its tag, id, link target and first words.
KEY = """el => [el.tagName.toLowerCase(), el.id || '', el.getAttribute('href') || '',
  el.textContent.trim().slice(0, 60)].join('|')"""

# The element that has the focus, described, with whether the focus can be seen on it.
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const ring = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  return {key: (KEY)(el),
          tag: el.tagName.toLowerCase(), text: el.textContent.trim(), href: el.getAttribute('href') || '', id: el.id,
          ring: ring, inMain: !!el.closest('main')};
}""".replace("KEY", KEY)

# Everything in the overview's main part one can act on, described as FOCUSED describes it.
CONTROLS = "a[href], button, input:not([type=hidden]), select, summary, [tabindex]"
FOCUSABLE = f"""() => [...document.querySelector('main').querySelectorAll('{CONTROLS}')]
  .filter(el => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden')
  .map({KEY})"""


def test_the_overview_works_by_keyboard_alone(browser: Any, pages: Pages) -> None:  # noqa: F811
    context = browser.new_context(user_agent=DESKTOP_CHROME, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        log_in(page, pages)
        page.goto(pages.url(pages.logged_in()["overview"]))
        reached: dict[str, dict[str, Any]] = {}
        opened: set[str] = set()
        first = ""
        for _ in range(600):  # a date field takes one Tab per part (month, day, year)
            page.keyboard.press("Tab")
            focused = page.evaluate(FOCUSED)
            if focused is None:
                continue
            if focused["key"] == first:
                break  # round the page once
            first = first or focused["key"]
            reached[focused["key"]] = focused
            if focused["tag"] == "summary" and focused["key"] not in opened:
                opened.add(focused["key"])
                page.keyboard.press("Enter")  # open the custom range and the chart's table, by keyboard
        # Having opened the disclosures, everything they show was reached as well.
        everything = page.evaluate(FOCUSABLE)
    finally:
        context.close()
    missed = [key for key in everything if key not in reached]
    assert not missed, missed
    texts = [f["text"] for f in reached.values()]
    hrefs = [f["href"] for f in reached.values()]
    for label in ("Today", "Yesterday", "Last 7 days", "Last 30 days", "This month", "Last month", "This year"):
        assert label in texts, label
    assert {"range-from", "range-to"} <= {f["id"] for f in reached.values()}
    assert any(f["tag"] == "summary" and "table" in f["text"] for f in reached.values())  # the chart's numbers
    assert any(
        f["tag"] == "div" and f["text"].startswith(("Day", "Hour")) for f in reached.values()
    )  # its table, scrollable by keys
    for dim in ("page", "source", "country", "browser", "event_prop"):
        assert any(f"/list/{dim}?" in h for h in hrefs) and any(f"/export/{dim}.csv" in h for h in hrefs), dim
    assert any("filter=source%3A" in h for h in hrefs) and any("filter=page%3A" in h for h in hrefs)  # values filter
    unseen = [key for key, f in reached.items() if not f["ring"]]
    assert not unseen, f"focus is not visible on {unseen}"
