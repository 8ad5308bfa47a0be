"""Jinja2 with autoescaping, the number formats every page shares, and one way to render a page.

Static files are linked with a content hash in the query string, so they can be cached for long
and still change the moment the code does.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from dashboard.charts import share_bar
from dashboard.flags import country_label, flag
from dashboard.ranges import PERIODS

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"


def num(value: float | int | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def duration(seconds: float | int | None) -> str:
    """Visit durations the way people say them: 45s, 3m 05s, 1h 02m."""
    s = int(round(seconds or 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def signed(value: float | None, unit: str = "%") -> str:
    if value is None:
        return "new"
    return f"{'+' if value > 0 else '−' if value < 0 else '±'}{abs(value):g}{unit}"


@lru_cache(maxsize=64)
def _static_version(name: str) -> str:
    try:
        return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static(name: str) -> str:
    return f"/static/{name}?v={_static_version(name)}"


ENV = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(num=num, duration=duration, signed=signed, flag=flag, country=country_label, share_bar=share_bar)
ENV.globals.update(static=static, periods=PERIODS)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    auth = getattr(request.state, "auth", None)
    html = ENV.get_template(template).render(request=request, auth=auth, csrf=auth.csrf if auth else "", **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


async def error(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status=status, message=message, status_code=status)
