"""A real headless Chromium (Debian's package) driven by Playwright, for end-to-end tests.

Playwright is pointed at the system binary, so nothing is downloaded. Headless Chromium says
"HeadlessChrome" in its User-Agent, which Crumbless rightly drops as automation; pages that
should be counted get a context with an ordinary desktop Chrome User-Agent.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DESKTOP_CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is not installed; scripts/test installs it (Debian package: chromium)")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator["object"]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
