"""The reader's language: which catalog a request is answered in, and its translations.

Catalogs are gettext ``.po`` files under ``dashboard/locale/<language>/LC_MESSAGES/``; adding a
language is adding one (``docs/deployment.md``, "Languages"). They are compiled in memory the
first time a language is asked for, with Babel's own compiler, rather than shipped as ``.mo``
files built at install: ``scripts/setup-venv`` re-installs only when ``pyproject.toml`` changes,
the tests run the checkout straight from ``PYTHONPATH``, and a wheel carries package data as it
is, so a compiled file would go stale or missing on one of those paths while the ``.po`` cannot.
Compiling a catalog takes about 50 ms (the first also loads Babel's parser: about 150 ms), once
per process, on the first page asked for in that language.

The language of a request is, in order: a share link's ``?lang=`` (its readers have no account),
the account's own choice (account page), the browser's ``Accept-Language``, ``CRUMBLESS_LOCALE``.
It is worked out where it is first needed, not up front, because the account is known only once
the page's guard has read the session cookie; ``RequestLanguage`` (on every dashboard route)
only makes the request reachable from ``gettext`` without threading it through every call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.types import ASGIApp, Receive, Scope, Send

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"  # the language the messages are written in, in the code and the templates
SHARE_PREFIX = "/share/"
MAX_ACCEPT_LANGUAGE = 400  # characters of the header read; a browser sends well under 100
_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def N_(message: str) -> str:  # noqa: N802 (the gettext convention for "mark only, translate later")
    """Mark ``message`` for the catalogs where it is declared; it is translated where it is shown."""
    return message


class TranslatedError(ValueError):
    """An error the client must fix, kept as a catalog message and its values: a page shows it in
    the reader's language, while the stats API and the CLI, which answer outside any page's
    language, read it in English."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message)
        self.message = message
        self.values = values

    def __str__(self) -> str:
        return gettext(self.message).format(**self.values)


@lru_cache(maxsize=1)
def languages() -> tuple[str, ...]:
    """The catalogs present, e.g. ``('en', 'es')``: a language exists when its ``.po`` does."""
    found = {path.parent.parent.name for path in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return tuple(sorted(found | {SOURCE_LANGUAGE}))


@dataclass(frozen=True)
class Language:
    code: str  # a catalog's name: "en", "es", "pt_BR"
    locale: Locale  # CLDR data for numbers, dates and names
    translations: Translations

    @property
    def tag(self) -> str:
        """The BCP 47 form for ``<html lang>`` and ``Intl``: ``pt-BR``."""
        return self.code.replace("_", "-")

    @property
    def name(self) -> str:
        """The language's name in itself ("español"), as a language menu should offer it."""
        return self.locale.get_display_name(self.locale) or self.code


def _compiled(code: str) -> Translations:
    po = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():  # the source language needs no catalog: every message is its own text
        return Translations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=code, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, so they show in English, not half-done
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@cache
def language(code: str) -> Language:
    """A catalog by its name (one of ``languages()``), compiled on first use."""
    return Language(code, Locale.parse(code), _compiled(code))


def known(code: str | None) -> str | None:
    """``code`` as a catalog's name if there is one for it (``es-MX`` → ``es``), else None."""
    if not code or len(code) > 35 or not _TAG.match(code):
        return None
    wanted = code.replace("-", "_")
    by_lower = {c.lower(): c for c in languages()}
    return by_lower.get(wanted.lower()) or by_lower.get(wanted.split("_")[0].lower())


def from_accept_language(header: str) -> str | None:
    """The first catalog the browser's ``Accept-Language`` asks for, by quality then order."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header[:MAX_ACCEPT_LANGUAGE].split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and tag.strip():
            ranked.append((-quality, position, tag.strip()))
    for _, _, tag in sorted(ranked):
        code = known(tag)
        if code is not None:
            return code
    return None


def choose(shared_lang: str | None, account: str | None, accept_language: str, default: str) -> str:
    """The precedence, as a pure function: a share link's ``?lang=``, the account's, the browser's, the server's."""
    return (
        known(shared_lang)
        or known(account)
        or from_accept_language(accept_language)
        or known(default)
        or SOURCE_LANGUAGE
    )


# ── the current request ───────────────────────────────────────────────────────────────────────

_SCOPE: ContextVar[Scope | None] = ContextVar("crumbless_request_scope", default=None)
_SPOKEN: ContextVar[str | None] = ContextVar("crumbless_language", default=None)


@contextmanager
def speaking(code: str) -> Iterator[Language]:
    """Everything inside speaks ``code`` (a catalog's name), whatever the request: for text made
    outside a page, such as a message sent to a user, and for the formats' tests."""
    chosen = language(known(code) or SOURCE_LANGUAGE)
    token = _SPOKEN.set(chosen.code)
    try:
        yield chosen
    finally:
        _SPOKEN.reset(token)


@contextmanager
def reading(scope: Scope) -> Iterator[None]:
    """Inside, ``gettext`` answers in the language of the request ``scope`` belongs to."""
    token = _SCOPE.set(scope if scope["type"] == "http" else None)
    try:
        yield
    finally:
        _SCOPE.reset(token)


class RequestLanguage:
    """ASGI middleware on the dashboard's routes: makes the request's language reachable from ``gettext``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with reading(scope):
            await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def shared_lang(scope: Scope) -> str | None:
    """A share link's ``?lang=``, if this is a share page and it names a catalog."""
    if not str(scope.get("path", "")).startswith(SHARE_PREFIX):
        return None
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
        if name == "lang":
            return known(value)
    return None


def _default(scope: Scope) -> str:
    app = scope.get("app")
    dashboard = getattr(getattr(app, "state", None), "dashboard", None)
    return str(getattr(getattr(dashboard, "settings", None), "locale", SOURCE_LANGUAGE))


def current() -> Language:
    """The language of the request being answered (the server's default outside one).

    Cached on the request, keyed by the account's choice: the guard learns the account after the
    first message may already have been needed (e.g. by an error before the session is read).
    """
    spoken = _SPOKEN.get()
    if spoken is not None:
        return language(spoken)
    scope = _SCOPE.get()
    if scope is None:
        return language(SOURCE_LANGUAGE)
    state: dict[str, Any] = scope.setdefault("state", {})
    auth = state.get("auth")
    account = getattr(getattr(auth, "user", None), "locale", None)
    cached = state.get("crumbless_language")
    if cached is not None and cached[0] == account:
        return cached[1]  # type: ignore[no-any-return]
    code = choose(shared_lang(scope), account, _header(scope, b"accept-language"), _default(scope))
    chosen = language(code)
    state["crumbless_language"] = (account, chosen)
    return chosen


def sticky_query() -> dict[str, str]:
    """``{"lang": …}`` when a share link was opened with ``?lang=``: its own links must keep it."""
    scope = _SCOPE.get()
    code = shared_lang(scope) if scope is not None else None
    return {"lang": code} if code else {}


def gettext(message: str) -> str:
    return str(current().translations.gettext(message))


def ngettext(singular: str, plural: str, n: int) -> str:
    return str(current().translations.ngettext(singular, plural, n))


def pgettext(context: str, message: str) -> str:
    """For one English word that other languages say two ways: "Import" is a button's verb and a
    column's noun, *Importar* and *Importación* in Spanish; the context tells the catalog which."""
    return str(current().translations.pgettext(context, message))


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return str(current().translations.npgettext(context, singular, plural, n))


def choices() -> Iterable[Language]:
    """Every catalog, for the account page's menu."""
    return (language(code) for code in languages())
