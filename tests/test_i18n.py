"""The dashboard in the reader's language: complete catalogs, every page in English and Spanish, who chooses.

The catalogs are checked against the code as it is now: messages are extracted from the source at
test time (``pybabel extract`` with the project's own configuration in ``pyproject.toml``), so a
string added anywhere without a Spanish translation fails here, not in front of a reader. The pages
are read from a real ``crumbless serve``: a Spanish page must hold no word that only the English
catalog has (the vocabulary is built from its messages and CLDR's English month and day names), so
a string left out of the catalogs — or a template that forgot to ask for its translation — shows.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from collector.config import ConfigError, Settings, load
from collector.localtime import day_number
from dashboard import formats
from dashboard.i18n import LOCALE_DIR, SOURCE_LANGUAGE, choose, languages, ngettext, speaking
from dashboard.ranges import PERIODS
from tests.browser import DESKTOP_CHROME, browser  # noqa: F401  (the fixture)
from tests.conftest import Server
from tests.dashboard_support import World, create_user, make_world, seed_history
from tests.live_server import REPO, LiveServer, add_site, crumbless_env
from tests.support import Clock, add_site as add_site_in_process, umami

NBSP = "\u00a0"


# ── the catalogs ──────────────────────────────────────────────────────────────────────────────


def _catalog(code: str) -> Catalog:
    with (LOCALE_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=code)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """Every message of the code and templates as of now, by the configuration in pyproject.toml."""
    pot = tmp_path_factory.mktemp("extract") / "messages.pot"
    done = subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-o", str(pot)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    with pot.open("rb") as source:
        catalog = read_po(source)
    assert len(catalog) > 200, "the extraction found the dashboard's messages"
    return catalog


def _forms(string: str | tuple[str, ...] | list[str]) -> list[str]:
    return [string] if isinstance(string, str) else list(string)


_PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|\{[a-z_]+(?:![rs])?\}")


@pytest.mark.parametrize("code", ["en", "es"])
def test_every_extracted_message_is_translated(extracted: Catalog, code: str) -> None:
    catalog = _catalog(code)
    wanted_forms = catalog.num_plurals
    problems = []
    for message in extracted:
        if not message.id:
            continue
        found = catalog.get(message.id, message.context)  # "Search" the channel is not "Search" the button
        forms = _forms(found.string) if found is not None else []
        if found is None or found.fuzzy or not all(forms):
            problems.append(f"untranslated: {message.id!r}")
            continue
        if message.pluralizable and len(forms) != wanted_forms:
            problems.append(f"{len(forms)} plural forms, {code} has {wanted_forms}: {message.id!r}")
        expected = set(_PLACEHOLDER.findall(" ".join(_forms(message.id))))
        # A singular form may say "one" in words ("last minute"); the general one names every value.
        if (
            not all(set(_PLACEHOLDER.findall(form)) <= expected for form in forms)
            or set(_PLACEHOLDER.findall(forms[-1])) != expected
        ):
            problems.append(f"placeholders differ from {sorted(expected)}: {forms!r}")
    assert not problems, f"{code} catalog, {len(problems)} problem(s):\n" + "\n".join(problems)


def test_the_template_and_catalogs_hold_no_stale_messages(extracted: Catalog) -> None:
    """dashboard/locale/messages.pot is what a new catalog is made from: it must be the code's messages."""
    current = {m.id for m in extracted if m.id}
    with (LOCALE_DIR / "messages.pot").open("rb") as source:
        template = {m.id for m in read_po(source) if m.id}
    assert template == current, "run `.venv/bin/pybabel extract` and `.venv/bin/pybabel update`"
    for code in ("en", "es"):
        stale = {m.id for m in _catalog(code) if m.id} - current  # obsolete (#~) entries are not iterated
        assert not stale, f"{code} catalog has messages the code no longer has: {sorted(map(str, stale))}"


