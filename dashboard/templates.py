"""Jinja2 with autoescaping and the reader's language, the formats every page shares, and one way to render a page.

Static files are linked with a content hash in the query string, so they can be cached for long
and still change the moment the code does.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from dashboard import formats, i18n
from dashboard.charts import share_bar
from dashboard.dimensions import NAMED_VALUES, column_name, shown_value
from dashboard.filter_view import LABELS, NOT_A_VALUE
from dashboard.flags import flag
from dashboard.ranges import PERIODS

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"


def translated(message: str) -> str:
    """A message held in a variable (a list's title, a filter reason): looked up, never treated as markup."""
    return i18n.gettext(message) if message else message


def with_lang(**params: str) -> str:
    """A query string for a link of this page, keeping a share link's ``?lang=``."""
    return urlencode({**params, **i18n.sticky_query()})


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
    extensions=["jinja2.ext.i18n"],
)
# Whitespace inside {% trans %} is collapsed, so a message reads the same in the catalog as on the page;
# pyproject.toml's [tool.babel] extracts with the same policy.
ENV.policies["ext.i18n.trimmed"] = True
ENV.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext, npgettext=i18n.npgettext
)
ENV.filters.update(
    num=formats.number,
    pct=formats.percent,
    duration=formats.duration,
    signed=formats.signed_change,
    seconds=formats.seconds,
    day=formats.date_medium,
    flag=flag,
    country=formats.country,
    language_name=formats.language_name,
    shown_value=shown_value,
    translated=translated,
    share_bar=share_bar,
)
ENV.globals.update(
    static=static,
    periods=PERIODS,
    language=i18n.current,
    languages=i18n.choices,
    with_lang=with_lang,
    sticky_lang=i18n.sticky_query,
    column_name=column_name,
    named_values=NAMED_VALUES,
    filter_labels=LABELS,  # a filter's dimension by name, for macros.filter_link
    not_values=NOT_A_VALUE,
)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    auth = getattr(request.state, "auth", None)
    html = ENV.get_template(template).render(request=request, auth=auth, csrf=auth.csrf if auth else "", **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


async def error(request: Request, status: int, message: str) -> HTMLResponse:
    """The error page; ``message`` is a catalog message (or already translated text, which stays as it is)."""
    return render(request, "error.html", status=status, message=i18n.gettext(message), status_code=status)
