"""The ``crumbless`` command as an operator uses it: clear one-line errors, scriptable output."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
import sys
from pathlib import Path

import pytest

from collector.cli import main
from collector.config import OPTIONS
from tests.conftest import Server
from tests.support import plausible


@pytest.fixture
def env(tmp_path: Path, geo_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for option in OPTIONS:
        monkeypatch.delenv(option.name, raising=False)
    monkeypatch.setenv("CRUMBLESS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRUMBLESS_GEO_DB", str(geo_db))
    return tmp_path / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_creates_admin_once_and_a_demo_site(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "init")
    assert code == 0
    assert "user admin, password " in out and "shown only once" in out
    assert "demo site" in out
    code, out, _ = run(capsys, "init")
    assert code == 0 and "password" not in out and "demo" not in out
    code, out, _ = run(capsys, "site", "list")
    assert "example.com" in out


def test_init_uses_the_configured_admin_password(env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRUMBLESS_ADMIN_PASSWORD", "correct horse battery")
    code, out, _ = run(capsys, "init")
    assert code == 0 and "CRUMBLESS_ADMIN_PASSWORD" in out and "correct horse battery" not in out


def test_site_add_prints_id_and_snippet(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "site", "add", "Blog.Example.ORG", "--timezone", "Europe/Berlin", "--name", "Blog")
    assert code == 0
    assert "site blog.example.org added, id " in out
    assert '<script defer src="http://127.0.0.1:8000/js/site.js" data-website-id="' in out
    code, out, _ = run(capsys, "site", "list")
    assert "blog.example.org" in out and "Europe/Berlin" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["site", "add", "example.com", "--timezone", "Mars/Olympus"], "is not an IANA time zone"),
        (["site", "add", "https://example.com/x"], "is not a domain name"),
        (["stats", "nope.example"], "no site 'nope.example'"),
        (["stats", "example.com", "--from", "yesterday"], "--from must be a date"),
        (["stats", "example.com", "--from", "2026-02-02", "--to", "2026-02-01"], "--from must not be after --to"),
    ],
)
def test_operator_mistakes_are_one_line_errors(env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    run(capsys, "site", "add", "example.com")
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_serve_with_workers_needs_redis_and_says_so(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Workers with visitor state in their own memory would count a visitor once per worker."""
    code, _, err = run(capsys, "serve", "--workers", "3")
    assert code == 2
    assert "--workers needs CRUMBLESS_REDIS_URL" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as refused:
        main(["serve", "--workers", "0"])
    assert refused.value.code == 2 and "--workers: the option must be a whole number from 1 to 64" in capsys.readouterr().err


def test_duplicate_site_and_user_are_one_line_errors(env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    run(capsys, "site", "add", "example.com")
    code, _, err = run(capsys, "site", "add", "example.com")
    assert code == 1 and "already exists" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\n"))
    code, out, _ = run(capsys, "user", "add", "ada", "--password-stdin")
    assert code == 0 and "user ada added as viewer" in out and "password" not in out
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    code, _, err = run(capsys, "user", "add", "bob", "--password-stdin")
    assert code == 1 and "at least" in err


def test_unknown_setting_is_reported(env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRUMBLESS_FLUSH_INTERVALL", "3")
    code, _, err = run(capsys, "site", "list")
    assert code == 1 and "CRUMBLESS_FLUSH_INTERVALL" in err


def test_stats_json_matches_what_was_counted(server: Server, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRUMBLESS_DATA_DIR", str(server.settings.data_dir))
    for i, peer in enumerate(["192.0.2.1", "192.0.2.1", "198.51.100.1"]):
        server.post("/api/event", plausible("example.com", f"https://example.com/p{i % 2}", r="https://www.bing.com/"), peer=peer)
    server.post("/api/event", plausible("example.com", "https://example.com/p0", name="Signup", p={"plan": "pro"}), peer="198.51.100.1")
    server.flush()
    day = datetime.fromtimestamp(server.clock.now, timezone.utc).date().isoformat()
    code, out, _ = run(capsys, "stats", server.site.website_id, "--from", day, "--to", day, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["totals"]["visitors"] == 2
    assert result["totals"]["pageviews"] == 3
    assert result["totals"]["visits"] == 2
    assert result["totals"]["bounce_rate"] == 0.0
    assert result["totals"]["events"] == 1
    assert result["top"]["source"] == [{"value": "Bing", "visitors": 2, "visits": 2, "pageviews": 3, "bounce_rate": 0.0}]
    assert [r["value"] for r in result["top"]["page"]] == ["/p0", "/p1"]
    assert result["top"]["country"][0]["value"] in ("DE", "FR")
    assert result["top"]["event_prop"][0]["value"] == "Signup: plan = pro"
    code, text, _ = run(capsys, "stats", "example.com", "--from", day, "--to", day)
    assert code == 0 and "visitors 2" in text and "Bing" in text


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [o.name for o in OPTIONS if f"`{o.name}`" not in readme]
    assert not missing, f"README.md lacks {missing}"
    assert readme.index("scripts/run") < readme.index("scripts/test") < readme.index("CRUMBLESS_")
