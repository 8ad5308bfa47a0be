"""The ingest endpoints over HTTP, against the real app and a real SQLite file."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import Server
from tests.support import CHROME, GOOGLEBOT, IPHONE, add_site, plausible, umami


def test_umami_pageview_is_counted_with_every_dimension(server: Server) -> None:
    url = "/pricing/?utm_source=newsletter&utm_medium=email&utm_campaign=launch&x=1"
    response = server.post("/api/send", umami(server.site.website_id, url, referrer="https://www.google.com/search?q=x"), peer="192.0.2.10", user_agent=IPHONE)
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    rows = server.rows()
    day = next(iter(rows))[0]
    expect = {
        ("total", ""), ("page", "/pricing"),
        ("source", "newsletter"), ("utm_source", "newsletter"), ("utm_medium", "email"), ("utm_campaign", "launch"),
        ("country", "DE"), ("browser", "Safari"), ("os", "iOS"), ("device", "mobile"), ("screen", "laptop"), ("language", "en-US"),
    }
    # ... and the segment cells that pair two of them (collector.model.SEGMENTS); the page's
    # sources are its channels, here told by the campaign's medium. Its countries and devices
    # are the country's and the device's pages read the other way round (Segment.read_from).
    expect |= {
        (f"{pivot}>{listed}", f"{a}\x1f{b}")
        for pivot, listed, a, b in [
            ("source", "page", "newsletter", "/pricing"), ("source", "entry_page", "newsletter", "/pricing"),
            ("source", "country", "newsletter", "DE"), ("source", "device", "newsletter", "mobile"),
            ("utm_campaign", "page", "launch", "/pricing"), ("utm_campaign", "entry_page", "launch", "/pricing"),
            ("utm_campaign", "country", "launch", "DE"), ("utm_campaign", "device", "launch", "mobile"),
            ("country", "page", "DE", "/pricing"), ("country", "source", "DE", "newsletter"),
            ("device", "page", "mobile", "/pricing"), ("device", "source", "mobile", "newsletter"),
            ("page", "source", "/pricing", "Email"), ("page", "entry_page", "/pricing", "/pricing"),
        ]
    }
    assert {(dim, value) for (_, dim, value) in rows} == expect
    assert rows[(day, "total", "")]["pageviews"] == 1
    assert rows[(day, "total", "")]["visitors"] == 1
    assert rows[(day, "country", "DE")]["visits"] == 1
    page = rows[(day, "page", "/pricing")]  # one row carries the page's page, entry and exit counters
    assert (page["pageviews"], page["entries"], page["entry_visitors"], page["exits"]) == (1, 1, 1, 1)


def test_plausible_pageview_and_event_are_counted(server: Server) -> None:
    assert server.post("/api/event", plausible("example.com", "https://example.com/a#x", r="https://news.ycombinator.com/item?id=1")).status_code == 202
    props = json.dumps({"plan": "pro", "seats": 3})
    assert server.post("/api/event", plausible("example.com", "https://example.com/a", name="Signup", p=props)).status_code == 202
    rows = server.rows()
    day = next(iter(rows))[0]
    assert rows[(day, "source", "Hacker News")]["visits"] == 1
    assert rows[(day, "event", "Signup")]["events"] == 1
    assert rows[(day, "event_prop", "Signup\x1fplan\x1fpro")]["events"] == 1
    assert rows[(day, "event_prop", "Signup\x1fseats\x1f3")]["events"] == 1
    assert rows[(day, "total", "")]["bounces"] == 0


def test_same_visit_in_both_formats_gives_the_same_counters(server: Server) -> None:
    other = add_site(server.settings, "other.example")
    server.call(server.state.collector.sites.refresh)
    umami_visit = [
        umami(server.site.website_id, "/", referrer="https://duckduckgo.com/"),
        umami(server.site.website_id, "/docs?utm_campaign=x"),
        umami(server.site.website_id, "/docs", name="Download", data={"file": "a.pdf"}),
    ]
    plausible_visit = [
        plausible("other.example", "https://other.example/", r="https://duckduckgo.com/"),
        plausible("other.example", "https://other.example/docs?utm_campaign=x"),
        plausible("other.example", "https://other.example/docs", name="Download", p={"file": "a.pdf"}),
    ]
    for a, b in zip(umami_visit, plausible_visit):
        assert server.post("/api/send", a, headers={"Accept-Language": "en-US"}).status_code == 200
        assert server.post("/api/event", b, headers={"Accept-Language": "en-US,en;q=0.8"}).status_code == 202
        server.clock.advance(20)
    assert server.rows(server.site) == server.rows(other)
    assert len(server.rows(other)) > 10


def test_visitor_hash_is_per_site_per_ip_and_user_agent(server: Server) -> None:
    for peer, agent in [("192.0.2.1", CHROME), ("192.0.2.1", CHROME), ("192.0.2.2", CHROME), ("192.0.2.1", IPHONE)]:
        server.post("/api/event", plausible("example.com", "https://example.com/"), peer=peer, user_agent=agent)
    rows = server.rows()
    day = next(iter(rows))[0]
    assert rows[(day, "total", "")]["visitors"] == 3
    assert rows[(day, "total", "")]["pageviews"] == 4


@pytest.mark.parametrize(
    "peer, headers, country, trusted",
    [
        ("203.0.113.5", {"X-Forwarded-For": "198.51.100.1"}, "JP", False),         # spoofed: ignored
        ("203.0.113.5", {"X-Real-IP": "198.51.100.1", "CF-IPCountry": "US"}, "JP", False),
        ("127.0.0.1", {"X-Forwarded-For": "198.51.100.1"}, "FR", True),            # from our proxy: believed
        ("127.0.0.1", {"X-Forwarded-For": "192.0.2.9, 198.51.100.1, 127.0.0.1"}, "FR", True),  # rightmost untrusted hop
        ("::1", {"X-Real-IP": "2001:db8::7"}, "NL", True),
        ("127.0.0.1", {"X-Forwarded-For": "198.51.100.1", "CF-IPCountry": "CA"}, "CA", True),
    ],
)
def test_forwarded_headers_are_believed_only_from_trusted_proxies(server: Server, peer: str, headers: dict[str, str], country: str, trusted: bool) -> None:
    server.post("/api/event", plausible("example.com", "https://example.com/"), peer=peer, headers=headers)
    # the same client again with a different spoofed address: same visitor unless trusted
    spoofed = {k: v.replace("198.51.100.1", "198.51.100.2") for k, v in headers.items()}
    server.post("/api/event", plausible("example.com", "https://example.com/"), peer=peer, headers=spoofed)
    rows = server.rows()
    day = next(iter(rows))[0]
    assert {v for (_, d, v) in rows if d == "country"} >= {country}
    assert rows[(day, "country", country)]["pageviews"] >= 1
    assert rows[(day, "total", "")]["visitors"] == (2 if trusted and "198.51.100.1" in str(headers) else 1)


def test_a_forwarded_for_header_repeated_on_several_lines_is_read_as_one_list(server: Server) -> None:
    """A proxy may add its hop as a new line: the client's own first line must not decide."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(server.app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://crumbless.test") as http:
            headers = [("Content-Type", "text/plain"), ("User-Agent", CHROME),
                       ("X-Forwarded-For", "203.0.113.77"),    # written by the client
                       ("X-Forwarded-For", "198.51.100.1")]    # added by our proxy
            return await http.post("/api/event", content=plausible("example.com", "https://example.com/"), headers=headers)

    assert server.call(send).status_code == 202
    rows = server.rows()
    assert {v for (_, d, v) in rows if d == "country"} == {"FR"}


