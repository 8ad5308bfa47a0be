"""``crumbless import plausible|umami`` and ``crumbless export plausible``: their options and summaries.

``collector.cli`` hands its sub-command table to ``add_commands``; everything about moving
history in and out is set up here, next to the code that does it.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from collector.aggregator import Batch
from collector.cli import (
    CliError,
    _date as date_option,  # --from and --to read as `crumbless stats` reads them
    find_site,
)
from collector.config import Settings
from collector.localtime import date_of, day_number
from collector.model import PAGEVIEWS, VISITORS
from collector.sites import Site
from collector.store import ImportRecord, Store, StoreError, opened_store
from collector.transfer.export import export_zip
from collector.transfer.plausible_zip import BadImport, read_zip

FIRST_DAY = date(1970, 1, 1)
"""Without --from an export starts at the site's first day with data."""
NOT_IN_PLAUSIBLE = "devices by User-Agent and languages (Plausible's format has no table for them)"


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    importing = commands.add_parser("import", help="import another tool's history into a site").add_subparsers(
        dest="import_command", required=True, metavar="SOURCE"
    )
    plausible = importing.add_parser("plausible", help="a Plausible CSV export zip (Site settings › Imports & exports)")
    plausible.add_argument("zip", type=Path, help="the zip Plausible exported")
    _import_options(plausible)
    plausible.set_defaults(run=import_plausible)
    umami = importing.add_parser("umami", help="a Umami v2/v3 PostgreSQL database, read and never written")
    umami.add_argument("database_url", metavar="DATABASE_URL", help="postgresql://user:password@host/umami")
    umami.add_argument("--website", required=True, metavar="UUID", help="the Umami website id to import")
    _import_options(umami)
    umami.set_defaults(run=import_umami)
    listing = importing.add_parser("list", help="the imports a site holds")
    listing.add_argument("--site", required=True, help="site id or domain")
    listing.set_defaults(run=import_list)

    exporting = commands.add_parser("export", help="export a site's history").add_subparsers(
        dest="export_command", required=True, metavar="FORMAT"
    )
    export = exporting.add_parser("plausible", help="as a Plausible CSV export zip, which Plausible imports")
    export.add_argument("out", type=Path, metavar="OUT.zip")
    export.add_argument("--site", required=True, help="site id or domain")
    export.add_argument("--from", dest="from_date", metavar="DATE", help="first day, YYYY-MM-DD (default: the first)")
    export.add_argument("--to", dest="to_date", metavar="DATE", help="last day, YYYY-MM-DD (default: today)")
    export.set_defaults(run=export_plausible)


def _import_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site", required=True, help="the Crumbless site (id or domain) to import into")
    parser.add_argument(
        "--replace", action="store_true", help="take out an earlier import over the same days first, then import"
    )
    parser.add_argument("--dry-run", action="store_true", help="read and check everything, print it, write nothing")


async def _site(store: Store, key: str) -> Site:
    return find_site(await store.sites(), key)


def _today(site: Site) -> date:
    return datetime.now(site.tz).date()


@dataclass(frozen=True)
class Read:
    """What an importer read, before anything is written: the batch and the summary's lines."""

    source: str
    days: tuple[int, int]
    batch: Batch
    what: str  # what was read, and how fast
    notes: list[str]  # what did not map, what was skipped


class Unreadable(Exception):
    """The source cannot be imported; the message is the whole explanation."""


async def _import(settings: Settings, args: argparse.Namespace, read: Callable[[Site], Awaitable[Read]]) -> int:
    async with opened_store(settings) as store:
        site = await _site(store, args.site)
        try:
            done = await read(site)
        except Unreadable as exc:
            raise CliError(f"{exc}; nothing was imported") from None
        await _finish(store, site, done.source, done.days, done.batch, args, done.what, settings.segment_min_visitors)
        for note in done.notes:
            print(f"  {note}")
        return 0


# ── import plausible ───────────────────────────────────────────────────────────────────────────


async def import_plausible(settings: Settings, args: argparse.Namespace) -> int:
    async def read(site: Site) -> Read:
        try:
            imported = read_zip(args.zip, args.zip.name, site.id, _today(site))
        except BadImport as exc:
            raise Unreadable(str(exc)) from None
        unmapped = [f"{name} ({n:,} rows)" if n else name for name, n in sorted(imported.unmapped.items())]
        notes = [f"not mapped (Crumbless keeps no such counter): {', '.join(unmapped)}"] if unmapped else []
        days = (imported.first_day, imported.last_day)
        what = f"{imported.lines:,} CSV lines"
        return Read(
            f"plausible {args.zip.name}", days, imported.batch, what, [*notes, f"not in the zip: {NOT_IN_PLAUSIBLE}"]
        )

    return await _import(settings, args, read)


# ── import umami ───────────────────────────────────────────────────────────────────────────────


