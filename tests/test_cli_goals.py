"""``crumbless goal`` and ``crumbless funnel`` run as an operator runs them: separate processes on a real SQLite file.

Definitions are added, listed and removed with the messages docs/api.md shows; an exact goal's
earlier days are filled in from the counts already stored; every mistake (an unknown site, goal
or funnel, a definition the store refuses) ends in one line on stderr and exit status 2.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from collector.aggregator import Aggregator
from collector.config import load
from collector.goals import MAX_NAME, MAX_PATTERN, MAX_STEPS
from collector.localtime import date_of, today
from collector.model import EVENTS, GOALS, VISITORS
from collector.store import opened_store
from collector.zones import zone
from tests.live_server import crumbless_command, crumbless_env, run_cli

SITE = "shop.example.org"


@pytest.fixture
def env(tmp_path: Path, geo_db: Path) -> dict[str, str]:
    env = crumbless_env(tmp_path / "data", geo_db)
    run_cli(env, "site", "add", SITE, cwd=tmp_path)
    return env


def crumbless(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*crumbless_command(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def refused(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 2, done
    assert done.stderr.startswith("crumbless: error: ") and words in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr and done.stdout == ""


def local_today() -> date:
    return date_of(today(zone("UTC"), time.time()))


def test_goals_are_added_listed_and_removed(env: dict[str, str], tmp_path: Path) -> None:
    signup = run_cli(env, "goal", "add", SITE, "--event", "signup", cwd=tmp_path).stdout
    assert signup == (
        f'goal 1 "signup" added to {SITE}: event signup\n'
        "Its earlier days were filled in from the event's stored counts.\n"
    )
    pro = run_cli(env, "goal", "add", SITE, "--event", "signup", "--prop", "plan=pro", "--name", "Pro", cwd=tmp_path)
    blog = run_cli(env, "goal", "add", SITE, "--page", "/blog/**", cwd=tmp_path)
    day = local_today().isoformat()
    assert pro.stdout.splitlines() == [
        f'goal 2 "Pro" added to {SITE}: event signup with plan=pro',
        f"It counts from today, {day}: earlier days cannot be counted for a property value, "
        "since Crumbless keeps no single hits.",
    ]
    assert blog.stdout.splitlines()[0] == f'goal 3 "/blog/**" added to {SITE}: page /blog/**'
    assert "counted for a pattern" in blog.stdout
    lines = run_cli(env, "goal", "list", SITE, cwd=tmp_path).stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "COUNTS", "FROM"]
    assert lines[2].index("event signup with plan=pro") == lines[0].index("COUNTS"), "columns line up"
    assert [line.split()[:2] for line in lines[1:]] == [["1", "signup"], ["2", "Pro"], ["3", "/blog/**"]]
    assert lines[1].endswith("every day kept") and lines[2].endswith(day) and lines[3].endswith(day)

    removed = run_cli(env, "goal", "remove", SITE, "Pro", cwd=tmp_path).stdout
    assert removed == f'goal 2 "Pro" removed from {SITE} with its counts\n'
    assert run_cli(env, "goal", "remove", SITE, "3", cwd=tmp_path).stdout.startswith('goal 3 "/blog/**" removed')
    refused(crumbless(env, "goal", "remove", SITE, "Pro", cwd=tmp_path), f"{SITE} has no goal 'Pro'")
    assert [line.split()[0] for line in run_cli(env, "goal", "list", SITE, cwd=tmp_path).stdout.splitlines()] == [
        "ID",
        "1",
    ]


def test_an_exact_goal_counts_the_days_before_it_was_added(env: dict[str, str], tmp_path: Path) -> None:
    settings = load(env)
    first_day = today(zone("UTC"), time.time())

    async def write() -> None:
        async with opened_store(settings) as store:
            site = (await store.sites())[0].id
            counts = Aggregator()
            counts.add(site, first_day - 5, "event", "signup", VISITORS, 4)
            counts.add(site, first_day - 5, "event", "signup", EVENTS, 6)
            await store.write_counts(counts.drain())

    async def goal_rows() -> list[tuple[str, Any]]:
        async with opened_store(settings) as store:
            site = (await store.sites())[0].id
            return (await store.breakdown(site, GOALS, first_day - 30, first_day, 10))[0]

    asyncio.run(write())
    run_cli(env, "goal", "add", SITE, "--event", "signup", "--name", "Signed up", cwd=tmp_path)
    assert asyncio.run(goal_rows()) == [("1", {"visitors": 4, "events": 6})]


def test_funnels_are_added_listed_and_removed(env: dict[str, str], tmp_path: Path) -> None:
    for event in ("view", "cart", "paid"):
        run_cli(env, "goal", "add", SITE, "--event", event, cwd=tmp_path)
    added = run_cli(
        env, "funnel", "add", SITE, "Checkout", "--step", "view", "--step", "2", "--step", "paid", "--window", "day",
        cwd=tmp_path,
    ).stdout  # fmt: skip
    day = local_today().isoformat()
    assert added == (
        f'funnel 1 "Checkout" added to {SITE}: view → cart → paid, within the visitor\'s day\n'
        f"It counts from today, {day}.\n"
    )
    run_cli(env, "funnel", "add", SITE, "Quick", "--step", "view", "--step", "paid", cwd=tmp_path)
    lines = run_cli(env, "funnel", "list", SITE, cwd=tmp_path).stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STEPS", "WINDOW", "FROM"]
    assert lines[1].split() == ["1", "Checkout", "view", "→", "cart", "→", "paid", "day", day]
    assert lines[2].split() == ["2", "Quick", "view", "→", "paid", "visit", day]

    assert run_cli(env, "funnel", "remove", SITE, "Quick", cwd=tmp_path).stdout == (
        f'funnel 2 "Quick" removed from {SITE} with its counts\n'
    )
    refused(crumbless(env, "funnel", "remove", SITE, "2", cwd=tmp_path), f"{SITE} has no funnel '2'")
    cart = run_cli(env, "goal", "remove", SITE, "cart", cwd=tmp_path).stdout
    assert cart == f'goal 2 "cart" removed from {SITE} with its counts, and the funnels it was a step of: "Checkout"\n'
    assert "no funnels for" in run_cli(env, "funnel", "list", SITE, cwd=tmp_path).stdout


def test_every_mistake_is_one_line_and_exit_status_2(env: dict[str, str], tmp_path: Path) -> None:
    run_cli(env, "goal", "add", SITE, "--event", "signup", cwd=tmp_path)
    mistakes: list[tuple[tuple[str, ...], str]] = [
        (("goal", "add", "nope.example", "--event", "signup"), "no site 'nope.example'"),
        (("goal", "list", "nope.example"), "no site 'nope.example'"),
        (("goal", "add", SITE, "--event", "a", "--page", "/a"), "give either --event NAME or --page PATTERN"),
        (("goal", "add", SITE), "give either --event NAME or --page PATTERN"),
        (("goal", "add", SITE, "--event", "signup"), "the site has a goal named signup already"),
        (("goal", "add", SITE, "--event", "a", "--name", " "), "the goal's name must not be empty"),
        (("goal", "add", SITE, "--event", "a", "--name", "x" * (MAX_NAME + 1)), f"at most {MAX_NAME} characters"),
        (("goal", "add", SITE, "--page", "/" + "a" * MAX_PATTERN), f"at most {MAX_PATTERN} characters"),
        (("goal", "add", SITE, "--page", "/" + "a" * MAX_NAME), "give a shorter one with --name"),
        (("goal", "add", SITE, "--page", "blog"), "must start with /"),
        (("goal", "add", SITE, "--page", "/a", "--prop", "k=v"), "--prop goes with --event"),
        (("goal", "add", SITE, "--event", "a", "--prop", "plan"), "--prop takes KEY=VALUE"),
        (("goal", "remove", SITE, "7"), f"{SITE} has no goal '7'"),
        (("funnel", "add", SITE, "f", "--step", "signup"), "a funnel has 2 to 8 steps, not 1"),
        (("funnel", "add", SITE, "f", *["--step", "signup"] * (MAX_STEPS + 1)), "2 to 8 steps, not 9"),
        (("funnel", "add", SITE, "f", "--step", "signup", "--step", "paid"), f"{SITE} has no goal 'paid'"),
        (("funnel", "add", SITE, " ", "--step", "signup", "--step", "signup"), "the funnel's name must not be empty"),
        (("funnel", "remove", "nope.example", "f"), "no site 'nope.example'"),
    ]
    for args, words in mistakes:
        refused(crumbless(env, *args, cwd=tmp_path), words)
    assert len(run_cli(env, "goal", "list", SITE, cwd=tmp_path).stdout.splitlines()) == 2, "nothing was added"
