from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from collector.app import create_app
from collector.config import Settings
from collector.sites import Site
from tests.services import postgres_server, postgres_url, redis_server, redis_url  # noqa: F401 (fixtures)
from tests.support import FIREFOX, Clock, add_site, build_geo_db, daily_rows, make_settings


@pytest.fixture(scope="session")
def geo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_geo_db(tmp_path_factory.mktemp("geo") / "tiny-country.mmdb")


@pytest.fixture
def settings(tmp_path: Path, geo_db: Path) -> Settings:
    return make_settings(tmp_path / "data", geo_db)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 6, 10, 10, 0, tzinfo=timezone.utc).timestamp())


class Server:
    """A running app (lifespan and all) behind Starlette's TestClient, with its pieces at hand."""

    def __init__(self, settings: Settings, clock: Clock, site: Site) -> None:
        self.settings, self.clock, self.site = settings, clock, site
        self.app = create_app(settings, clock)
        self.client = TestClient(self.app, raise_server_exceptions=False)

    def post(
        self,
        path: str,
        body: bytes,
        peer: str = "198.51.100.20",
        headers: dict[str, str] | None = None,
        user_agent: str = FIREFOX,
        content_type: str = "text/plain",
    ) -> httpx.Response:
        """One request from a chosen peer address, on the app's own event loop."""
        sent = {"User-Agent": user_agent, "Content-Type": content_type, **(headers or {})}

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(self.app, client=(peer, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://crumbless.test") as http:
                return await http.post(path, content=body, headers=sent)

        return self.call(send)

    @property
    def state(self) -> Any:
        return self.app.state

    def call(self, fn: Any, *args: Any) -> Any:
        return self.client.portal.call(fn, *args)  # type: ignore[union-attr]

    def flush(self) -> None:
        assert self.call(self.state.flusher.flush)

    def rows(self, site: Site | None = None) -> dict[tuple[int, str, str], dict[str, int]]:
        self.flush()
        return daily_rows(self.settings.database, (site or self.site).id)


@pytest.fixture
def server(settings: Settings, clock: Clock) -> Iterator[Server]:
    site = add_site(settings, "example.com")
    srv = Server(settings, clock, site)
    with srv.client:
        yield srv
