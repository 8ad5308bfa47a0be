"""Versioned schema migrations, applied in order at start.

Each entry is (version, SQL), literal text: a released migration must read the same forever, so
none is built from the code's current column lists. Append; never edit a released entry. The schema holds only
aggregate rows: no table has a column for an IP address, a User-Agent string, a visitor hash,
or the time of an individual hit (``crumbless audit`` checks the live schema against this).
"""

from __future__ import annotations

SLIMMER_SEGMENTS = """
DROP INDEX monthly_by_visitors;
DROP INDEX monthly_by_entry_visitors;
DROP INDEX monthly_by_exits;
DROP INDEX monthly_by_events;
CREATE INDEX monthly_by_visitors ON monthly (site, dim, month, visitors) WHERE dim < 32;
CREATE INDEX monthly_by_entry_visitors ON monthly (site, dim, month, entry_visitors) WHERE dim < 32;
CREATE INDEX monthly_by_exits ON monthly (site, dim, month, exits) WHERE dim < 32;
CREATE INDEX monthly_by_events ON monthly (site, dim, month, events) WHERE dim < 32;
DELETE FROM daily WHERE dim IN (47, 48);
DELETE FROM monthly WHERE dim IN (47, 48);
DELETE FROM dim_values WHERE dim IN (47, 48);
"""
"""Migration 9, the same in both databases, for the bytes segment cells take. The ranking indexes
of ``monthly`` hold only the rows a top list ranks: segment cells (dimension codes from 32,
``model.SEGMENTS``) are read one pivot value at a time by the primary key and never ranked, and
were most of these indexes' entries. A query that ranks says ``dim < 32`` in so many words, which
is what lets either database use them. Page × country (47) and page × device (48) are read from
country × page and device × page, the same pairs (``model.Segment.read_from``): their own rows go."""

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
CREATE TABLE sites (
    id INTEGER PRIMARY KEY,
    website_id TEXT NOT NULL UNIQUE,
    domain TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    extra_domains TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at TEXT NOT NULL
);
CREATE TABLE salts (
    site INTEGER NOT NULL,
    day INTEGER NOT NULL,
    salt BLOB NOT NULL,
    PRIMARY KEY (site, day)
) WITHOUT ROWID;
CREATE TABLE daily (
    site INTEGER NOT NULL,
    dim TEXT NOT NULL,
    day INTEGER NOT NULL,
    value TEXT NOT NULL,
    visitors INTEGER NOT NULL DEFAULT 0,
    visits INTEGER NOT NULL DEFAULT 0,
    pageviews INTEGER NOT NULL DEFAULT 0,
    bounces INTEGER NOT NULL DEFAULT 0,
    duration_s INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    engaged_ms INTEGER NOT NULL DEFAULT 0,
    scroll_sum INTEGER NOT NULL DEFAULT 0,
    scroll_n INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, dim, day, value)
) WITHOUT ROWID;
CREATE TABLE hourly (
    site INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    visitors INTEGER NOT NULL DEFAULT 0,
    visits INTEGER NOT NULL DEFAULT 0,
    pageviews INTEGER NOT NULL DEFAULT 0,
    bounces INTEGER NOT NULL DEFAULT 0,
    duration_s INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, hour)
) WITHOUT ROWID;
""",
    ),
    (
        2,
        # The dashboard: viewer grants, personal API tokens (only a SHA-256 of each is kept),
        # share links, and a per-user session epoch that a password change bumps so that every
        # older session cookie stops working.
        """
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
CREATE TABLE grants (
    user INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    site INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    PRIMARY KEY (user, site)
) WITHOUT ROWID;
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE share_links (
    site INTEGER PRIMARY KEY REFERENCES sites(id) ON DELETE CASCADE,
    token TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
""",
    ),
    (
        3,
        # Dashboard sessions ended by logging out, until their cookie would have expired anyway:
        # a copy of the cookie must stop working at logout, not 14 days later. Only a SHA-256 of
        # each session's random nonce is kept.
        """
CREATE TABLE ended_sessions (
    nonce_sha256 TEXT PRIMARY KEY,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
""",
    ),
    (
        4,
        # Ids are never reused (AUTOINCREMENT): without it SQLite hands a deleted row's id to the
        # next insert, so a deleted user's session cookie (which names the user id) opened the
        # next new account, and counters still in flight for a deleted site could land on the next
        # new site. Each account also gets a random session key, rotated by a password change
        # (it replaces the session epoch): a cookie is bound to that account, not just to an id.
        # Rebuilt the way SQLite documents (foreign keys are off while migrations run).
        """
CREATE TABLE new_sites (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    website_id TEXT NOT NULL UNIQUE,
    domain TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    extra_domains TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
INSERT INTO new_sites (id, website_id, domain, name, timezone, extra_domains, created_at)
    SELECT id, website_id, domain, name, timezone, extra_domains, created_at FROM sites;
DROP TABLE sites;
ALTER TABLE new_sites RENAME TO sites;
CREATE TABLE new_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at TEXT NOT NULL,
    session_key TEXT NOT NULL
);
INSERT INTO new_users (id, name, password_hash, role, created_at, session_key)
    SELECT id, name, password_hash, role, created_at, lower(hex(randomblob(16))) FROM users;
DROP TABLE users;
ALTER TABLE new_users RENAME TO users;
""",
    ),
    (
        5,
        # Data model v2 (collector/model.py): dimensions as small integer codes and values as ids
        # into dim_values (the text kept once per site and dimension); one row per page and day
        # carrying its page, entry and exit counters (entry_page and exit_page rows fold into it:
        # an entry's visitors, visits, pageviews, bounces and duration become entry_*, an exit
        # page's visits become exits); drops (the dropped rows' pageviews) a counter of its own;
        # rows whose counters are all zero left out; and monthly, the same rows summed per month
        # (month = year * 12 + month - 1), which long ranges read instead of every day, indexed
        # by each counter a list ranks by (model.RANKED) so a top list can read months best first.
        """
ALTER TABLE daily RENAME TO daily_schema4;
CREATE TABLE dim_values (
    id INTEGER PRIMARY KEY,
    site INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (site, dim, value)
);
CREATE TABLE daily (
    site INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    day INTEGER NOT NULL,
    value INTEGER NOT NULL,
    visitors INTEGER NOT NULL DEFAULT 0,
    visits INTEGER NOT NULL DEFAULT 0,
    pageviews INTEGER NOT NULL DEFAULT 0,
    bounces INTEGER NOT NULL DEFAULT 0,
    duration_s INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    engaged_ms INTEGER NOT NULL DEFAULT 0,
    scroll_sum INTEGER NOT NULL DEFAULT 0,
    scroll_n INTEGER NOT NULL DEFAULT 0,
    entry_visitors INTEGER NOT NULL DEFAULT 0,
    entries INTEGER NOT NULL DEFAULT 0,
    entry_pageviews INTEGER NOT NULL DEFAULT 0,
    entry_bounces INTEGER NOT NULL DEFAULT 0,
    entry_duration_s INTEGER NOT NULL DEFAULT 0,
    exits INTEGER NOT NULL DEFAULT 0,
    drops INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, dim, day, value)
) WITHOUT ROWID;
CREATE TABLE monthly (
    site INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    month INTEGER NOT NULL,
    value INTEGER NOT NULL,
    visitors INTEGER NOT NULL DEFAULT 0,
    visits INTEGER NOT NULL DEFAULT 0,
    pageviews INTEGER NOT NULL DEFAULT 0,
    bounces INTEGER NOT NULL DEFAULT 0,
    duration_s INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    engaged_ms INTEGER NOT NULL DEFAULT 0,
    scroll_sum INTEGER NOT NULL DEFAULT 0,
    scroll_n INTEGER NOT NULL DEFAULT 0,
    entry_visitors INTEGER NOT NULL DEFAULT 0,
    entries INTEGER NOT NULL DEFAULT 0,
    entry_pageviews INTEGER NOT NULL DEFAULT 0,
    entry_bounces INTEGER NOT NULL DEFAULT 0,
    entry_duration_s INTEGER NOT NULL DEFAULT 0,
    exits INTEGER NOT NULL DEFAULT 0,
    drops INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, dim, month, value)
) WITHOUT ROWID;
CREATE INDEX monthly_by_visitors ON monthly (site, dim, month, visitors);
CREATE INDEX monthly_by_entry_visitors ON monthly (site, dim, month, entry_visitors);
CREATE INDEX monthly_by_exits ON monthly (site, dim, month, exits);
CREATE INDEX monthly_by_events ON monthly (site, dim, month, events);
WITH codes (name, code) AS (VALUES ('total', 0), ('page', 1), ('entry_page', 1), ('exit_page', 1), ('source', 2),
    ('utm_source', 3), ('utm_medium', 4), ('utm_campaign', 5), ('country', 6), ('browser', 7), ('os', 8), ('device', 9),
    ('screen', 10), ('language', 11), ('event', 12), ('event_prop', 13), ('dropped', 14))
