"""tracker.js end to end: a real Chromium visits a test website that embeds the script from a real
``crumbless serve``, and the counters read back through ``crumbless stats`` are exactly what the
visit should have produced.

Two origins, as in production: the collector on ``127.0.0.1:<port>`` and the test website
(``tests/tracker_site/``, served by a small threaded HTTP server) on another port under made-up
host names (``site.test``, ``hash.test``…) that Chromium resolves to 127.0.0.1 through
``--host-resolver-rules``. Every other host name resolves to nothing and every request to a
host that is not ours is answered by Playwright itself, so no traffic leaves the machine. The
rules also let the tests show the tracker's default exclusion of ``localhost`` separately.

The browser is launched here rather than through ``tests/browser.py``'s fixture because it needs
those resolver rules and Chromium's back/forward cache, which Playwright switches off by default.
Pages get an ordinary desktop Chrome User-Agent: "HeadlessChrome" is (rightly) dropped as a bot.
"""

from __future__ import annotations

import html
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser import DESKTOP_CHROME, chromium as launch_chromium
from tests.live_server import REPO, LiveServer, add_site, crumbless_env, free_port, stats
from tests.npm_packages import PLAUSIBLE, UMAMI, package_file
from tests.support import daily_rows

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, BrowserContext, Page, Request, Response, Route  # noqa: E402

SITE_DIR = Path(__file__).resolve().parent / "tracker_site"
ARTIFACTS = REPO / "test-artifacts"
# Non-default paths on purpose: the script must learn its collect path from the server.
SCRIPT_PATH = "/assets/app.js"
COLLECT_PATH = "/assets/log"
FLUSH_S = 0.2
HOSTS = ("site.test", "hash.test", "umami.test", "plausible.test", "options.test", "umami-real.test")
RESOLVER = ",".join([*(f"MAP {h} 127.0.0.1" for h in HOSTS), "MAP * ~NOTFOUND", "EXCLUDE localhost", "EXCLUDE 127.0.0.1"])
WIRE_FIELDS = {"n", "u", "r", "w", "h", "id", "p", "e", "sd"}


# ── the two servers ──────────────────────────────────────────────────────────────────────────


@dataclass
class Collector:
    server: LiveServer
    env: dict[str, str]
    workdir: Path
    site_ids: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.base_url

    def stats(self, domain: str) -> dict[str, Any]:
        return stats(self.env, domain, self.workdir)

    def rows(self, domain: str) -> dict[tuple[int, str, str], dict[str, int]]:
        """Raw daily rows (engaged ms, scroll sums), which ``stats`` only shows rounded."""
        database = Path(self.env["CRUMBLESS_DATA_DIR"]) / "crumbless.db"
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            (number,) = db.execute("SELECT id FROM sites WHERE domain = ?", (domain,)).fetchone()
        db.close()
        return daily_rows(database, int(number))


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory, geo_db: Path) -> Iterator[Collector]:
    workdir = tmp_path_factory.mktemp("tracker-e2e")
    env = crumbless_env(
        workdir / "data", geo_db, flush_interval=str(FLUSH_S), script_path=SCRIPT_PATH, collect_path=COLLECT_PATH
    )
    site_ids = {host: add_site(env, host, cwd=workdir) for host in HOSTS}
    server = LiveServer(env, workdir, name="tracker")
    server.start()
    try:
        yield Collector(server, env, workdir, site_ids)
    finally:
        server.kill()


