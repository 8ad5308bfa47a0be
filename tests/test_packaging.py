"""A wheel is what `pip install crumbless` gets: it must carry every file the server reads at run time.

The development install is editable (scripts/setup-venv), which reads files from the checkout, so
a file missing from the package data would go unnoticed everywhere else.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_the_tracker_templates_and_static_files(tmp_path: Path) -> None:
    leftovers = ROOT / "build"
    had_leftovers = leftovers.exists()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    if not had_leftovers:
        shutil.rmtree(leftovers, ignore_errors=True)  # setuptools builds in the source tree
    (wheel,) = tmp_path.glob("crumbless-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert archive.read("collector/tracker.js") == (ROOT / "tracker.js").read_bytes()
    expected = {"collector/py.typed", "dashboard/openapi.json"}
    expected |= {f"dashboard/templates/{path.name}" for path in (ROOT / "dashboard/templates").glob("*.html")}
    expected |= {f"dashboard/static/{path.name}" for path in (ROOT / "dashboard/static").iterdir()}
    # The catalogs are compiled when the server starts (dashboard/i18n.py): the wheel carries them as text.
    expected |= {str(path.relative_to(ROOT)) for path in (ROOT / "dashboard/locale").rglob("*.po*")}
    assert expected <= names, sorted(expected - names)
