"""The installed ``crumbless`` command run as an operator runs it: a separate process, its own stdout and stderr.

Sites, users, passwords, snippets and annotations, with the headers and one-line messages the
README promises, and no traceback when whoever reads the output goes away (``| head``, ``| true``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from collector.config import load
from collector.store import opened_store
from dashboard.passwords import verify_password
from tests.live_server import crumbless_command, crumbless_env, run_cli


@pytest.fixture
def env(tmp_path: Path, geo_db: Path) -> dict[str, str]:
    return crumbless_env(tmp_path / "data", geo_db)


def crumbless(env: dict[str, str], *args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*crumbless_command(), *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60
    )


def one_line_error(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 1, done
    assert done.stderr.startswith("crumbless: error: ") and words in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_the_snippet_says_when_its_url_is_only_a_guess(env: dict[str, str], tmp_path: Path) -> None:
    added = run_cli(env, "site", "add", "blog.example.org", "--timezone", "Europe/Berlin", cwd=tmp_path)
    website_id = added.stdout.splitlines()[0].rsplit(" id ", 1)[1]
    guessed = f'<script defer src="http://127.0.0.1:{env["CRUMBLESS_PORT"]}/js/site.js" data-website-id="{website_id}">'
    assert guessed in added.stdout
    note = added.stderr.strip()
    assert note.count("\n") == 0 and "CRUMBLESS_PUBLIC_URL is not set" in note, added.stderr

    public = {**env, "CRUMBLESS_PUBLIC_URL": "https://stats.example.org/"}
    again = run_cli(public, "site", "snippet", "blog.example.org", cwd=tmp_path)
    assert again.stdout == (
        f'<script defer src="https://stats.example.org/js/site.js" data-website-id="{website_id}"></script>\n'
    )
    assert again.stderr == ""
    by_id = run_cli(public, "site", "snippet", website_id, cwd=tmp_path)
    assert by_id.stdout == again.stdout
    one_line_error(crumbless(public, "site", "snippet", "nope.example", cwd=tmp_path), "no site 'nope.example'")


def test_site_list_has_a_header_and_a_row_per_site(env: dict[str, str], tmp_path: Path) -> None:
    assert "no sites yet" in run_cli(env, "site", "list", cwd=tmp_path).stdout
    run_cli(env, "site", "add", "blog.example.org", "--timezone", "Asia/Kathmandu", "--name", "The blog", cwd=tmp_path)
    run_cli(env, "site", "add", "shop.example.com", "--extra-domain", "shop.example.net", cwd=tmp_path)
    lines = run_cli(env, "site", "list", cwd=tmp_path).stdout.splitlines()
    assert lines[0].split() == ["ID", "DOMAIN", "TIME", "ZONE", "NAME", "ALSO", "COUNTS"]
    assert len(lines) == 3
    assert lines[1].split()[1:] == ["blog.example.org", "Asia/Kathmandu", "The", "blog", "-"]
    assert lines[2].split()[1:] == ["shop.example.com", "UTC", "shop.example.com", "shop.example.net"]
    column = lines[0].index("DOMAIN")
    assert all(line[column:].startswith(("blog", "shop")) for line in lines[1:]), "columns line up"


def test_user_add_makes_a_viewer_unless_asked_for_an_admin(env: dict[str, str], tmp_path: Path) -> None:
    run_cli(env, "site", "add", "blog.example.org", cwd=tmp_path)
    run_cli(env, "site", "add", "shop.example.com", cwd=tmp_path)
    viewer = run_cli(env, "user", "add", "vera", "--site", "blog.example.org", cwd=tmp_path)
    assert viewer.stdout.startswith("user vera added as viewer of blog.example.org, password ")
    plain = run_cli(env, "user", "add", "val", cwd=tmp_path)
    assert "added as viewer, password" in plain.stdout and "sees no site yet" in plain.stdout
    admin = crumbless(env, "user", "add", "ada", "--admin", "--password-stdin", cwd=tmp_path, stdin="a long password\n")
    assert admin.returncode == 0 and admin.stdout == "user ada added as admin\n"
    one_line_error(crumbless(env, "user", "add", "x", "--admin", "--site", "blog.example.org", cwd=tmp_path), "--site")
    one_line_error(crumbless(env, "user", "add", "y", "--site", "nope.example", cwd=tmp_path), "no site 'nope.example'")

    lines = run_cli(env, "user", "list", cwd=tmp_path).stdout.splitlines()
    assert [line.split(None, 2) for line in lines] == [
        ["NAME", "ROLE", "SITES"],
        ["ada", "admin", "all"],
        ["val", "viewer", "(none)"],
        ["vera", "viewer", "blog.example.org"],
    ]
    assert "y" not in {line.split()[0] for line in lines}, "a refused user is not half-created"


def test_init_still_makes_the_first_account_an_admin(env: dict[str, str], tmp_path: Path) -> None:
    assert "user admin, password" in run_cli(env, "init", cwd=tmp_path).stdout
    assert run_cli(env, "user", "list", cwd=tmp_path).stdout.splitlines()[1].split() == ["admin", "admin", "all"]


def test_a_password_reset_prints_a_new_one_once_and_ends_the_sessions(env: dict[str, str], tmp_path: Path) -> None:
    run_cli(env, "user", "add", "vera", cwd=tmp_path)
    settings = load(env)

    async def account() -> tuple[str, str]:
        async with opened_store(settings) as store:
            user = await store.user_by_name("vera")
            assert user is not None
            return user.password_hash, user.session_key

    _, key_before = asyncio.run(account())
    reset = run_cli(env, "user", "password", "vera", cwd=tmp_path)
    assert reset.stdout.startswith("new password for vera: ") and "every session of vera has ended" in reset.stdout
    password = reset.stdout.split(": ", 1)[1].split(" (shown only once)")[0]
    hashed, key_after = asyncio.run(account())
    assert verify_password(hashed, password) and key_after != key_before

    chosen = crumbless(
        env, "user", "password", "vera", "--password-stdin", cwd=tmp_path, stdin="correct horse battery\n"
    )
    assert chosen.returncode == 0 and "correct horse" not in chosen.stdout
    assert verify_password(asyncio.run(account())[0], "correct horse battery")
    one_line_error(
        crumbless(env, "user", "password", "vera", "--password-stdin", cwd=tmp_path, stdin="short\n"), "at least"
    )
    one_line_error(crumbless(env, "user", "password", "nobody", cwd=tmp_path), "no user 'nobody'")


def test_annotations_are_added_listed_and_removed(env: dict[str, str], tmp_path: Path) -> None:
    run_cli(env, "site", "add", "blog.example.org", cwd=tmp_path)
    first = run_cli(env, "annotation", "add", "blog.example.org", "2026-11-30", "newsletter sent", cwd=tmp_path)
    assert first.stdout == "annotation 1 added to blog.example.org on 2026-11-30\n"
    run_cli(env, "annotation", "add", "blog.example.org", "2026-11-02", "<b>launch</b> & ünïcode", cwd=tmp_path)
    lines = run_cli(env, "annotation", "list", "blog.example.org", cwd=tmp_path).stdout.splitlines()
    assert [line.split(None, 2) for line in lines] == [
        ["ID", "DATE", "TEXT"],
        ["2", "2026-11-02", "<b>launch</b> & ünïcode"],
        ["1", "2026-11-30", "newsletter sent"],
    ]
    ranged = run_cli(env, "annotation", "list", "blog.example.org", "--from", "2026-11-15", cwd=tmp_path)
    assert len(ranged.stdout.splitlines()) == 2 and "newsletter" in ranged.stdout
    assert run_cli(env, "annotation", "remove", "blog.example.org", "1", cwd=tmp_path).stdout == (
        "annotation 1 removed from blog.example.org\n"
    )
    one_line_error(crumbless(env, "annotation", "remove", "blog.example.org", "1", cwd=tmp_path), "no annotation 1")
    too_long = "x" * 201
    one_line_error(
        crumbless(env, "annotation", "add", "blog.example.org", "2026-11-30", too_long, cwd=tmp_path), "at most 200"
    )
    one_line_error(
        crumbless(env, "annotation", "add", "blog.example.org", "30/11/2026", "x", cwd=tmp_path), "2026-11-30"
    )
    one_line_error(
        crumbless(env, "annotation", "add", "blog.example.org", "2026-11-30", "a\nb", cwd=tmp_path), "one line"
    )
    one_line_error(crumbless(env, "annotation", "add", "blog.example.org", "2026-11-30", "  ", cwd=tmp_path), "empty")
    one_line_error(crumbless(env, "annotation", "list", "nope.example", cwd=tmp_path), "no site")


@pytest.mark.parametrize(
    "args",
    [
        ["site", "list"],
        ["site", "snippet", "blog.example.org"],
        ["site", "add", "new.example.org"],
        ["user", "list"],
        ["annotation", "list", "blog.example.org"],
        ["stats", "blog.example.org"],
        ["stats", "blog.example.org", "--json"],
        ["migrate"],
        ["--help"],
        ["site", "--help"],
    ],
)
def test_a_closed_pipe_is_no_traceback(env: dict[str, str], tmp_path: Path, args: list[str]) -> None:
    """``crumbless site list | true``: the reader is gone before the first write."""
    run_cli(env, "site", "add", "blog.example.org", cwd=tmp_path)
    run_cli(env, "user", "add", "vera", cwd=tmp_path)
    run_cli(env, "annotation", "add", "blog.example.org", "2026-11-30", "newsletter sent", cwd=tmp_path)
    read_end, write_end = os.pipe()
    os.close(read_end)  # a write now fails with EPIPE, as after `| true`
    try:
        done = subprocess.run(
            [*crumbless_command(), *args],
            env=env,
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr
    assert done.returncode in (0, 141), done
