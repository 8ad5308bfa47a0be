"""Labelled User-Agent corpora fetched at test time, for ``tests/test_bot_corpus.py``.

Matomo's device-detector fixtures are a second corpus independent of the shared one (isbot's): 1,341
bots and ~34,000 UAs of real browsers on every kind of device, each labelled with what sent it.  They
ship in the ``device_detector`` package's source distribution on PyPI, so ``pip download`` (with the
user's own pip settings) fetches it once into a cache outside the repository
(``$XDG_CACHE_HOME/crumbless-tests/corpora``, else ``~/.cache/…``); nothing of it is ever committed.
The version is pinned so the figures mean the same on every machine: 6.4.0 is the release the
issue's figures were measured on (its ``bots.yml`` has exactly 1,341 entries).  Bump it on purpose,
knowing that new strings will land in both shares.

Parsing the 17 MB of YAML takes ~10 s of CPU, so the labelled strings are kept beside the fixtures
as JSON, under a name that carries ``RULES`` (bump it when the labelling below changes).

Under CI (``CI`` set) a failed fetch fails the test; elsewhere it skips, saying why.

``isbot_verdicts`` runs isbot itself (``npm pack``, see ``tests/npm_packages.py``) on the same strings,
so the figures printed beside Crumbless's are measured, not quoted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tests.npm_packages import cache_dir as npm_cache_dir, fetched_archive, package_file, unavailable

DEVICE_DETECTOR = "6.4.0"
ISBOT = "isbot@5.2.3"  # the release issue 16 compares with
RULES = 1  # the labelling below; part of the cached file's name

# Every file is read, the apps' ones (feeds, podcasts, media players) too: the label decides, not the file.
FIXTURES = "device_detector/tests/fixtures/upstream/"


def cache_dir() -> Path:
    return npm_cache_dir().parent / "corpora"


@dataclass(frozen=True)
class Labelled:
    """A corpus split by label; each list is of distinct strings, sorted.

    ``browsers`` are the entries whose client is a browser (device-detector's ``client.type``).
    ``webviews`` are apps' entries (``mobile app``) that carry a browser engine's grammar: a page shown
    inside an app, a person's visit for Crumbless, but device-detector names the app, not a browser,
    so they are reported beside the browsers, not mixed into them.  Feed readers, libraries, media
    players, mail clients (``pim``) and apps without an engine are neither: they fetch, they do not
    show pages, and no label says whether they are bots.
    """

    bots: list[str]
    browsers: list[str]
    webviews: list[str]


def _has_engine(ua: str) -> bool:
    """The grammar of a page rendered by a browser engine, as an in-app web view sends it."""
    return ua.startswith("Mozilla/5.0 (") and ("AppleWebKit/" in ua or "Gecko/" in ua)


def label(entries: list[dict[str, Any]]) -> Labelled:
    """Every entry with a ``bot`` block is a bot (``bots.yml``, and two WebPageTest runs among the
    client-hints fixtures); a string labelled both ways stays a bot, since dropping it is then right."""
    bots: set[str] = set()
    browsers: set[str] = set()
    webviews: set[str] = set()
    for entry in entries:
        ua = str(entry.get("user_agent") or "")
        client = entry.get("client")
        kind = client.get("type") if isinstance(client, dict) else None
        if not ua:
            continue
        if entry.get("bot"):
            bots.add(ua)
        elif kind == "browser":
            browsers.add(ua)
        elif kind == "mobile app" and _has_engine(ua):
            webviews.add(ua)
    return Labelled(sorted(bots), sorted(browsers - bots), sorted(webviews - bots - browsers))


def _fetch_fixtures(target: Path) -> None:
    """``pip download`` the sdist into a scratch folder and keep only its YAML fixtures, moved into
    place whole so that an interrupted run leaves nothing half-extracted."""
    spec = f"device_detector=={DEVICE_DETECTOR}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        command = [sys.executable, "-m", "pip", "download", spec, "--no-deps", "--no-binary", ":all:", "-q", "-d", "."]
        sdist = fetched_archive(command, Path(scratch), "*.tar.gz", f"pip download {spec}")
        unpacked = Path(scratch) / "fixtures"
        unpacked.mkdir()
        with tarfile.open(sdist) as archive:
            for member in archive.getmembers():
                path = PurePosixPath(member.name)
                if member.isfile() and path.suffix == ".yml" and FIXTURES in member.name:
                    source = archive.extractfile(member)
                    assert source is not None
                    (unpacked / path.name).write_bytes(source.read())
        if not any(unpacked.glob("*.yml")):
            unavailable(f"{spec} has no {FIXTURES}*.yml: the package changed, update tests/corpora.py")
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)


def device_detector() -> Labelled:
    """The labelled device-detector corpus, fetched and parsed on first use."""
    import yaml

    folder = cache_dir() / f"device_detector-{DEVICE_DETECTOR}"
    labelled = folder / f"labelled-{RULES}.json"
    if labelled.is_file():
        return Labelled(**json.loads(labelled.read_text(encoding="utf-8")))
    fixtures = folder / "fixtures"
    if not (fixtures / "bots.yml").is_file():
        _fetch_fixtures(fixtures)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    entries: list[dict[str, Any]] = []
    for file in sorted(fixtures.glob("*.yml")):
        entries.extend(entry for entry in yaml.load(file.read_text(encoding="utf-8"), Loader=loader) or [])
    corpus = label(entries)
    scratch = labelled.with_suffix(".tmp")
    scratch.write_text(json.dumps(asdict(corpus)), encoding="utf-8")
    scratch.replace(labelled)
    return corpus


def isbot_verdicts(uas: list[str]) -> list[bool]:
    """isbot's verdict on each string, by its own code run in Node."""
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed (Debian package: nodejs), so isbot cannot run")
    script = (
        "const {isbot} = require(process.argv[1]);"
        "const uas = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(uas.map((ua) => isbot(ua))));"
    )
    done = subprocess.run(
        [node, "-e", script, str(package_file(ISBOT, "index.js"))],
        input=json.dumps(uas), capture_output=True, text=True, timeout=300,
    )
    if done.returncode != 0:
        unavailable(f"isbot failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    verdicts: list[bool] = json.loads(done.stdout)
    return verdicts