def test_a_language_is_a_catalog() -> None:
    """The menu, ``CRUMBLESS_LOCALE`` and ``Accept-Language`` offer exactly the catalogs on disk."""
    on_disk = {path.parent.parent.name for path in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po")}
    assert {"en", "es"} <= on_disk and set(languages()) == on_disk


# ── formats ───────────────────────────────────────────────────────────────────────────────────


def test_numbers_dates_and_names_follow_the_language() -> None:
    monday = date(2026, 1, 5)
    expected = {
        "en": (
            "1,234.5",
            "12,345",
            "42.5%",
            "3m 5s",
            "1h 2m",
            "Mon, Jan 5, 2026",
            "1:00\u202fPM",
            "Germany",
            "Spanish (Mexico)",
            "1.2K",
            "−3.5 pp",
        ),
        "es": (
            "1.234,5",
            "12.345",
            f"42,5{NBSP}%",
            "3min 5s",
            "1h 2min",
            "lun, 5 ene 2026",
            "13:00",
            "Alemania",
            "español (México)",
            f"1,2{NBSP}mil",
            "−3,5 p. p.",
        ),
    }
    for code, wanted in expected.items():
        with speaking(code):
            got = (
                formats.number(1234.5),
                formats.number(12345),
                formats.percent(42.5),
                formats.duration(185),
                formats.duration(3725),
                formats.day_long(monday),
                formats.hour(datetime(2026, 1, 5, 13, 0, tzinfo=UTC)),
                formats.country("DE"),
                formats.language_name("es-MX"),
                formats.compact(1200),
                formats.signed_change(-3.5, points=True),
            )
        assert got == wanted, code
    with speaking("es"):
        assert formats.date_range(date(2026, 1, 5), date(2026, 1, 12)) == "5–12 ene 2026"
        assert formats.number(None) == formats.MISSING


def test_plural_forms_come_from_the_catalog() -> None:
    def visitors(n: int) -> str:
        return ngettext("{n} visitor", "{n} visitors", n).format(n=formats.number(n))

    with speaking("en"):
        assert [visitors(n) for n in (1, 2, 1_000_000)] == ["1 visitor", "2 visitors", "1,000,000 visitors"]
    with speaking("es"):  # CLDR's Spanish has a third form, for whole millions: "1.000.000 de visitantes"
        assert [visitors(n) for n in (1, 2, 1_000_000)] == ["1 visitante", "2 visitantes", "1.000.000 de visitantes"]


# ── who chooses ───────────────────────────────────────────────────────────────────────────────


def test_the_precedence_as_a_rule() -> None:
    assert choose(None, None, "", "en") == "en"
    assert choose(None, None, "es-MX,es;q=0.9,en;q=0.8", "en") == "es"
    assert choose(None, None, "fr-CA, fr;q=0.9, es;q=0.4", "en") == "es"  # the first the dashboard has
    assert choose(None, None, "en;q=0.5, es", "en") == "es"  # quality before order
    assert choose(None, None, "es;q=0, de", "en") == "en"  # q=0 means "not this one"
    assert choose(None, None, "de", "es") == "es"  # the server's default
    assert choose(None, "es", "en-US", "en") == "es"  # the account's choice before the browser's
    assert choose("en", "es", "es", "es") == "en"  # a share link's ?lang= before everything
    assert choose("xx", None, "es", "en") == "es"  # an unknown ?lang= is ignored
    assert choose(None, None, "x" * 5000, "en") == "en"


def _lang(page: httpx.Response | str) -> str:
    html = page if isinstance(page, str) else page.text
    found = re.search(r'<html lang="([^"]+)"', html)
    assert found, html[:200]
    return found.group(1)


@pytest.fixture
def world(server: Server) -> World:
    return make_world(server)


def test_browser_account_and_share_link_choose_in_that_order(world: World) -> None:
    stranger = world.anonymous()
    assert _lang(stranger.get("/login")) == "en"
    assert _lang(stranger.get("/login", headers={"Accept-Language": "es-US,es;q=0.9,en;q=0.5"})) == "es"
    assert "Iniciar sesión" in stranger.get("/login", headers={"Accept-Language": "es"}).text
    assert _lang(stranger.get("/login?lang=es")) == "en"  # ?lang= is a share link's, not every page's

    admin = world.admin
    english = {"Accept-Language": "en-US,en;q=0.9"}
    assert _lang(admin.get("/account", headers=english)) == "en"
    assert admin.post("/account/language", {"locale": "es"}).status_code == 303
    page = admin.get("/account", headers=english)
    assert _lang(page) == "es" and 'value="es" lang="es" selected' in page.text  # the account wins
    refused = admin.post("/account/language", {"locale": "tlh"})
    assert refused.status_code == 400 and "El panel no tiene el idioma tlh." in refused.text
    assert admin.post("/account/language", {"locale": ""}).status_code == 303
    assert _lang(admin.get("/account", headers=english)) == "en"  # back to the browser's

    site = world.site.website_id
    assert admin.post(f"/sites/{site}/share", {"enabled": "on"}).status_code == 303
    found = re.search(r"https?://[^/\s<]+(/share/[A-Za-z0-9_-]+)", admin.get(f"/sites/{site}/settings").text)
    assert found
    share = found.group(1)
    assert _lang(stranger.get(share, headers={"Accept-Language": "es"})) == "es"
    shared = stranger.get(f"{share}?lang=es", headers=english)
    assert _lang(shared) == "es"
    # Its links and forms keep the reader's language.
    assert f'href="{share}?period=7d&amp;lang=es"' in shared.text
    assert '<input type="hidden" name="lang" value="es">' in shared.text
    listed = stranger.get(f"{share}/list/page?period=7d&lang=es", headers=english)
    assert _lang(listed) == "es" and "lang=es" in listed.text
    assert _lang(stranger.get(f"{share}?lang=en", headers={"Accept-Language": "es"})) == "en"
    assert _lang(stranger.get(f"{share}?lang=zz", headers={"Accept-Language": "es"})) == "es"
    # The stats API answers machines, in English whatever they ask.
    token = world.token(admin)
    api = admin.get(
        f"/api/v1/sites/{site}/aggregate?period=fortnight",
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "es"},
    )
    assert api.status_code == 400 and "period must be one of" in api.text


