"""Schemathesis against the served OpenAPI document: thousands of generated requests to a real server.

The stats API promises two things a hand-written test can only sample: no request, however odd,
makes it fail (a 5xx), and every answer is what ``dashboard/openapi.json`` says it is (status,
content type, headers, body schema). Schemathesis reads the document the server serves (built from
the same ``openapi_document()``, and checked equal), generates valid and invalid parameters for every
operation (its examples, coverage and fuzzing phases) and runs all its checks on each answer, with
an admin's bearer token, so the per-site operations reach the store rather than stopping at a 401.
Most generated cases name the real site, so ranges, limits, pages and searches reach the code that
reads counters; the rest name sites that do not exist. The seed is fixed and generation
derandomized, so a failure reproduces on every run.

The document covers the stats API only; the beacon endpoints get their hostile input in
``tests/test_fuzz.py``.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from collector.aggregator import Batch
from collector.config import for_database
from collector.localtime import day_number
from collector.model import COUNTERS, DROPS
from collector.store import opened_store
from dashboard.api import openapi_document
from dashboard.ranges import MAX_DAYS
from dashboard.tokens import new_api_token, token_hash
from tests.dashboard_support import create_user, seed_history
from tests.live_server import LiveServer, add_site, crumbless_env

EXAMPLES_PER_OPERATION = 380
MIN_CASES = 2000
SEED = 20260610
CASES: Counter[str] = Counter()  # generated cases by operation, for the count printed at the end
STATUSES: Counter[int] = Counter()  # and the answers they got: a run of nothing but 404s would test little
TOKEN = new_api_token()  # the admin's, made before collection so that the configuration can carry it


@dataclass
class LiveApi:
    server: LiveServer
    website_id: str
    token: str
    session: requests.Session  # kept alive across cases, and blind to proxy settings in the environment


def _seed(database: Path, site: int, token: str) -> None:
    """An admin with an API token, and a few weeks of counters with dropped beacons among them."""
    admin = create_user(database, "admin", "schemathesis-password")
    today = day_number(datetime.now(UTC).date())
    seed_history(database, site, today - 40, 41, daily_visitors=50, scale=0.2)
    drops = Batch()
    for day in range(today - 40, today + 1):
        for reason, n in (("bot:spider", 7), ("hostname", 2), ("flood", 1), ("bot:something-new", 1)):
            row = [0] * len(COUNTERS)
            row[DROPS] = n
            drops.daily[(site, day, "dropped", reason)] = row

    async def work() -> None:
        async with opened_store(for_database(database)) as store:
            await store.write_counts(drops)
            await store.add_token(admin, "schemathesis", token_hash(token))

    asyncio.run(work())


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory, geo_db: Path) -> Iterator[LiveApi]:
    work = tmp_path_factory.mktemp("schemathesis")
    env = crumbless_env(work / "data", geo_db, access_log="off")
    website_id = add_site(env, "example.com", cwd=work)
    add_site(env, "other.org", cwd=work)
    _seed(work / "data" / "crumbless.db", 1, TOKEN)
    server = LiveServer(env, work)
    server.start()
    try:
        served = httpx.get(f"{server.base_url}/api/v1/openapi.json", timeout=10)
        assert served.status_code == 200 and served.json() == openapi_document(), (
            "the tests are built from what is served"
        )
        with requests.Session() as session:
            session.trust_env = False
            yield LiveApi(server, website_id, TOKEN, session)
    finally:
        server.kill()


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",
            "max-examples": EXAMPLES_PER_OPERATION,
            "deterministic": True,
            "allow-x00": True,
            "with-security-parameters": False,
        },
        "checks": {"enabled": True},
        "phases": {"stateful": {"enabled": False}},
        # Given through the security scheme, so schemathesis knows it is the token: its ignored_auth check
        # sends each case again without it and wants the documented 401. Generated cases keep it
        # ("with-security-parameters"), or a third of them would test that 401 and nothing else.
        "auth": {"openapi": {"bearerAuth": {"bearer": TOKEN}}},
    }
)
# The document the server serves is ``openapi_document()`` (dashboard/api.py); the generated tests are
# built when this module is collected, before any server runs, so they start from the same function and
# ``live_api`` checks that the served document is this one.
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)

# What the document cannot say: ``period=custom`` needs ``from`` and ``to``, ``from`` comes first, a range
# spans at most MAX_DAYS and starts after 1970. Each of these answers is a 400 naming ``period``.
RANGE_RULES = ("period=custom needs", "from must not be after to", f"at most {MAX_DAYS} days", "after 1970")


def _site_for(generated: str, live: LiveApi) -> str:
    """The real site for nine generated ids in ten (chosen by the id itself, so runs repeat), to
    reach the counters; the tenth keeps its made-up id and must get the documented 404."""
    return generated if zlib.crc32(generated.encode("utf-8", "surrogatepass")) % 10 == 0 else live.website_id


# Nor can it say which goals a site has, which lists a filter keeps (model.FILTERED), or how long a value
# may be: each of these is a 400 naming ``filter``.
FILTER_RULES = ("has no goal named", "not available with a filter", "at most 2400 characters")


def _refused_for_a_range_rule(response: schemathesis.Response) -> bool:
    """A 400 that names one of ``RANGE_RULES`` or ``FILTER_RULES``: the only refusals a schema-valid request may get."""
    if response.status_code != 400:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    rules = {"period": RANGE_RULES, "filter": FILTER_RULES}.get(str(body.get("parameter")), ())
    return any(rule in str(body.get("error")) for rule in rules)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_5xx_and_every_answer_as_documented(case: schemathesis.Case, live_api: LiveApi) -> None:
    """Every check schemathesis has; "valid data is accepted" allows only the range rules' 400s."""
    CASES[case.operation.label] += 1
    if "website_id" in (case.path_parameters or {}):
        case.path_parameters["website_id"] = _site_for(str(case.path_parameters["website_id"]), live_api)
    response = case.call(base_url=live_api.server.base_url, session=live_api.session)
    STATUSES[response.status_code] += 1
    excluded = [positive_data_acceptance] if _refused_for_a_range_rule(response) else []
    case.validate_response(response, excluded_checks=excluded, transport_kwargs={"session": live_api.session})


def test_thousands_of_cases_ran(live_api: LiveApi) -> None:
    """Runs after the generated test (file order): the figures, and that the run was not a token one."""
    if not CASES:
        pytest.skip("run together with test_no_5xx_and_every_answer_as_documented")
    total = sum(CASES.values())
    print(f"\nschemathesis: {total} cases over {len(CASES)} operations: {dict(sorted(CASES.items()))}")
    print(f"schemathesis: answers by status: {dict(sorted(STATUSES.items()))}")
    assert total >= MIN_CASES
    assert STATUSES[200] > total / 3, "most cases must reach the counters, not stop at a 400, 401 or 404"
    assert live_api.server.proc is not None and live_api.server.proc.poll() is None, "the server survived"