async def import_umami(settings: Settings, args: argparse.Namespace) -> int:
    from collector.transfer.umami import UmamiError, replay

    async def read(site: Site) -> Read:
        try:
            replayed = await replay(args.database_url, args.website, site, settings.max_values)
        except UmamiError as exc:
            raise Unreadable(str(exc)) from None
        if replayed.events == 0:
            raise Unreadable(f"Umami website {args.website} has no events")
        what = f"{replayed.events:,} Umami events in {replayed.seconds:.1f} s ({replayed.rate:,.0f} events/s)"
        notes = [f"skipped: {n:,} events ({reason})" for reason, n in sorted(replayed.skipped.items())]
        notes.append(f"not mapped (Crumbless keeps no such counter): {', '.join(replayed.unmapped)}")
        days = (replayed.first_day, replayed.last_day)
        return Read(f"umami website {args.website}", days, replayed.batch, what, notes)

    return await _import(settings, args, read)


async def import_list(settings: Settings, args: argparse.Namespace) -> int:
    async with opened_store(settings) as store:
        site = await _site(store, args.site)
        records = await store.imports(site.id)
        if not records:
            print(f"{site.domain} holds no imports")
        for r in records:
            span = f"{date_of(r.first_day)} to {date_of(r.last_day)}"
            print(f"import #{r.id}  {span}  {r.source}  (imported {r.created_at})")
        return 0


# ── shared: the ledger and the summary ─────────────────────────────────────────────────────────


async def _finish(
    store: Store,
    site: Site,
    source: str,
    days: tuple[int, int],
    batch: Batch,
    args: argparse.Namespace,
    read: str,
    min_visitors: int,
) -> None:
    """Imported days are past days: their small segment cells fold in the import's transaction, as
    a closed day's do (``collector.budget``); today's, if imported, fold when today closes."""
    span = f"{date_of(days[0])} to {date_of(days[1])}"
    earlier = [r for r in await store.imports(site.id) if r.first_day <= days[1] and r.last_day >= days[0]]
    if args.dry_run:
        verdict = "would replace" if args.replace else "would be refused: overlaps"
        print(f"dry run, nothing written: {source} into {site.domain}, {span}")
        if earlier:
            print(f"  {verdict} {_names(earlier)}")
    else:
        if sys.stderr.isatty():  # the one transaction has no progress of its own to show
            print(f"writing {len(batch.daily):,} daily rows in one transaction…", file=sys.stderr)
        try:
            closed = day_number(_today(site)) - 1
            record = await store.add_import(site.id, source, days, batch, args.replace, closed, min_visitors)
        except StoreError as exc:
            raise CliError(f"{exc}; nothing was imported") from None
        print(f"imported {source} into {site.domain} as import #{record.id}, {span}")
        if earlier:
            print(f"  replaced {_names(earlier)}")
    print(f"  read {read}")
    print(f"  {_figures(batch)}")


def _names(records: list[ImportRecord]) -> str:
    return ", ".join(f"import #{r.id} ({r.source}, {date_of(r.first_day)} to {date_of(r.last_day)})" for r in records)


def _figures(batch: Batch) -> str:
    totals = [row for (_, _, dim, _), row in batch.daily.items() if dim == "total"]
    dims = Counter(dim for (_, _, dim, _) in batch.daily)
    return (
        f"{len({day for (_, day, _, _) in batch.daily}):,} days, {len(batch.daily):,} daily rows "
        f"({', '.join(f'{dim} {n:,}' for dim, n in sorted(dims.items()))}), {len(batch.hourly):,} hourly rows; "
        f"pageviews {sum(r[PAGEVIEWS] for r in totals):,}, visitors {sum(r[VISITORS] for r in totals):,}"
    )


# ── export plausible ───────────────────────────────────────────────────────────────────────────


async def export_plausible(settings: Settings, args: argparse.Namespace) -> int:
    async with opened_store(settings) as store:
        site = await _site(store, args.site)
        last = date_option(args.to_date, _today(site), "--to")
        first = date_option(args.from_date, FIRST_DAY, "--from")
        if first > last:
            raise CliError("--from must not be after --to")
        out: Path = args.out
        partial = out.with_name(out.name + ".partial")
        try:
            summary = await export_zip(store, site, first, last, partial)
            partial.replace(out)  # a reader never finds half a zip under the name asked for
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
        print(f"exported {site.domain}, {summary.first} to {summary.last}, to {out}")
        print(f"  {summary.days:,} days, pageviews {summary.pageviews:,}, visitors {summary.visitors:,}")
        print("  rows: " + ", ".join(f"{name} {n:,}" for name, n in summary.rows.items()))
        if summary.left_out:
            left = ", ".join(f"{dim} {n:,}" for dim, n in sorted(summary.left_out.items()))
            print(f"  not in Plausible's format, left out: {left} rows")
        return 0