def test_bots_are_dropped_and_counted_by_reason(server: Server) -> None:
    response = server.post("/api/event", plausible("example.com", "https://example.com/"), user_agent=GOOGLEBOT)
    assert response.status_code == 202
    assert response.headers["X-Crumbless-Dropped"].startswith("bot:")
    server.post("/api/event", plausible("example.com", "https://example.com/"), headers={"Sec-Purpose": "prefetch"})
    server.post("/api/event", plausible("example.com", "https://example.com/"), user_agent="")
    rows = server.rows()
    dropped = {v: r["drops"] for (_, d, v), r in rows.items() if d == "dropped"}
    assert sum(dropped.values()) == 3
    assert all(v.startswith("bot:") for v in dropped)
    assert not any(d == "total" for (_, d, _) in rows)


def test_a_visitor_over_sixty_beacons_a_minute_is_dropped_as_a_flood(server: Server) -> None:
    """The flood limit lives in the visitor record, so it holds across collectors sharing a state."""
    from collector.counting import FLOOD_LIMIT

    server.clock.now = (server.clock.now // 60) * 60 + 1  # a minute with room for every beacon
    answers = [server.post("/api/event", plausible("example.com", f"https://example.com/p{i % 5}")) for i in range(FLOOD_LIMIT + 10)]
    assert [a.headers.get("X-Crumbless-Dropped", "") for a in answers] == [""] * FLOOD_LIMIT + ["flood"] * 10
    other = server.post("/api/event", plausible("example.com", "https://example.com/"), peer="198.51.100.99")
    assert "X-Crumbless-Dropped" not in other.headers, "another visitor is not held back"
    server.clock.advance(60)
    assert "X-Crumbless-Dropped" not in server.post("/api/event", plausible("example.com", "https://example.com/p1")).headers
    rows = server.rows()
    assert {v: r["drops"] for (_, d, v), r in rows.items() if d == "dropped"} == {"flood": 10}
    assert sum(r["pageviews"] for (_, d, _), r in rows.items() if d == "total") == FLOOD_LIMIT + 2


@pytest.mark.parametrize("host", ["evil.example", "example.com.evil.example", "notexample.com"])
def test_beacons_from_other_hosts_are_dropped(server: Server, host: str) -> None:
    response = server.post("/api/event", plausible("example.com", f"https://{host}/"))
    assert response.status_code == 202
    assert response.headers["X-Crumbless-Dropped"] == "hostname"
    assert server.post("/api/send", umami(server.site.website_id, "/", hostname=host)).headers["X-Crumbless-Dropped"] == "hostname"
    rows = server.rows()
    assert {d for (_, d, _) in rows} == {"dropped"}


def test_subdomains_and_extra_domains_count(server: Server, ) -> None:
    extra = add_site(server.settings, "shop.example", extra=("shop-mirror.example",))
    server.call(server.state.collector.sites.refresh)
    assert "X-Crumbless-Dropped" not in server.post("/api/event", plausible("example.com", "https://blog.example.com/")).headers
    assert "X-Crumbless-Dropped" not in server.post("/api/send", umami(extra.website_id, "/", hostname="shop-mirror.example")).headers
    assert "X-Crumbless-Dropped" not in server.post("/api/event", plausible("www.example.com", "https://www.example.com/")).headers


@pytest.mark.parametrize(
    "path, body, status, field",
    [
        ("/api/event", b"not json", 400, "body"),
        ("/api/event", b"[]", 400, "body"),
        ("/api/event", b'{"n":"pageview","u":"https://example.com/"}', 400, "d"),
        ("/api/event", b'{"n":"pageview","d":"example.com"}', 400, "u"),
        ("/api/event", b'{"n":"pageview","u":"javascript:alert(1)","d":"example.com"}', 400, "url"),
        ("/api/event", b'{"n":"pageview","u":"https://example.com/","d":"unknown.example"}', 400, "domain"),
        ("/api/event", b'{"n":5,"u":"https://example.com/","d":"example.com"}', 400, "n"),
        ("/api/event", b'{"n":"x","u":"https://example.com/","d":"example.com","p":{"a":{"b":1}}}', 400, "p.a"),
        ("/api/event", b'{"n":"engagement","u":"https://example.com/","d":"example.com","sd":400}', 400, "sd"),
        ("/api/send", b'{"type":"event"}', 400, "payload"),
        ("/api/send", b'{"type":"boom","payload":{}}', 400, "type"),
        ("/api/send", b'{"type":"event","payload":{"website":"nope","url":"/"}}', 400, "website"),
    ],
)
def test_bad_input_gets_a_400_naming_the_field(server: Server, path: str, body: bytes, status: int, field: str) -> None:
    response = server.post(path, body)
    assert response.status_code == status
    assert response.json()["field"] == field
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert server.state.collector.aggregator.pending() == 0


def test_too_many_props_is_rejected(server: Server) -> None:
    props = {f"k{i}": i for i in range(31)}
    response = server.post("/api/event", plausible("example.com", "https://example.com/", name="E", p=props))
    assert response.status_code == 400 and response.json()["field"] == "p"


def test_oversized_body_gets_413_and_wrong_type_415(server: Server) -> None:
    big = plausible("example.com", "https://example.com/", name="E", p={"k": "v" * 20000})
    assert server.post("/api/event", big).status_code == 413
    assert server.post("/api/event", plausible("example.com", "https://example.com/"), content_type="application/xml").status_code == 415
    assert server.post("/api/event", plausible("example.com", "https://example.com/"), content_type="application/json").status_code == 202
    assert server.state.collector.aggregator.pending() > 0


def test_cors_preflight_and_identify(server: Server) -> None:
    response = server.client.options("/api/send", headers={"Origin": "https://example.com", "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert "x-umami-cache" in response.headers["Access-Control-Allow-Headers"]
    identify = json.dumps({"type": "identify", "payload": {"website": server.site.website_id, "data": {"user": "x"}}}).encode()
    assert server.post("/api/send", identify).status_code == 200
    assert server.state.collector.aggregator.pending() == 0
    assert server.client.get("/api/send").status_code == 405


def test_tracker_script_is_served(server: Server) -> None:
    response = server.client.get(server.settings.script_path)
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert "set-cookie" not in response.headers


def test_lone_surrogates_in_event_data_are_dropped_not_fatal(server: Server) -> None:
    """JSON can carry lone UTF-16 surrogates, which no database can store as text."""
    body = b'{"n":"Sign\\ud800up","u":"https://example.com/","d":"example.com","p":{"k\\udc00":"v\\ud83d"}}'
    assert server.post("/api/event", body).status_code == 202
    rows = server.rows()
    day = next(iter(rows))[0]
    assert rows[(day, "event", "Signup")]["events"] == 1
    assert rows[(day, "event_prop", "Signup\x1fk\x1fv")]["events"] == 1
