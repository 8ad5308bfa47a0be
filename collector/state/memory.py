"""The day's state of one collector process, in its memory.

Nothing here waits, so a read and its commit could not interleave with another beacon's even
without the version check; it is made anyway, so that the memory state keeps the contract the
shared one needs (the contract suite runs the same racing beacons against both).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from collector.guard import MemoryGuard, Wanted
from collector.hits import Hit, Kind
from collector.realtime import Realtime
from collector.state import Snapshot
from collector.visitors import Strings, VisitorRecord, pack, site_day_seen, unpack


class MemoryState:
    """Visitor records in a dict in insertion order doubling as an LRU (touching a record moves
    it to the end), the guard's admitted values, and the per-minute pageview ring.

    Records are kept packed (``visitors.pack``), with one string table per site-day: a busy site
    has tens of thousands of visitors a day, all of them held until the day closes, and memory is
    what caps how many fit (DESIGN §9). They are keyed by the visitor hash alone: the hash is keyed
    with a per-site, per-day salt, so it already separates sites and days, and a record read for
    another site or day (a collision) is taken for none by the counting rules.
    """

    def __init__(self, max_visitors: int, max_values: int) -> None:
        self.max_visitors = max_visitors
        self.evicted = 0
        self.guard = MemoryGuard(max_values)
        self.realtime = Realtime()
        self._records: dict[int, bytes] = {}
        self._strings: dict[tuple[int, int], Strings] = {}
        self._deleted: set[int] = set()
        self._evicted_since_copy = 0

    def __len__(self) -> int:
        return len(self._records)

    def strings(self, site: int, day: int) -> Strings:
        table = self._strings.get((site, day))
        if table is None:
            table = self._strings[(site, day)] = Strings()
        return table

    async def read(self, hit: Hit, wanted: Sequence[Wanted]) -> Snapshot:
        data = self._records.get(hit.visitor)
        values = await self.guard.admit(hit.site, hit.day, wanted)
        return Snapshot(None if data is None else unpack(data, self.strings), values, data)

    async def commit(self, hit: Hit, snapshot: Snapshot, record: VisitorRecord) -> bool:
        if hit.site in self._deleted:
            raise LookupError("the site was deleted")
        records = self._records
        if records.get(hit.visitor) is not snapshot.version:
            return False
        records.pop(hit.visitor, None)
        records[hit.visitor] = pack(record, self.strings(record.site, record.day))
        if len(records) > self.max_visitors:
            del records[next(iter(records))]
            self.evicted += 1
            self._evicted_since_copy += 1
            if self._evicted_since_copy >= max(1024, self.max_visitors // 64):
                self._compact()
        if hit.kind is Kind.PAGEVIEW:
            self.realtime.pageview(hit.site, hit.ts)
        return True

    def _compact(self) -> None:
        """Copy the records into a fresh dict, dropping the slots their evictions left behind.

        A deleted entry stays in the dict's entry array until the dict resizes, and finding the
        oldest record walks past every one of them: at a cap of 200,000 an eviction took 50 µs
        after 100,000 of them and 585 µs after 500,000 (the soak's beacons/s fell by half). A copy
        every cap/64 evictions keeps it at ~6 µs (5 ms per copy of 200,000 records).
        """
        self._records = dict(self._records)
        self._evicted_since_copy = 0

    async def close_days(self, site: int, before_day: int) -> int:
        stale = []
        for key, data in self._records.items():
            record_site, day, _ = site_day_seen(data)
            if record_site == site and day < before_day:
                stale.append(key)
        for key in stale:
            del self._records[key]
        for site_day in [k for k in self._strings if k[0] == site and k[1] < before_day]:
            del self._strings[site_day]
        self.guard.forget_days(site, before_day)
        return len(stale)

    def seed(self, values: Iterable[tuple[int, int, str, str]]) -> None:
        for site, day, dim, value in values:
            self.guard.remember(site, day, dim, value)

    async def forget_site(self, site: int) -> None:
        self._deleted.add(site)
        await self.close_days(site, 2**31)

    async def active_since(self, site: int, since: int) -> int:
        # Records are kept in order of last touch, so the walk stops at the first older one.
        count = 0
        for data in reversed(self._records.values()):
            record_site, _, last_seen = site_day_seen(data)
            if last_seen < since:
                break
            count += record_site == site
        return count

    async def pageviews_per_minute(self, site: int, now: float, minutes: int) -> list[int]:
        return self.realtime.pageviews_per_minute(site, now, minutes)

    async def reachable(self) -> bool:
        return True  # it is this process's memory

    async def close(self) -> None:
        return None


class MemorySalts:
    """Today's salts in memory only: for a PostgreSQL store without Redis, which must never hold
    them. A restart then starts new hashes for the day, as it forgets the visitor records anyway."""

    def __init__(self) -> None:
        self._salts: dict[tuple[int, int], bytes] = {}

    async def load_salt(self, site: int, day: int) -> bytes | None:
        return self._salts.get((site, day))

    async def save_salt(self, site: int, day: int, salt: bytes) -> bytes:
        return self._salts.setdefault((site, day), salt)

    async def erase_salts(self, site: int, before_day: int) -> int:
        old = [key for key in self._salts if key[0] == site and key[1] < before_day]
        for key in old:
            del self._salts[key]
        return len(old)