INSERT INTO dim_values (site, dim, value)
SELECT DISTINCT o.site, c.code, o.value FROM daily_schema4 AS o JOIN codes AS c ON c.name = o.dim
ORDER BY 1, 2, 3;
WITH codes (name, code) AS (VALUES ('total', 0), ('page', 1), ('entry_page', 1), ('exit_page', 1), ('source', 2),
    ('utm_source', 3), ('utm_medium', 4), ('utm_campaign', 5), ('country', 6), ('browser', 7), ('os', 8), ('device', 9),
    ('screen', 10), ('language', 11), ('event', 12), ('event_prop', 13), ('dropped', 14))
INSERT INTO daily (site, dim, day, value,
    visitors, visits, pageviews, bounces, duration_s, events, engaged_ms, scroll_sum,
    scroll_n, entry_visitors, entries, entry_pageviews, entry_bounces, entry_duration_s, exits, drops)
SELECT o.site, c.code, o.day, v.id,
       sum(CASE WHEN o.dim NOT IN ('entry_page', 'exit_page', 'dropped') THEN o.visitors ELSE 0 END),
       sum(CASE WHEN o.dim NOT IN ('entry_page', 'exit_page', 'dropped') THEN o.visits ELSE 0 END),
       sum(CASE WHEN o.dim NOT IN ('entry_page', 'exit_page', 'dropped') THEN o.pageviews ELSE 0 END),
       sum(CASE WHEN o.dim NOT IN ('entry_page', 'exit_page', 'dropped') THEN o.bounces ELSE 0 END),
       sum(CASE WHEN o.dim NOT IN ('entry_page', 'exit_page', 'dropped') THEN o.duration_s ELSE 0 END),
       sum(CASE WHEN o.dim NOT IN ('entry_page', 'exit_page', 'dropped') THEN o.events ELSE 0 END),
       sum(CASE WHEN o.dim NOT IN ('entry_page', 'exit_page', 'dropped') THEN o.engaged_ms ELSE 0 END),
       sum(CASE WHEN o.dim NOT IN ('entry_page', 'exit_page', 'dropped') THEN o.scroll_sum ELSE 0 END),
       sum(CASE WHEN o.dim NOT IN ('entry_page', 'exit_page', 'dropped') THEN o.scroll_n ELSE 0 END),
       sum(CASE WHEN o.dim = 'entry_page' THEN o.visitors ELSE 0 END),
       sum(CASE WHEN o.dim = 'entry_page' THEN o.visits ELSE 0 END),
       sum(CASE WHEN o.dim = 'entry_page' THEN o.pageviews ELSE 0 END),
       sum(CASE WHEN o.dim = 'entry_page' THEN o.bounces ELSE 0 END),
       sum(CASE WHEN o.dim = 'entry_page' THEN o.duration_s ELSE 0 END),
       sum(CASE WHEN o.dim = 'exit_page' THEN o.visits ELSE 0 END),
       sum(CASE WHEN o.dim = 'dropped' THEN o.pageviews ELSE 0 END)