def test_the_server_default_is_crumbless_locale(settings: Settings, clock: Clock) -> None:
    spanish = replace(settings, locale="es")
    site = add_site_in_process(spanish, "example.com")
    server = Server(spanish, clock, site)
    with server.client:
        stranger = make_world(server).anonymous()
        assert _lang(stranger.get("/login")) == "es"
        assert _lang(stranger.get("/login", headers={"Accept-Language": "de-AT, de"})) == "es"
        assert _lang(stranger.get("/login", headers={"Accept-Language": "en"})) == "en"


def test_crumbless_locale_names_a_catalog() -> None:
    assert load({"CRUMBLESS_LOCALE": "es"}).locale == "es"
    assert load({}).locale == SOURCE_LANGUAGE
    assert load({"CRUMBLESS_LOCALE": "ES"}).locale == "es"
    with pytest.raises(ConfigError, match="CRUMBLESS_LOCALE must be one of en, es.*, got 'tlh'"):
        load({"CRUMBLESS_LOCALE": "tlh"})


# ── every page, both languages, a real server ─────────────────────────────────────────────────

PASSWORD = "i18n-test-password"
ADMIN, VIEWER = "ana", "luis"  # names that are no word of either catalog


class _Visible(HTMLParser):
    """The words a person reads: text and the attributes read aloud or shown (title, aria-label,
    placeholder), leaving out values the page only shows — scripts, code and snippets, a list's
    values, the time zone menu, and anything marked as another language (the language menu)."""

    SKIP = {"script", "style", "pre", "code"}
    VOID = {"br", "img", "input", "link", "meta", "hr", "rect", "line", "polyline", "polygon", "circle", "path"}

    def __init__(self, page_lang: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_lang = page_lang
        self.stack: list[bool] = []  # per open element: is it (or an ancestor) skipped?
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        classes = (named.get("class") or "").split()
        skipped = (self.stack[-1] if self.stack else False) or tag in self.SKIP or "text" in classes
        skipped = skipped or named.get("id") == "timezone"  # zone names: "America/Los_Angeles"
        skipped = skipped or (named.get("lang") not in (None, self.page_lang) and tag != "html")
        if not skipped:
            self.parts += [v for k, v in attrs if k in ("title", "aria-label", "placeholder", "alt") and v]
        if tag not in self.VOID:
            self.stack.append(skipped)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)


