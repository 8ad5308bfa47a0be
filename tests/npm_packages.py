"""Other projects' published code, fetched with ``npm pack`` for the tests that run it unchanged: Umami's
and Plausible's trackers, and axe-core, the accessibility engine the dashboard's pages are checked with.

Their code is never kept in the repository: each package is packed once into a cache directory
outside it (``$XDG_CACHE_HOME/crumbless-tests/npm``, else ``~/.cache/…``) and unpacked there.
Versions are pinned so that a test run means the same thing on every machine; bump them on
purpose. Under CI (``CI`` set) a missing npm or an unreachable package fails the test run: a
compatibility test that quietly skips would prove nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest

UMAMI = "umami@2.10.0"  # the newest Umami on npm; its tracker ships as source in src/tracker/index.js
PLAUSIBLE = "@plausible-analytics/tracker@0.4.6"
AXE = "axe-core@4.14.1"  # its axe.min.js runs inside each dashboard page (tests/test_accessibility.py)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "crumbless-tests" / "npm"


def unavailable(message: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def fetched_archive(command: list[str], scratch: Path, pattern: str, what: str) -> Path:
    """Run a package client's fetch in ``scratch`` and return the one archive it left there (also used
    by ``tests/corpora.py``); a failure is ``unavailable``."""
    try:
        done = subprocess.run(command, cwd=scratch, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        unavailable(f"`{what}` did not finish within 300 s")
    archives = list(scratch.glob(pattern))
    if done.returncode != 0 or len(archives) != 1:
        unavailable(f"`{what}` failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return archives[0]


def package_dir(spec: str) -> Path:
    """``npm pack SPEC`` unpacked (its ``package/`` folder), from the cache when it is there."""
    target = cache_dir() / spec.replace("/", "__")
    if (target / "package" / "package.json").is_file():
        return target / "package"
    npm = shutil.which("npm")
    if npm is None:
        unavailable(f"npm is not installed (Debian package: npm), so {spec} cannot be fetched")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        archive_path = fetched_archive([str(npm), "pack", spec, "--silent"], Path(scratch), "*.tgz", f"npm pack {spec}")
        unpacked = Path(scratch) / "unpacked"
        with tarfile.open(archive_path) as archive:
            archive.extractall(unpacked, filter="data")
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)  # whole or not at all, so an interrupted run leaves no half package
    return target / "package"


def package_file(spec: str, path: str) -> Path:
    file = package_dir(spec) / path
    if not file.is_file():
        unavailable(f"{spec} has no {path}: the package changed, update tests/npm_packages.py")
    return file