FROM daily_schema4 AS o JOIN codes AS c ON c.name = o.dim
JOIN dim_values AS v ON v.site = o.site AND v.dim = c.code AND v.value = o.value
GROUP BY o.site, c.code, o.day, v.id;
DELETE FROM daily WHERE visitors = 0 AND visits = 0 AND pageviews = 0 AND bounces = 0 AND duration_s = 0
    AND events = 0 AND engaged_ms = 0 AND scroll_sum = 0 AND scroll_n = 0 AND entry_visitors = 0 AND entries = 0
    AND entry_pageviews = 0 AND entry_bounces = 0 AND entry_duration_s = 0 AND exits = 0 AND drops = 0;
DELETE FROM dim_values WHERE id NOT IN (SELECT value FROM daily);
INSERT INTO monthly (site, dim, month, value,
    visitors, visits, pageviews, bounces, duration_s, events, engaged_ms, scroll_sum,
    scroll_n, entry_visitors, entries, entry_pageviews, entry_bounces, entry_duration_s, exits, drops)
SELECT site, dim,
       CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12
       + CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1,
       value,
       sum(visitors), sum(visits), sum(pageviews), sum(bounces), sum(duration_s), sum(events), sum(engaged_ms),
       sum(scroll_sum), sum(scroll_n), sum(entry_visitors), sum(entries), sum(entry_pageviews), sum(entry_bounces),
       sum(entry_duration_s), sum(exits), sum(drops)