class SiteHandler(SimpleHTTPRequestHandler):
    """Serves tests/tracker_site with the collector's URL and each host's website id filled in, and
    other projects' trackers (fetched by tests/npm_packages.py) under /vendor/."""

    server: "WebSite"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        if path in self.server.vendor:
            return self.reply(self.server.vendor[path].read_bytes(), "text/javascript")
        if path == "/" or path.startswith("/app/"):
            path = "/index.html"
        file = (SITE_DIR / path.lstrip("/")).resolve()
        if SITE_DIR not in file.parents or not file.is_file():
            return self.send_error(HTTPStatus.NOT_FOUND)
        if file.parent.name == "files":
            return self.reply(file.read_bytes(), "application/octet-stream", {"Content-Disposition": "attachment"})
        if file.suffix != ".html":
            return self.reply(file.read_bytes(), "text/css" if file.suffix == ".css" else "application/octet-stream")
        host = (self.headers.get("Host") or "").split(":")[0]
        values = {
            "CRUMBLESS": self.server.collector_url,
            "SCRIPT_URL": self.server.collector_url + SCRIPT_PATH,
            "SITE_ID": self.server.site_ids.get(host, self.server.site_ids["site.test"]),
            "DOMAIN": host,
            "ATTRS": parse_qs(parts.query).get("attrs", [""])[0],
        }
        text = file.read_text()
        for name, value in values.items():
            text = text.replace("{{%s}}" % name, value if name == "ATTRS" else html.escape(value))
        self.reply(text.encode(), "text/html; charset=utf-8")

    def reply(self, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class WebSite(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, collector: Collector) -> None:
        super().__init__(("127.0.0.1", free_port()), SiteHandler)
        self.collector_url = collector.url
        self.site_ids = collector.site_ids
        self.vendor: dict[str, Path] = {}  # URL path -> script, added by the tests that load one

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.server_address[1]}{path}"


@pytest.fixture(scope="module")
def plausible_js() -> Path:
    """Plausible's official npm tracker (an ES module), unchanged."""
    return package_file(PLAUSIBLE, "plausible.js")


@pytest.fixture(scope="module")
def umami_js() -> Path:
    """Umami's tracker as its npm package ships it: the source its build only minifies."""
    return package_file(UMAMI, "src/tracker/index.js")


@pytest.fixture(scope="module")
def site(collector: Collector) -> Iterator[WebSite]:
    server = WebSite(collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with launch_chromium([f"--host-resolver-rules={RESOLVER}"], ignore_default_args=["--disable-back-forward-cache"]) as browser:
        yield browser


# ── watching a browser context ───────────────────────────────────────────────────────────────


@dataclass
class Traffic:
    """Every beacon a context sent to the collector, and what came back."""

    collector_url: str
    beacons: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    set_cookies: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext, own_hosts: tuple[str, ...]) -> None:
        def on_request(request: Request) -> None:
            if self.is_beacon(request.url):
                self.beacons.append(json.loads(request.post_data or "{}"))

        def on_response(response: Response) -> None:
            if not response.url.startswith(self.collector_url):
                return
            if self.is_beacon(response.url):
                self.statuses.append(response.status)
            # Not response.headers: Playwright leaves cookie headers out of that one.
            cookie = response.header_value("set-cookie")
            if cookie:
                self.set_cookies.append(cookie)

        def answer_foreign(route: Route) -> None:
            # The outside world, played by Playwright: nothing leaves the machine.
            self.foreign.append(route.request.url)
            route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>Elsewhere</title><p>Elsewhere")

        context.on("request", on_request)
        context.on("response", on_response)
        context.route(lambda url: urlsplit(url).hostname not in own_hosts, answer_foreign)

    def is_beacon(self, url: str) -> bool:
        return url.startswith(self.collector_url) and urlsplit(url).path in (COLLECT_PATH, "/api/event", "/api/send")

    def of(self, name: str) -> list[dict[str, Any]]:
        return [b for b in self.beacons if b.get("n") == name]

    def wait_answered(self, page: Page, at_least: int, timeout: float = 10) -> None:
        """Beacons are sent without waiting; wait until ``at_least`` have been answered.

        Waits with Playwright's own timer: the sync API delivers events only inside its calls.
        """
        deadline = time.monotonic() + timeout
        while len(self.statuses) < at_least:
            if time.monotonic() > deadline:
                pytest.fail(f"only {len(self.statuses)} of {at_least} beacons were answered: {self.beacons}")
            page.wait_for_timeout(50)


OWN_HOSTS = (*HOSTS, "127.0.0.1", "localhost")


def new_context(chromium: Browser, collector: Collector, **options: Any) -> tuple[BrowserContext, Traffic]:
    context = chromium.new_context(user_agent=DESKTOP_CHROME, viewport={"width": 1280, "height": 720}, **options)
    traffic = Traffic(collector.url)
    traffic.watch(context, OWN_HOSTS)
    return context, traffic


def settle(page: Page, traffic: Traffic, beacons: int) -> None:
    """Until ``beacons`` beacons were answered, then a few flush intervals so they are stored.

    Beacons sent as a page is left are answered to no page: callers count only the others and
    then read the counters with ``wait_for``.
    """
    traffic.wait_answered(page, beacons)
    page.wait_for_timeout(3 * FLUSH_S * 1000)