def visible_text(html: str, lang: str) -> str:
    parser = _Visible(lang)
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


_WORD = re.compile(r"[^\W\d_]{3,}")


def _words(text: str) -> set[str]:
    text = re.sub(r"<[^>]+>|%\([a-z_]+\)s|\{[a-z_!]+\}|&[a-z]+;", " ", text)
    return {w.lower() for w in _WORD.findall(text)}


def _calendar_words(code: str) -> set[str]:
    locale = Locale.parse(code)
    names: set[str] = set()
    for table in (locale.months, locale.days):
        for context in table.values():
            for width in ("wide", "abbreviated"):
                names |= {str(n) for n in context.get(width, {}).values()}
    return _words(" ".join(names))


@pytest.fixture(scope="module")
def english_only() -> set[str]:
    """Words the English catalog and calendar use and the Spanish ones never do."""
    english, spanish = _catalog("en"), _catalog("es")
    en_words: set[str] = set(_calendar_words("en"))
    es_words: set[str] = set(_calendar_words("es"))
    for message in english:
        if message.id:
            en_words |= _words(" ".join(_forms(message.id)))
    for message in spanish:
        if message.id:
            es_words |= _words(" ".join(_forms(message.string)))
    return en_words - es_words


# Values a page shows as they are: host names, paths and URLs (any word with a dot or a slash), and
# the query string's own words, which an error message names (`period must be one of today, …`).
_VALUE = re.compile(r"\S*[./]\S*")
_URL_WORDS = re.compile(r"\b(?:" + "|".join(PERIODS) + r")\b")


def _without_values(text: str) -> str:
    return _URL_WORDS.sub(" ", _VALUE.sub(" ", text))


@dataclass
class Pages:
    server: LiveServer
    site: str
    empty: str
    share: str

    def client(self, lang: str) -> httpx.Client:
        http = httpx.Client(
            base_url=self.server.base_url, trust_env=False, headers={"Accept-Language": lang}, timeout=10
        )
        return http


def _log_in(http: httpx.Client, base_url: str, name: str) -> str:
    """Log in through the form; returns the session's CSRF token for later forms."""
    token = re.search(r'name="csrf" value="([^"]+)"', http.get("/login").text)
    assert token
    form = {"name": name, "password": PASSWORD, "csrf": token.group(1), "next": "/sites"}
    assert http.post("/login", data=form, headers={"Origin": base_url}).status_code == 303
    found = re.search(r'name="csrf" value="([^"]+)"', http.get("/account").text)
    assert found
    return found.group(1)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, geo_db: Path) -> Iterator[Pages]:
    work = tmp_path_factory.mktemp("i18n-live")
    env = crumbless_env(work / "data", geo_db, flush_interval="0.5", access_log="off")
    site = add_site(env, "example.com", cwd=work)
    empty = add_site(env, "vacio.example", cwd=work)
    database = work / "data" / "crumbless.db"
    create_user(database, ADMIN, PASSWORD, "admin")
    create_user(database, VIEWER, PASSWORD, "viewer")
    today = day_number(datetime.now(UTC).date())
    seed_history(database, 1, today - 40, 40)
    server = LiveServer(env, work)
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, trust_env=False) as http:
            csrf = _log_in(http, server.base_url, ADMIN)
            shared = http.post(
                f"/sites/{site}/share", data={"csrf": csrf, "enabled": "on"}, headers={"Origin": server.base_url}
            )
            assert shared.status_code == 303
            found = re.search(r"(/share/[A-Za-z0-9_-]+)", http.get(f"/sites/{site}/settings").text)
            assert found
        yield Pages(server, site, empty, found.group(1))
    finally:
        server.kill()


