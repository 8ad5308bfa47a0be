"""The dashboard on a phone (390 CSS pixels wide, an iPhone's), in a real Chromium against a real server.

What a new user met: the sites table ran off its card and the screen; a full list cut its
Pageviews column mid-number and hid time on page and scroll depth behind a sideways scroller
nobody could see; the range controls took three rows, so the first figure sat ~430 px down. Here
every page is measured: nothing wider than the screen, nothing hidden in a sideways scroller,
every column of a full list readable, and the first figure near the top.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import DESKTOP_CHROME, browser  # noqa: F401  (the fixture)
from tests.dashboard_pages import ADMIN, Pages, log_in, running_pages

PHONE = {"width": 390, "height": 844}
FIRST_FIGURE_WITHIN = 330  # CSS pixels from the top of the page to the first metric card's value

# Boxes that reach past the screen's edges or out of their card, and boxes whose content is wider than
# they are and scrolls sideways (or is cut) where no one sees it. Text cut with an ellipsis on purpose
# (top-list labels) is not counted; a visually hidden element is 1 px and never reaches an edge.
OVERFLOWS = """() => {
  const width = document.documentElement.clientWidth;
  const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  const found = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1 || el.closest('.skip')) continue;
    const style = getComputedStyle(el);
    if (box.right > width + 0.5 || box.left < -0.5)
      found.push(`${describe(el)} spans ${Math.round(box.left)}..${Math.round(box.right)}`);
    const card = el.parentElement && el.parentElement.closest('.card');
    const past = card ? box.right - card.getBoundingClientRect().right : 0;
    if (past > 0.5) found.push(`${describe(el)} runs out of its card by ${Math.round(past)}px`);
    const clips = ['auto', 'scroll', 'hidden', 'clip'].includes(style.overflowX);
    const sideways = clips && style.textOverflow !== 'ellipsis';
    if (sideways && el.scrollWidth > el.clientWidth + 1)
      found.push(`${describe(el)} hides ${el.scrollWidth - el.clientWidth}px sideways`);
  }
  return found.slice(0, 12);
}"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, geo_db: Path) -> Iterator[Pages]:
    with running_pages(tmp_path_factory.mktemp("phone"), geo_db) as running:
        yield running