def hide(page: Page) -> None:
    """What a browser does when the tab goes to the background (headless tabs never do)."""
    page.evaluate(
        """() => {
            Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
            Object.defineProperty(document, "hidden", {value: true, configurable: true});
            document.dispatchEvent(new Event("visibilitychange", {bubbles: true}));
        }"""
    )


def assert_nothing_stored(context: BrowserContext, page: Page) -> None:
    assert context.cookies() == []
    stored = page.evaluate(
        """async () => ({
            local: localStorage.length,
            session: sessionStorage.length,
            idb: (await indexedDB.databases()).length,
        })"""
    )
    assert stored == {"local": 0, "session": 0, "idb": 0}


def top(result: dict[str, Any], dim: str, key: str = "pageviews") -> dict[str, int]:
    return {row["value"]: row[key] for row in result["top"][dim]}


def wait_for(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict[str, Any]:
    """Counters are flushed every FLUSH_S; read until ``done`` or the deadline, and return the last read."""
    deadline = time.monotonic() + timeout
    while True:
        result = read()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(FLUSH_S)


# ── the tests ────────────────────────────────────────────────────────────────────────────────


def test_a_visit_through_an_spa_is_counted_exactly(chromium: Browser, collector: Collector, site: WebSite) -> None:
    context, traffic = new_context(chromium, collector)
    page = context.new_page()
    page.goto(site.url("site.test", "/?utm_source=newsletter&secret=1"))
    page.wait_for_function("window.crumbless")
    assert page.evaluate("Object.keys(window).filter(k => !window.__globalsBefore.includes(k) && k !== '__globalsBefore')") == ["crumbless"]
    assert page.evaluate("typeof window.umami") == "undefined"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tracker-site.png"))

    # Read and scroll to the bottom of the long home page, then navigate inside the app.
    page.mouse.wheel(0, 20000)
    page.wait_for_function("scrollY > 0")
    page.wait_for_timeout(300)
    page.click("#nav-step-1")                                      # pushState: /app/step-1
    page.evaluate("go('/app/step-1?tab=2', true)")                 # replaceState, same path: nothing
    page.evaluate("go('/app/step-2', true)")                       # replaceState, new path: /app/step-2
    page.evaluate("history.back()")                                # popstate: / again
    page.wait_for_url("**/?utm_source=newsletter&secret=1")
    page.evaluate("history.forward()")                             # popstate: /app/step-2 again
    page.wait_for_url("**/app/step-2")
    page.click("#signup span")                                     # tagged element (clicked inside it)
    page.evaluate("crumbless.track('Video Play', {length: 3, autoplay: false})")
    page.click("#mail")                                            # no host: not an outbound link
    page.click("#outbound")                                        # same tab, to "example.org"
    page.wait_for_url("https://example.org/**")
    page.go_back(wait_until="commit")                              # back/forward cache: /app/step-2
    page.wait_for_function("window.restored")                      # (a restore fires no load event)
    assert page.url.endswith("/app/step-2") and page.evaluate("window.restored") == 1
    with page.expect_download():
        page.click("#download")
    page.click("#cta")                                             # tagged link: event, then navigation
    page.wait_for_url("**/thanks.html")
    page.wait_for_function("window.crumbless")
    hide(page)

    pageviews = {"/": 2, "/app/step-1": 1, "/app/step-2": 3, "/thanks.html": 1}
    events = {"Signup": 1, "Video Play": 1, "Outbound Link: Click": 1, "File Download": 1, "CTA": 1}
    # As many answers as page views and events: the engagement pings make up for the beacons that
    # left with their page (answered to no page), and the counters are read until complete anyway.
    settle(page, traffic, sum(pageviews.values()) + sum(events.values()))
    result = wait_for(
        lambda: collector.stats("site.test"),
        lambda r: r["totals"]["pageviews"] >= 7 and r["totals"]["events"] >= 5 and len(r["top"]["event_prop"]) >= 6,
    )

    assert len(traffic.of("pageview")) == 7, [b["u"] for b in traffic.of("pageview")]
    assert top(result, "page") == pageviews
    totals = result["totals"]
    assert (totals["visitors"], totals["visits"], totals["pageviews"], totals["events"]) == (1, 1, 7, 5)
    assert totals["bounce_rate"] == 0
    assert top(result, "event", "events") == events
    props = {row["value"]: row["events"] for row in result["top"]["event_prop"]}
    origin = site.url("site.test", "")
    assert props == {
        "Signup: plan = pro": 1,
        "Video Play: length = 3": 1,
        "Video Play: autoplay = false": 1,
        "Outbound Link: Click: url = https://example.org/elsewhere?ref=notes": 1,
        f"File Download: url = {origin}/files/report.pdf": 1,
        "CTA: place = aside": 1,
    }
    assert top(result, "utm_source", "visits") == {"newsletter": 1}
    assert top(result, "entry_page", "visits") == {"/": 1}
    assert top(result, "exit_page", "exits") == {"/thanks.html": 1}

    # Engagement: time and scroll depth on the pages where they happened.
    rows = collector.rows("site.test")
    day = next(day for day, dim, _ in rows if dim == "total")
    home = rows[(day, "page", "/")]
    assert home["engaged_ms"] > 0 and home["scroll_n"] >= 1
    assert home["scroll_sum"] >= 100, "the home page was read to the bottom"
    assert rows[(day, "page", "/thanks.html")]["engaged_ms"] > 0

    # What left the browser: only the documented fields; no fragment outside hash mode.
    assert {key for beacon in traffic.beacons for key in beacon} <= WIRE_FIELDS
    assert all(b["id"] == collector.site_ids["site.test"] for b in traffic.beacons)
    assert all("#" not in b["u"] for b in traffic.beacons)
    assert set(traffic.statuses) == {202}
    assert traffic.set_cookies == []
    assert traffic.foreign == ["https://example.org/elsewhere?ref=notes"]
    assert_nothing_stored(context, page)
    context.close()


def test_hash_routes_are_pages_in_hash_mode(chromium: Browser, collector: Collector, site: WebSite) -> None:
    context, traffic = new_context(chromium, collector)
    page = context.new_page()
    page.goto(site.url("hash.test", "/hash.html#/start"))
    page.wait_for_function("window.crumbless")
    page.click("#to-a")                                            # hashchange (and popstate): #/a
    page.click("#to-b")                                            # #/b, its query is not the route
    page.evaluate("history.back()")                                # #/a again
    page.wait_for_function("location.hash == '#/a'")
    page.evaluate("history.replaceState(null, '', '#/a')")         # same route: nothing
    settle(page, traffic, 4)
    result = wait_for(lambda: collector.stats("hash.test"), lambda r: r["totals"]["pageviews"] >= 4)
    assert top(result, "page") == {"/hash.html#/start": 1, "/hash.html#/a": 2, "/hash.html#/b": 1}
    assert result["totals"]["visits"] == 1
    assert all(beacon["h"] is True for beacon in traffic.beacons)
    context.close()


def test_a_page_moved_from_umami_needs_only_a_new_script_tag(chromium: Browser, collector: Collector, site: WebSite) -> None:
    context, traffic = new_context(chromium, collector)
    page = context.new_page()
    page.goto(site.url("umami.test", "/umami.html"))
    page.wait_for_function("window.umami")
    page.evaluate("umami.track('Umami Call', {plan: 'free', seats: 5})")
    page.click("#umami-button")
    settle(page, traffic, 3)
    result = wait_for(lambda: collector.stats("umami.test"), lambda r: r["totals"]["events"] >= 2)
    assert top(result, "page") == {"/umami.html": 1}
    assert top(result, "event", "events") == {"Umami Call": 1, "Umami Click": 1}
    assert {row["value"] for row in result["top"]["event_prop"]} == {
        "Umami Call: plan = free",
        "Umami Call: seats = 5",
        "Umami Click: color = blue",
    }
    assert_nothing_stored(context, page)
    context.close()


def open_vendor_page(
    chromium: Browser, collector: Collector, site: WebSite, script: tuple[str, Path], url: str, ready: str
) -> tuple[BrowserContext, Traffic, Page]:
    """A page of ``site`` loading another project's tracker, ``script`` = (its path there, the file),
    once ``ready`` (a JS expression) holds."""
    site.vendor[script[0]] = script[1]
    context, traffic = new_context(chromium, collector)
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(ready)
    return context, traffic, page


def test_plausibles_own_npm_tracker_counts_through_api_event(
    chromium: Browser, collector: Collector, site: WebSite, plausible_js: Path
) -> None:
    context, traffic, page = open_vendor_page(
        chromium, collector, site, ("/vendor/plausible.js", plausible_js), site.url("plausible.test", "/plausible.html"),
        "typeof window.plausibleTrack == 'function'",
    )
    page.evaluate("history.pushState({}, '', '/plausible/next')")
    page.evaluate("plausibleTrack('Signup', {props: {plan: 'pro'}})")
    page.wait_for_timeout(200)
    hide(page)                                                     # Plausible's engagement ping
    page.click("#outbound")
    page.wait_for_url("https://example.org/**")
    # The last beacon left with the page: its answer reaches no page, so wait for the counters.
    settle(page, traffic, 5)
    result = wait_for(lambda: collector.stats("plausible.test"), lambda r: r["totals"]["events"] >= 2)
    assert top(result, "page") == {"/plausible.html": 1, "/plausible/next": 1}
    assert (result["totals"]["visits"], result["totals"]["events"]) == (1, 2)
    assert top(result, "event", "events") == {"Signup": 1, "Outbound Link: Click": 1}
    assert {row["value"] for row in result["top"]["event_prop"]} == {
        "Signup: plan = pro",
        "Outbound Link: Click: url = https://example.org/from-plausible",
    }
    rows = collector.rows("plausible.test")
    assert sum(row["engaged_ms"] for (_, dim, _), row in rows.items() if dim == "page") > 0
    assert all(urlsplit(b["u"]).hostname == "plausible.test" for b in traffic.beacons)
    context.close()


# Each case: where the page is, the script tag's extra attributes, what the page is made to say
# about itself before any script runs, and whether anything may leave the browser.
GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
DNT = "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})"
PRERENDERING = "Object.defineProperty(document, 'prerendering', {value: true, configurable: true})"
CASES = [
    ("localhost", "", "", False),
    ("127.0.0.1", "", "", False),
    ("localhost", "data-allow-local", "", True),
    ("options.test", "data-respect-dnt", DNT, False),
    ("options.test", "data-respect-dnt", GPC, False),
    ("options.test", "data-respect-dnt", "", True),
    ("options.test", "", DNT, True),
    ("options.test", 'data-domains="site.test,elsewhere.test"', "", False),
    ("options.test", 'data-domains="site.test, options.test"', "", True),
    ("options.test", "data-before-send=cancelEverything", "", False),
    ("options.test", "data-before-send=renamePage", "", True),
    ("options.test", "", PRERENDERING, False),
]
# Records every send synchronously (the tracker calls fetch while it runs), so a case that must
# send nothing is known at once instead of after a wait; the network is watched as well.
PROBE = """
window.__sent = [];
const realFetch = window.fetch, realBeacon = navigator.sendBeacon.bind(navigator);
window.fetch = (url, init) => { window.__sent.push(String(url)); return realFetch(url, init); };
navigator.sendBeacon = (url, data) => { window.__sent.push(String(url)); return realBeacon(url, data); };
"""


def test_exclusions_send_nothing_and_their_controls_send(chromium: Browser, collector: Collector, site: WebSite) -> None:
    context, traffic = new_context(chromium, collector)
    context.add_init_script(PROBE)
    outcomes = []
    for host, attrs, init, expected in CASES:
        page = context.new_page()
        if init:
            page.add_init_script(f"{init};")
        page.goto(site.url(host, "/options.html?attrs=" + attrs.replace('"', "%22").replace(" ", "%20")))
        page.wait_for_function("window.crumbless")
        page.evaluate("crumbless.track('Still Works')")           # the API never throws
        sent = page.evaluate("window.__sent")
        outcomes.append((host, attrs, init[:40], bool(sent)))
        if expected:
            assert len(sent) == 2 and all(url.endswith(COLLECT_PATH) for url in sent), (host, attrs, init, sent)
        page.close()
    assert outcomes == [(h, a, i[:40], e) for h, a, i, e in CASES]
    assert len(traffic.beacons) == 2 * sum(expected for *_, expected in CASES)
    context.close()


def test_a_prerendered_page_counts_once_it_is_shown(chromium: Browser, collector: Collector, site: WebSite) -> None:
    context, traffic = new_context(chromium, collector)
    context.add_init_script(f"{PRERENDERING};")
    page = context.new_page()
    page.goto(site.url("options.test", "/options.html"))
    page.wait_for_function("window.crumbless")
    page.wait_for_timeout(300)
    assert traffic.beacons == []
    page.evaluate(
        """() => {
            Object.defineProperty(document, "prerendering", {value: false, configurable: true});
            document.dispatchEvent(new Event("prerenderingchange"));
        }"""
    )
    traffic.wait_answered(page, 1)
    assert [b["n"] for b in traffic.beacons] == ["pageview"]
    context.close()


def test_options_shape_what_is_sent(chromium: Browser, collector: Collector, site: WebSite) -> None:
    context, traffic = new_context(chromium, collector)
    page = context.new_page()
    attrs = "data-exclude-search%20data-file-types=epub,zip%20data-before-send=renamePage"
    page.goto(site.url("options.test", f"/options.html?attrs={attrs}#section"))
    page.wait_for_function("window.crumbless")
    with page.expect_download():
        page.click("#epub")
    traffic.wait_answered(page, 2)
    pageview, download = traffic.beacons
    assert pageview["u"] == site.url("options.test", "/renamed")
    assert (download["n"], download["p"]) == ("File Download", {"url": site.url("options.test", "/files/book.epub")})
    context.close()


# Umami 3's performance report ({"type": "performance"}, sent by its script with data-performance),
# written out as that script sends it: the Umami on npm (2.10) predates data-performance.
UMAMI_3_PERFORMANCE = """async ({endpoint, website}) => {
    const payload = {website, screen: `${screen.width}x${screen.height}`, language: navigator.language,
        title: document.title, hostname: location.hostname, url: location.href, referrer: "",
        ttfb: 12.5, fcp: 80.1, lcp: 120.4, cls: 0.02, inp: 24, duration: 1500};
    const response = await fetch(endpoint, {method: "POST", keepalive: true, credentials: "omit",
        body: JSON.stringify({type: "performance", payload}),
        headers: {"Content-Type": "application/json", "x-umami-website-id": website,
                  "x-umami-hostname": location.hostname}});
    return {status: response.status, body: await response.json()};
}"""


def test_umamis_own_script_counts_through_api_send(
    chromium: Browser, collector: Collector, site: WebSite, umami_js: Path
) -> None:
    context, traffic, page = open_vendor_page(
        chromium, collector, site, ("/vendor/umami.js", umami_js), site.url("umami-real.test", "/umami-real.html"),
        "window.umami",
    )
    traffic.wait_answered(page, 1)                                 # the page view, on load
    page.evaluate("history.pushState({}, '', '/umami/next')")      # Umami counts it 300 ms later
    traffic.wait_answered(page, 2)
    page.evaluate("umami.track('Signup', {plan: 'pro', seats: 3})")
    page.evaluate("umami.track('Nested', {cart: {items: 2}, tags: ['a', 'b']})")
    page.click("#buy")                                             # data-umami-event
    page.evaluate("umami.identify({plan: 'pro'})")                 # answered, ignored
    website = collector.site_ids["umami-real.test"]
    performance = page.evaluate(UMAMI_3_PERFORMANCE, {"endpoint": f"{collector.url}/api/send", "website": website})
    assert performance == {"status": 200, "body": {"ok": True}}
    traffic.wait_answered(page, 6)
    page.click("#outbound")                                        # tagged link: event, then navigation
    page.wait_for_url("https://example.org/**")
    result = wait_for(lambda: collector.stats("umami-real.test"), lambda r: r["totals"]["events"] >= 4)
    assert top(result, "page") == {"/umami-real.html": 1, "/umami/next": 1}
    totals = result["totals"]
    assert (totals["visitors"], totals["visits"], totals["pageviews"], totals["events"]) == (1, 1, 2, 4)
    assert top(result, "event", "events") == {"Signup": 1, "Nested": 1, "Buy": 1, "Outbound": 1}
    assert {row["value"] for row in result["top"]["event_prop"]} == {
        "Signup: plan = pro",
        "Signup: seats = 3",
        "Nested: cart.items = 2",
        "Nested: tags = a, b",
        "Buy: plan = pro",
        "Outbound: to = example.org",
    }
    assert set(traffic.statuses) == {200}
    context.close()