FROM daily GROUP BY 1, 2, 3, 4;
DROP TABLE daily_schema4;
""",
    ),
    (
        6,
        # Each account's dashboard language (NULL: follow the browser's Accept-Language), and
        # annotations: an admin's dated note on a site ("newsletter sent"), shown on its chart.
        # A note is about a site-local day (a day number, as in daily), never about a visitor.
        """
ALTER TABLE users ADD COLUMN locale TEXT;
CREATE TABLE annotations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    day INTEGER NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX annotations_by_day ON annotations (site, day);
""",
    ),
    (
        7,
        # The import ledger (collector/transfer): each import of another tool's history with its
        # source, its range of site-local days and, in ``added``, the aggregate rows it added
        # (JSON), so that replacing it first takes away exactly those rows and nothing live.
        """
CREATE TABLE imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    first_day INTEGER NOT NULL,
    last_day INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    added TEXT NOT NULL
);
CREATE INDEX imports_by_site ON imports (site, first_day);
""",
    ),
    (
        8,
        # Goals and funnels (collector/goals.py): what a site counts as a conversion, and ordered
        # lists of goals. A definition names events and paths, never a visitor; ``first_day`` is
        # the site-local day it counts from. A funnel's steps are its goals' ids as a JSON list.
        # Ids are never reused (AUTOINCREMENT): counters still in flight for a deleted goal must not
        # land on a new one. "window" is quoted: it is a keyword in both databases.
        """
CREATE TABLE goals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('event', 'page')),
    event TEXT NOT NULL DEFAULT '',
    prop_key TEXT NOT NULL DEFAULT '',
    prop_value TEXT NOT NULL DEFAULT '',
    page TEXT NOT NULL DEFAULT '',
    first_day INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (site, name)
);
CREATE TABLE funnels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    steps TEXT NOT NULL,
    "window" TEXT NOT NULL CHECK ("window" IN ('visit', 'day')),
    first_day INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (site, name)
);
""",
    ),
    (
        9,
        SLIMMER_SEGMENTS,
    ),
)

LATEST = MIGRATIONS[-1][0]

POSTGRES_SCHEMA: tuple[int, str] = (
    5,
    # The schema above at version 5, as one PostgreSQL script: there is no older PostgreSQL
    # deployment to migrate. The same tables and columns, with three differences: no salts table
    # (in scale-out mode salts live in Redis only, since a DELETE cannot erase bytes from
    # PostgreSQL's files and WAL); identity columns, which never hand an id out again, where
    # SQLite has AUTOINCREMENT; and applied_batches, the ids of the flushes already added (a flush
    # retried after a commit whose answer was lost is recognised, not added twice), each with the
    # UTC day it was added on, so that a day later it can go. Values compare and sort bytewise
    # (COLLATE "C"), as in SQLite, whatever the database's locale: a top list's ties break the
    # same way in SQL and in Python. "user" is a reserved word in PostgreSQL, hence quoted.
    """