@pytest.fixture
def phone(browser: Any, pages: Pages) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(
        user_agent=DESKTOP_CHROME, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def log_in_in_any_language(page: Any, pages: Pages) -> None:
    """``log_in`` finds the fields by their English labels; this one by their ids."""
    page.goto(pages.url("/login"))
    page.fill("#name", ADMIN[0])
    page.fill("#password", ADMIN[1])
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.mark.parametrize("scheme, language", [("light", "en"), ("dark", "en"), ("light", "es"), ("dark", "es")])
def test_no_page_is_wider_than_a_phone(browser: Any, pages: Pages, scheme: str, language: str) -> None:  # noqa: F811
    context = browser.new_context(
        user_agent=DESKTOP_CHROME, viewport=PHONE, is_mobile=True, color_scheme=scheme, locale=language
    )
    page = context.new_page()
    found: dict[str, list[str]] = {}
    try:
        for name, path in pages.public().items():
            page.goto(pages.url(path))
            assert page.locator("html").get_attribute("lang") == language
            found[name] = page.evaluate(OVERFLOWS)
        log_in_in_any_language(page, pages)
        for name, path in pages.logged_in().items():
            page.goto(pages.url(path))
            found[name] = page.evaluate(OVERFLOWS)
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
    finally:
        context.close()
    assert {name: f for name, f in found.items() if f} == {}


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_full_list_shows_every_column_whole(browser: Any, pages: Pages, language: str) -> None:  # noqa: F811
    context = browser.new_context(
        user_agent=DESKTOP_CHROME, viewport=PHONE, device_scale_factor=2, is_mobile=True, locale=language
    )
    try:
        _every_column_whole(context.new_page(), pages)
    finally:
        context.close()


def _every_column_whole(phone: Any, pages: Pages) -> None:
    log_in_in_any_language(phone, pages)
    for path, columns in ((pages.logged_in()["list"], 4), (pages.logged_in()["list-sources"], 4)):
        phone.goto(pages.url(path))
        cells = phone.evaluate(
            """() => [...document.querySelectorAll('.toplist.full tbody tr')].slice(0, 8).map(row =>
                 [...row.querySelectorAll('td.num')].map(td => {
                   const box = td.getBoundingClientRect();
                   const cut = td.scrollWidth > td.clientWidth + 1;
                   return {text: td.innerText, left: box.left, right: box.right, cut: cut, hidden: box.width === 0};
                 }))"""
        )
        assert cells, path
        for row in cells:
            assert len(row) == columns, path
            for cell in row:
                assert not cell["cut"] and not cell["hidden"], (path, cell)
                assert cell["left"] >= 0 and cell["right"] <= PHONE["width"], (path, cell)
        # each figure is named on the phone, where the header row is out of sight
        assert (
            phone.locator(".toplist.full td.num").first.evaluate("td => getComputedStyle(td, '::before').content")
            != "none"
        )


ONE_ROW = 48  # CSS pixels: the menu, its button and the custom-range pill side by side


def range_controls_height(page: Any) -> float:
    """From the top of the highest range control shown to the bottom of the lowest."""
    return float(
        page.evaluate(
            "(() => { const shown = '.periods a, .periods select, .period-select button, .periods summary';"
            " const boxes = [...document.querySelectorAll(shown)]"
            ".filter(el => el.getClientRects().length).map(el => el.getBoundingClientRect());"
            " return Math.max(...boxes.map(b => b.bottom)) - Math.min(...boxes.map(b => b.top)); })()"
        )
    )


def test_the_first_figure_is_near_the_top(phone: Any, pages: Pages) -> None:
    log_in(phone, pages)
    for name in ("overview", "overview-today"):
        phone.goto(pages.url(pages.logged_in()[name]))
        top = phone.locator(".metric").first.bounding_box()
        assert top is not None
        assert top["y"] + top["height"] <= FIRST_FIGURE_WITHIN, (
            f"{name}: first figure ends {top['y'] + top['height']:.0f} px down"
        )
        tall = range_controls_height(phone)
        assert tall <= ONE_ROW, f"{name}: the range controls take {tall:.0f} px, more than one row"
    # a range is chosen from the menu without a pointer
    phone.select_option("#period-select", "7d")
    phone.get_by_role("button", name="Show").click()
    phone.wait_for_url("**period=7d**")
    assert phone.locator("#period-select").input_value() == "7d"
    # the custom range opens in place and keeps both dates on the screen
    phone.locator(".custom-range summary").click()
    for field in ("#range-from", "#range-to"):
        box = phone.locator(field).bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"]


def test_code_reads_at_a_normal_size(phone: Any, pages: Pages, browser: Any) -> None:  # noqa: F811
    log_in(phone, pages)
    for path in (pages.logged_in()["overview-empty"], pages.logged_in()["settings"]):
        phone.goto(pages.url(path))
        size = phone.locator(".snippet code").first.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
        assert size >= 13, f"{path}: the snippet is set in {size}px"


def test_the_range_controls_are_one_row_in_spanish_too(browser: Any, pages: Pages) -> None:  # noqa: F811
    """Spanish words are longer: "Periodo personalizado" pushed the custom-range pill onto a second row."""
    context = browser.new_context(
        user_agent=DESKTOP_CHROME, viewport=PHONE, device_scale_factor=2, is_mobile=True, locale="es-ES"
    )
    page = context.new_page()
    try:
        page.goto(pages.url(pages.public()["share"]))
        assert page.locator("html").get_attribute("lang") == "es"
        heights = {"share": range_controls_height(page)}
        log_in_in_any_language(page, pages)
        for name in ("overview", "overview-today", "overview-empty", "list"):
            page.goto(pages.url(pages.logged_in()[name]))
            heights[name] = range_controls_height(page)
        assert page.locator(".custom-range summary").inner_text().strip() == "Personalizado"
    finally:
        context.close()
    assert {name: round(h) for name, h in heights.items() if h > ONE_ROW} == {}
