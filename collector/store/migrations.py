"""Versioned schema migrations, applied in order at start.

Each entry is (version, SQL). Append; never edit a released entry. The schema holds only
aggregate rows: no table has a column for an IP address, a User-Agent string, a visitor hash,
or the time of an individual hit (``crumbless audit`` checks the live schema against this).
"""

from __future__ import annotations

from collector.aggregator import COLUMNS, HOURLY_COLUMNS


def _counter_columns(names: tuple[str, ...]) -> str:
    return ",\n    ".join(f"{name} INTEGER NOT NULL DEFAULT 0" for name in names)


MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        f"""
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
    {_counter_columns(COLUMNS)},
    PRIMARY KEY (site, dim, day, value)
) WITHOUT ROWID;
CREATE TABLE hourly (
    site INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    {_counter_columns(HOURLY_COLUMNS)},
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
)

LATEST = MIGRATIONS[-1][0]