# (name, path, status, logged in)
PAGES = [
    ("login", "/login", 200, False),
    ("sites", "/sites", 200, True),
    ("overview", "/sites/{site}?period=30d", 200, True),
    ("overview, hourly", "/sites/{site}?period=yesterday", 200, True),
    ("overview, empty site", "/sites/{empty}", 200, True),
    ("full list", "/sites/{site}/list/page?period=30d&page=2", 200, True),
    ("full list of countries", "/sites/{site}/list/country?period=30d", 200, True),
    ("full list, nothing matches", "/sites/{site}/list/source?q=zzzz", 200, True),
    ("settings", "/sites/{site}/settings", 200, True),
    ("imports and exports", "/sites/{site}/imports", 200, True),
    ("site form", "/sites/new", 200, True),
    ("users", "/users", 200, True),
    ("account", "/account", 200, True),
    ("share view", "{share}?period=30d", 200, False),
    ("share view, full list", "{share}/list/source?period=30d", 200, False),
    ("error page", "/sites/no-such-site", 404, True),
    ("error page, bad range", "/sites/{site}?period=fortnight", 400, True),
    ("error page, share link", "/share/no-such-token", 404, False),
]


@pytest.fixture(scope="module")
def rendered(pages: Pages) -> dict[tuple[str, str], str]:
    """Every page, fetched once per language."""
    result: dict[tuple[str, str], str] = {}
    for lang in ("en", "es"):
        with pages.client(lang) as anonymous, pages.client(lang) as user:
            _log_in(user, pages.server.base_url, ADMIN)
            for name, path, status, logged_in in PAGES:
                url = path.format(site=pages.site, empty=pages.empty, share=pages.share)
                response = (user if logged_in else anonymous).get(url)
                assert response.status_code == status, (lang, name, response.text[:300])
                result[(lang, name)] = response.text
    return result


@pytest.mark.parametrize("name", [p[0] for p in PAGES])
def test_no_english_is_left_on_the_spanish_page(
    rendered: dict[tuple[str, str], str], english_only: set[str], name: str
) -> None:
    spanish, english = rendered[("es", name)], rendered[("en", name)]
    assert _lang(spanish) == "es" and _lang(english) == "en"
    text = visible_text(spanish, "es")
    left = sorted(_words(_without_values(text)) & english_only)
    assert not left, f"English on the Spanish {name} page: {left}\n{text}"
    # The check bites: the same page in English is full of those words.
    assert len(_words(_without_values(visible_text(english, "en"))) & english_only) >= 3
    # Numbers as Spanish writes them: no "1,234" (CLDR's es groups with "." and writes decimals with ",").
    assert not re.search(r"\d,\d{3}(?!\d)", text), re.findall(r".{20}\d,\d{3}.{10}", text)


def test_the_chart_reads_in_the_language(rendered: dict[tuple[str, str], str]) -> None:
    es_months = {str(m).lower() for m in Locale.parse("es").months["format"]["abbreviated"].values()}
    en_months = {str(m).lower() for m in Locale.parse("en").months["format"]["abbreviated"].values()}
    for lang, months in (("es", es_months), ("en", en_months)):
        labels = re.findall(r'<text class="xlabel[^"]*"[^>]*>([^<]+)</text>', rendered[(lang, "overview")])
        assert len(labels) >= 4
        assert all(set(_words(label)) <= months and _words(label) for label in labels), (lang, labels)
    hourly = re.findall(r'<text class="xlabel[^"]*"[^>]*>([^<]+)</text>', rendered[("en", "overview, hourly")])
    assert hourly and all(re.fullmatch(r"\d{1,2}\s?[AP]M", label) for label in hourly), hourly
    hourly_es = re.findall(r'<text class="xlabel[^"]*"[^>]*>([^<]+)</text>', rendered[("es", "overview, hourly")])
    assert hourly_es and all(re.fullmatch(r"\d{1,2}:00", label) for label in hourly_es), hourly_es
    # Axis ticks (about 1,100 pageviews a day: the top tick is in thousands) and a slot's hover text too.
    for lang, thousands in (("es", f"{NBSP}mil"), ("en", "K")):
        axis = re.search(r'<div class="yaxis"[^>]*>(.*?)</div>', rendered[(lang, "overview")], re.S)
        assert axis and thousands in axis.group(1), (lang, axis)
    assert re.search(
        r"<title>[a-záéíóú]{3}, \d{1,2} [a-z]{3} \d{4}: [\d.]+ visitantes, [\d.]+ páginas vistas</title>",
        rendered[("es", "overview")],
    )