CREATE TABLE schema_version (version integer NOT NULL);
CREATE TABLE sites (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    website_id text NOT NULL UNIQUE,
    domain text NOT NULL UNIQUE,
    name text NOT NULL,
    timezone text NOT NULL,
    extra_domains text NOT NULL DEFAULT '',
    created_at text NOT NULL
);
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at text NOT NULL,
    session_key text NOT NULL
);
CREATE TABLE grants (
    "user" bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    site bigint NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    PRIMARY KEY ("user", site)
);
CREATE TABLE api_tokens (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "user" bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    created_at text NOT NULL
);
CREATE TABLE share_links (
    site bigint PRIMARY KEY REFERENCES sites(id) ON DELETE CASCADE,
    token text NOT NULL UNIQUE,
    created_at text NOT NULL
);
CREATE TABLE ended_sessions (
    nonce_sha256 text PRIMARY KEY,
    expires bigint NOT NULL
);
CREATE TABLE dim_values (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site bigint NOT NULL,
    dim integer NOT NULL,
    value text COLLATE "C" NOT NULL,
    UNIQUE (site, dim, value)
);
CREATE TABLE daily (
    site bigint NOT NULL,
    dim integer NOT NULL,
    day integer NOT NULL,
    value bigint NOT NULL,
    visitors bigint NOT NULL DEFAULT 0,
    visits bigint NOT NULL DEFAULT 0,
    pageviews bigint NOT NULL DEFAULT 0,
    bounces bigint NOT NULL DEFAULT 0,
    duration_s bigint NOT NULL DEFAULT 0,
    events bigint NOT NULL DEFAULT 0,
    engaged_ms bigint NOT NULL DEFAULT 0,
    scroll_sum bigint NOT NULL DEFAULT 0,
    scroll_n bigint NOT NULL DEFAULT 0,
    entry_visitors bigint NOT NULL DEFAULT 0,
    entries bigint NOT NULL DEFAULT 0,
    entry_pageviews bigint NOT NULL DEFAULT 0,
    entry_bounces bigint NOT NULL DEFAULT 0,
    entry_duration_s bigint NOT NULL DEFAULT 0,
    exits bigint NOT NULL DEFAULT 0,
    drops bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (site, dim, day, value)
);
CREATE TABLE monthly (
    site bigint NOT NULL,
    dim integer NOT NULL,
    month integer NOT NULL,
    value bigint NOT NULL,
    visitors bigint NOT NULL DEFAULT 0,
    visits bigint NOT NULL DEFAULT 0,
    pageviews bigint NOT NULL DEFAULT 0,
    bounces bigint NOT NULL DEFAULT 0,
    duration_s bigint NOT NULL DEFAULT 0,
    events bigint NOT NULL DEFAULT 0,
    engaged_ms bigint NOT NULL DEFAULT 0,
    scroll_sum bigint NOT NULL DEFAULT 0,
    scroll_n bigint NOT NULL DEFAULT 0,
    entry_visitors bigint NOT NULL DEFAULT 0,
    entries bigint NOT NULL DEFAULT 0,
    entry_pageviews bigint NOT NULL DEFAULT 0,
    entry_bounces bigint NOT NULL DEFAULT 0,
    entry_duration_s bigint NOT NULL DEFAULT 0,
    exits bigint NOT NULL DEFAULT 0,
    drops bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (site, dim, month, value)
);
CREATE INDEX monthly_by_visitors ON monthly (site, dim, month, visitors);
CREATE INDEX monthly_by_entry_visitors ON monthly (site, dim, month, entry_visitors);
CREATE INDEX monthly_by_exits ON monthly (site, dim, month, exits);
CREATE INDEX monthly_by_events ON monthly (site, dim, month, events);
CREATE TABLE hourly (
    site bigint NOT NULL,
    hour integer NOT NULL,
    visitors bigint NOT NULL DEFAULT 0,
    visits bigint NOT NULL DEFAULT 0,
    pageviews bigint NOT NULL DEFAULT 0,
    bounces bigint NOT NULL DEFAULT 0,
    duration_s bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (site, hour)
);
CREATE TABLE applied_batches (
    id text PRIMARY KEY,
    day integer NOT NULL
);
CREATE INDEX applied_batches_by_day ON applied_batches (day);
""",
)
"""PostgreSQL's schema at the version it starts from; a later schema change appends its
PostgreSQL twin to ``POSTGRES_MIGRATIONS`` with the same version as its SQLite entry above."""

POSTGRES_MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        6,
        """
ALTER TABLE users ADD COLUMN locale text;
CREATE TABLE annotations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site bigint NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    day integer NOT NULL,
    text text NOT NULL,
    created_at text NOT NULL
);
CREATE INDEX annotations_by_day ON annotations (site, day);
""",
    ),
    (
        7,
        """
CREATE TABLE imports (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site bigint NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    source text NOT NULL,
    first_day integer NOT NULL,
    last_day integer NOT NULL,
    created_at text NOT NULL,
    added text NOT NULL
);
CREATE INDEX imports_by_site ON imports (site, first_day);
""",
    ),
    (
        8,
        """
CREATE TABLE goals (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site bigint NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('event', 'page')),
    event text NOT NULL DEFAULT '',
    prop_key text NOT NULL DEFAULT '',
    prop_value text NOT NULL DEFAULT '',
    page text NOT NULL DEFAULT '',
    first_day integer NOT NULL,
    created_at text NOT NULL,
    UNIQUE (site, name)
);
CREATE TABLE funnels (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site bigint NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    name text NOT NULL,
    steps text NOT NULL,
    "window" text NOT NULL CHECK ("window" IN ('visit', 'day')),
    first_day integer NOT NULL,
    created_at text NOT NULL,
    UNIQUE (site, name)
);
""",
    ),
    (
        9,
        SLIMMER_SEGMENTS,
    ),
)
