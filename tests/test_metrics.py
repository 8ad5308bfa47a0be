"""``/metrics`` and ``/healthz``: the figures move with the beacons, hold nothing about a visitor,
and ``/metrics`` opens only to an admin's API token or an allowed address range."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector.aggregator import Aggregator
from collector.flusher import Flusher
from collector.hits import Hit
from collector.metrics import Health, Metrics
from collector.state import Snapshot, StateUnavailable
from collector.state.memory import MemoryState
from collector.state.redis import connect
from collector.store import StoreError
from collector.visitors import VisitorRecord
from tests.conftest import Server
from tests.dashboard_support import World, make_world
from tests.live_server import LiveServer, add_site as live_add_site, crumbless_env, free_port
from tests.support import CHROME, GOOGLEBOT, IPHONE, Clock, add_site, build_geo_db, make_settings, plausible

Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Figures:
    """Every sample of a scrape, keyed by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def figure(figures: Figures, name: str, **labels: str) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


def get(
    server: Server, path: str, peer: str = "198.51.100.20", headers: dict[str, str] | None = None
) -> httpx.Response:
    """A GET from a chosen socket peer, on the app's own event loop."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(server.app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://crumbless.test") as http:
            return await http.get(path, headers=headers or {})

    response: httpx.Response = server.call(send)
    return response


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(server: Server) -> World:
    return make_world(server)


@pytest.fixture
def admin_token(world: World) -> str:
    return world.token(world.admin)


def scrape(server: Server, token: str) -> tuple[str, Figures]:
    response = get(server, "/metrics", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "no-store"
    return response.text, parse(response.text)


SECRET_PATH = "/checkout/secret-page-7f3a"


def test_figures_move_with_beacons_and_name_no_visitor(server: Server, admin_token: str) -> None:
    _, before = scrape(server, admin_token)
    url = f"https://example.com{SECRET_PATH}"
    assert server.post("/api/event", plausible("example.com", url), peer="198.51.100.20").status_code == 202
    assert (
        server.post("/api/event", plausible("example.com", url), peer="203.0.113.77", user_agent=IPHONE).status_code
        == 202
    )
    bot = server.post("/api/event", plausible("example.com", url), peer="192.0.2.99", user_agent=GOOGLEBOT)
    foreign = server.post("/api/event", plausible("example.com", "https://evil.test/x"), peer="192.0.2.98")
    assert foreign.headers["x-crumbless-dropped"] == "hostname"
    assert server.post("/api/event", plausible("nobody.test", url)).status_code == 400
    assert server.post("/api/event", plausible("example.com", url), content_type="image/png").status_code == 415
    text, during = scrape(server, admin_token)
    assert figure(during, "crumbless_buffered_rows") > 0, "counted, not written yet"
    server.flush()
    text, after = scrape(server, admin_token)

    def moved(name: str, **labels: str) -> float:
        return figure(after, name, **labels) - figure(before, name, **labels)

    assert moved("crumbless_beacons_accepted_total") == 2
    assert moved("crumbless_beacons_dropped_total", reason=bot.headers["x-crumbless-dropped"]) == 1
    assert bot.headers["x-crumbless-dropped"].startswith("bot:")
    assert moved("crumbless_beacons_dropped_total", reason="hostname") == 1
    assert moved("crumbless_beacons_rejected_total", status="400") == 1
    assert moved("crumbless_beacons_rejected_total", status="415") == 1
    assert moved("crumbless_beacons_refused_total") == 0
    assert moved("crumbless_flush_duration_seconds_count") >= 1
    assert moved("crumbless_flush_rows_sum") > 0
    assert figure(after, "crumbless_buffered_rows") == 0
    assert figure(after, "crumbless_visitor_records") == 2
    assert figure(after, "crumbless_flush_failures_total") == 0
    assert figure(after, "process_resident_memory_bytes") > 0

    # Counts only: no address, User-Agent, path, domain or site id anywhere in the text.
    assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", text), "an IPv4 address"
    assert not re.search(r"\b[0-9a-f]{1,4}(:[0-9a-f]{0,4}){2,7}\b", text, re.IGNORECASE), "an IPv6 address"
    for needle in (
        "Mozilla",
        "Firefox",
        "iPhone",
        "Googlebot",
        SECRET_PATH,
        "checkout",
        "example.com",
        "evil.test",
        server.site.website_id,
    ):
        assert needle not in text, needle
    labels = {name for family in text_string_to_metric_families(text) for s in family.samples for name in s.labels}
    assert labels <= {"reason", "status", "le"}


def test_only_an_admins_token_opens_it(server: Server, world: World, admin_token: str) -> None:
    viewer_token = world.token(world.viewer)
    assert get(server, "/metrics").status_code == 403
    assert get(server, "/metrics", headers=bearer("cb_not-a-token")).status_code == 403
    assert get(server, "/metrics", headers={"Authorization": f"Basic {admin_token}"}).status_code == 403
    assert get(server, "/metrics", headers=bearer(viewer_token)).status_code == 403
    assert world.admin.get("/metrics").status_code == 403, "a dashboard session is not a token"
    refused = get(server, "/metrics", headers=bearer(viewer_token))
    assert "crumbless_" not in refused.text and refused.headers["cache-control"] == "no-store"
    assert get(server, "/metrics", headers=bearer(admin_token)).status_code == 200


@pytest.fixture
def allowing(tmp_path: Path, geo_db: Path, clock: Clock) -> Iterator[Server]:
    """A server whose metrics are open to 192.0.2.0/24 (its trusted proxies: loopback, the default)."""
    settings = make_settings(tmp_path / "data", geo_db, metrics_allow="192.0.2.0/24, 2001:db8:1::/48")
    srv = Server(settings, clock, add_site(settings, "example.com"))
    with srv.client:
        yield srv


def test_a_token_that_cannot_be_checked_gets_503_and_an_allowed_address_still_reads(allowing: Server) -> None:
    async def down(token_hash: str) -> None:
        raise StoreError("connection refused")

    allowing.state.store.token_user = down
    refused = get(allowing, "/metrics", headers=bearer("cb_some-token"))
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "10")
    assert get(allowing, "/metrics", peer="192.0.2.7").status_code == 200


@pytest.mark.parametrize(
    "peer, forwarded, status",
    [
        ("192.0.2.7", None, 200),
        ("2001:db8:1::5", None, 200),
        ("198.51.100.20", None, 403),
        ("2001:db8:2::5", None, 403),
        ("198.51.100.20", "192.0.2.7", 403),  # an untrusted peer's forwarded header is not believed
        ("127.0.0.1", "192.0.2.7", 200),  # a trusted proxy's is
        ("127.0.0.1", "192.0.2.7, 198.51.100.20", 403),  # the rightmost untrusted hop is the client
        ("127.0.0.1", None, 403),  # the proxy itself is not in the range
    ],
)
def test_an_allowed_address_range_needs_no_token(
    allowing: Server, peer: str, forwarded: str | None, status: int
) -> None:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    assert get(allowing, "/metrics", peer=peer, headers=headers).status_code == status


def test_the_range_holds_in_a_served_process(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = crumbless_env(data_dir, build_geo_db(data_dir / "dbip-country.mmdb"), metrics_allow="127.0.0.1/32")
    live_add_site(env, "example.com", cwd=tmp_path)
    server = LiveServer(env, tmp_path)
    try:
        server.start()
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=5) as http:
            sent = http.post(
                "/api/event",
                content=plausible("example.com", "https://example.com/"),
                headers={"User-Agent": CHROME, "Content-Type": "text/plain"},
            )
            assert sent.status_code == 202
            open_ = http.get("/metrics")
            assert open_.status_code == 200
            assert figure(parse(open_.text), "crumbless_beacons_accepted_total") == 1
            # Loopback is a trusted proxy by default: the address it forwards is the client's.
            assert http.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
            health = http.get("/healthz")
            assert (health.status_code, health.json()) == (200, {"status": "ok", "store": "ok", "state": "ok"})
    finally:
        server.kill()


def test_folds_evictions_and_refusals_are_counted(tmp_path: Path, geo_db: Path, clock: Clock) -> None:
    settings = make_settings(tmp_path / "data", geo_db, max_values="1", max_visitors="2")
    server = Server(settings, clock, add_site(settings, "example.com"))
    with server.client:
        metrics: Metrics = server.state.metrics
        for n, peer in enumerate(("198.51.100.1", "198.51.100.2", "198.51.100.3")):
            assert (
                server.post("/api/event", plausible("example.com", f"https://example.com/p{n}"), peer=peer).status_code
                == 202
            )
        assert metrics.registry.get_sample_value("crumbless_guard_folds_total") == 2, "/p1 and /p2 fold into (other)"
        assert metrics.registry.get_sample_value("crumbless_visitor_evictions_total") == 1
        assert metrics.registry.get_sample_value("crumbless_visitor_records") == 2

        async def unavailable(*args: Any) -> Snapshot:
            raise StateUnavailable("test")

        server.state.collector.state.read = unavailable
        assert server.post("/api/event", plausible("example.com", "https://example.com/")).status_code == 503
        assert metrics.registry.get_sample_value("crumbless_beacons_refused_total") == 1


def test_a_refused_commit_is_counted_as_a_retry(server: Server) -> None:
    """A commit refused once, as a second beacon of the same visitor racing this one would make it."""
    state = server.state.collector.state
    commit, tries = state.commit, []

    async def refused_once(hit: Hit, snapshot: Snapshot, record: VisitorRecord) -> bool:
        tries.append(hit)
        return len(tries) > 1 and bool(await commit(hit, snapshot, record))

    state.commit = refused_once
    assert server.post("/api/event", plausible("example.com", "https://example.com/")).status_code == 202
    assert len(tries) == 2
    assert server.state.metrics.registry.get_sample_value("crumbless_commit_retries_total") == 1
    assert server.state.metrics.registry.get_sample_value("crumbless_beacons_accepted_total") == 1


def test_a_failed_flush_is_counted_and_keeps_its_rows(server: Server, admin_token: str) -> None:
    store = server.state.store
    written = store.write_counts

    async def refuse(batch: Any) -> None:
        raise StoreError("the disk is full")

    assert server.post("/api/event", plausible("example.com", "https://example.com/")).status_code == 202
    store.write_counts = refuse
    assert not server.call(server.state.flusher.flush)
    _, figures = scrape(server, admin_token)
    assert figure(figures, "crumbless_flush_failures_total") == 1
    assert figure(figures, "crumbless_buffered_rows") > 0
    server.state.health.ttl = 0
    assert get(server, "/healthz").json()["store"] == "unreachable"
    store.write_counts = written
    server.flush()
    assert get(server, "/healthz").json() == {"status": "ok", "store": "ok", "state": "ok"}


def test_healthz_says_what_answers_and_stays_200(server: Server) -> None:
    response = get(server, "/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "store": "ok", "state": "ok"})
    assert response.headers["cache-control"] == "no-store"

    async def down() -> int:
        raise StoreError("connection refused by 10.0.0.5")

    server.state.store.user_count = down
    server.state.health.ttl = 0
    response = get(server, "/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "store": "unreachable", "state": "ok"})
    assert "10.0.0.5" not in response.text


class Store:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.calls = delay, 0

    async def user_count(self) -> int:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return 1


class State(MemoryState):
    def __init__(self, up: bool = True) -> None:
        super().__init__(10, 10)
        self.up = up

    async def reachable(self) -> bool:
        return self.up


def flusher() -> Flusher:
    return Flusher(Aggregator(), None, 5)  # type: ignore[arg-type]


def test_a_hanging_store_is_unreachable_within_the_timeout() -> None:
    health = Health(Store(delay=30), State(up=False), flusher(), timeout=0.2)
    started = time.monotonic()
    assert asyncio.run(health.report()) == {"status": "ok", "store": "unreachable", "state": "unreachable"}
    assert time.monotonic() - started < 1.0, "both checks run side by side, each cut off"


def test_health_checks_are_cached_and_shared() -> None:
    now = [100.0]
    store = Store(delay=0.05)

    async def run() -> None:
        health = Health(store, State(), flusher(), ttl=3.0, clock=lambda: now[0])
        answers = await asyncio.gather(*(health.report() for _ in range(20)))
        assert all(answer["store"] == "ok" for answer in answers)
        assert store.calls == 1, "twenty concurrent checks, one query"
        now[0] += 2.9
        await health.report()
        assert store.calls == 1
        now[0] += 0.2
        await health.report()
        assert store.calls == 2

    asyncio.run(run())


def test_an_unreachable_redis_is_reported_not_raised() -> None:
    async def check() -> bool:
        state, _ = await connect(f"redis://127.0.0.1:{free_port()}/0", 10, lambda site, day: 0)
        try:
            return await state.reachable()
        finally:
            await state.close()

    assert asyncio.run(check()) is False


def test_a_reachable_redis_is_ok(redis_url: str) -> None:
    async def check() -> bool:
        state, _ = await connect(redis_url, 10, lambda site, day: 0)
        try:
            return await state.reachable()
        finally:
            await state.close()

    assert asyncio.run(check()) is True


def test_apps_in_one_process_count_apart(server: Server, tmp_path: Path, geo_db: Path, clock: Clock) -> None:
    settings = make_settings(tmp_path / "other", geo_db)
    other = Server(settings, clock, add_site(settings, "example.com"))
    with other.client:
        assert server.post("/api/event", plausible("example.com", "https://example.com/")).status_code == 202
        assert server.state.metrics.registry.get_sample_value("crumbless_beacons_accepted_total") == 1
        assert other.state.metrics.registry.get_sample_value("crumbless_beacons_accepted_total") == 0