def test_spanish_pages_use_spanish_figures(rendered: dict[tuple[str, str], str]) -> None:
    overview = rendered[("es", "overview")]
    visitors = re.search(r'id="metric-visitors">([^<]+)<', overview)
    bounce = re.search(r'id="metric-bounce_rate">([^<]+)<', overview)
    assert visitors and re.fullmatch(r"\d{1,3}(\.\d{3})+", visitors.group(1)), visitors
    assert bounce and bounce.group(1).endswith(f"{NBSP}%"), bounce
    english = re.search(r'id="metric-visitors">([^<]+)<', rendered[("en", "overview")])
    assert english and english.group(1) == visitors.group(1).replace(".", ",")
    assert (
        "Alemania" in rendered[("es", "full list of countries")]
        and "Germany" in rendered[("en", "full list of countries")]
    )


def test_realtime_keeps_the_plural_right_as_it_moves(browser: Any, pages: Pages) -> None:  # noqa: F811
    """The polling script rewrites the number and picks the words' plural form with CLDR's rules (Intl)."""
    context = browser.new_context(locale="es", extra_http_headers={"Accept-Language": "es"})
    page = context.new_page()
    page.goto(f"{pages.server.base_url}{pages.share}")
    words = page.locator("#rt-visitors-words")
    assert page.locator("#rt-visitors").inner_text() == "0"
    assert words.inner_text() == "visitantes en los últimos 5 minutos"
    body = umami(pages.site, "https://example.com/hola")
    headers = {"User-Agent": DESKTOP_CHROME, "Content-Type": "text/plain", "X-Forwarded-For": "198.51.100.44"}
    with httpx.Client(trust_env=False) as http:
        assert http.post(f"{pages.server.base_url}/api/send", content=body, headers=headers).status_code == 200
    deadline = time.monotonic() + 15  # the page polls every 5 s; the strict CSP rules out wait_for_function
    while page.locator("#rt-visitors").inner_text() != "1":
        assert time.monotonic() < deadline, "realtime did not move after a beacon"
        page.wait_for_timeout(250)
    assert words.inner_text() == "visitante en los últimos 5 minutos"
    context.close()


@pytest.mark.parametrize("language", ["en", "es", "fr", "de", "hi", "ar"])
def test_whole_numbers_are_written_exactly_as_babel_writes_them(language: str) -> None:
    """The fast path for whole numbers (``formats._whole_numbers``) gives Babel's text, or is not
    taken: Indian grouping (hi) and Arabic digits and signs (ar) are left to Babel."""
    locale = Locale.parse(language)
    pattern = formats._pattern(locale, "decimal", 2)
    fast = formats._whole_numbers(locale)
    assert (fast is None) == (language in ("hi", "ar"))
    rng = random.Random(language)
    if fast is None:
        return
    drawn = [rng.randrange(-(10 ** rng.randrange(1, 13)), 10**12) for _ in range(2000)]
    for n in [0, 1, 999, 1000, 10**9 + 7, -(10**6), *drawn]:
        assert fast(n) == str(pattern.apply(n, locale)), n

