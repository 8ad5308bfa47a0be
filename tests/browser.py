"""A real headless Chromium (Debian's package) driven by Playwright, for end-to-end tests.

Playwright is pointed at the system binary, so nothing is downloaded. Headless Chromium says
"HeadlessChrome" in its User-Agent, which Crumbless rightly drops as automation; pages that
should be counted get a context with an ordinary desktop Chrome User-Agent.

While it is open, Playwright's sync API keeps an event loop running in the main thread, which
makes any later ``asyncio.run`` fail; so a browser lives for one test module at most.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DESKTOP_CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is not installed; scripts/test installs it (Debian package: chromium)")
    return path


@contextmanager
def chromium(extra_args: Sequence[str] = (), **launch: Any) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=[*CHROMIUM_ARGS, *extra_args], **launch)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched
