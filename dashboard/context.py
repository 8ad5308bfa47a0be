"""What every dashboard handler needs from the process: settings, the clock, the signing key, the limiter.

One object hung on ``app.state.dashboard`` (set by ``collector.app.create_app``) instead of
module globals, so two apps in one test process never share a login limiter or a key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property

from starlette.requests import Request

from collector.config import Settings
from collector.sites import Site
from collector.store import Store
from dashboard.limiter import LoginLimiter
from dashboard.secret import load_or_create


@dataclass
class Dashboard:
    settings: Settings
    clock: Callable[[], float] = time.time
    limiter: LoginLimiter = field(default_factory=LoginLimiter)

    @cached_property
    def key(self) -> bytes:
        return load_or_create(self.settings.data_dir)

    def today(self, site: Site) -> date:
        """The site's local date now: what "today" means on its pages."""
        return datetime.fromtimestamp(self.clock(), site.tz).date()


def dashboard(request: Request) -> Dashboard:
    return request.app.state.dashboard  # type: ignore[no-any-return]


def store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]
