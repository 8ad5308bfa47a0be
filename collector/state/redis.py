"""The day's state in Redis, shared by every collector: counting there is exactly as in one process.

Per beacon, at most two round trips: the read (the visitor's record, and in the same pipeline
the guard's answer for values this collector has not seen admitted today) and the commit, one
script that compares the record with what was read and, only if it is unchanged, stores the new
one and counts the realtime figures. A refused commit is a race with another beacon of the same
visitor, and ``Collector.count`` counts again from the record the other left.

Everything expires at the end of its site's local day (plus ``GRACE_S``), so a Redis that no
collector tends still forgets every visitor hash and salt. Salts are created with ``SET NX``, so
collectors starting a day agree on one. Redis must run with persistence off (``save ""``,
``appendonly no``): otherwise it writes salts and visitor hashes to disk, which ``crumbless
audit`` reports. Every Redis fault becomes ``StateUnavailable`` (the beacon gets 503), with a
message that names only its type: a client error message quotes the server's address, and a log
must not hold addresses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from collector.guard import OTHER, Admitted, Wanted
from collector.hits import Hit, Kind
from collector.realtime import WINDOW_MINUTES
from collector.state import DayEnds, Snapshot, StateUnavailable
from collector.visitors import VisitorRecord, decode, encode

PREFIX = "crumbless"
GRACE_S = 120
"""Seconds a day's state outlives the day: a beacon counted at 23:59:59 commits after midnight."""
ACTIVE_KEPT_S = 15 * 60
DELETED = f"{PREFIX}:deleted"
TIMEOUT_S = 5.0
"""How long a Redis call may take before the beacon is refused. Redis answers in well under a
millisecond; the time is there for a collector whose event loop is busy (the timeout is measured
on it), which should slow down under load rather than refuse what it could count."""
T = TypeVar("T")

log = logging.getLogger("crumbless.state")

_ADMIT = """
-- KEYS: one guard set per value; ARGV[1]: the bound, ARGV[2]: when the sets expire, ARGV[3..]: the values
local bound, expires, out = tonumber(ARGV[1]), ARGV[2], {}
for i, key in ipairs(KEYS) do
  local value = ARGV[i + 2]
  if redis.call('SISMEMBER', key, value) == 1 then
    out[i] = 1
  elseif redis.call('SCARD', key) < bound then
    redis.call('SADD', key, value)
    redis.call('EXPIREAT', key, expires)
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

_COMMIT = """
-- KEYS: record, active visitors (sorted set), this minute's pageviews, deleted sites
-- ARGV: was a record read (1/0), the record read, the new record, when it expires, visitor,
--       last seen, pageview (1/0), when the minute's count expires, site
if redis.call('SISMEMBER', KEYS[4], ARGV[9]) == 1 then return -1 end
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'EXAT', ARGV[4])
local seen = tonumber(ARGV[6])
redis.call('ZADD', KEYS[2], seen, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', seen - tonumber(ARGV[10]))
redis.call('EXPIRE', KEYS[2], ARGV[10])
if ARGV[7] == '1' then
  redis.call('INCR', KEYS[3])
  redis.call('EXPIREAT', KEYS[3], ARGV[8])
end
return 1
"""

_SAVE_SALT = """
-- KEYS: the salt, deleted sites; ARGV: salt, when it expires, site
if redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 1 then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EXAT', ARGV[2])
return redis.call('GET', KEYS[1]) or ARGV[1]  -- a day already over is not kept at all
"""


RECORD_LAYOUT = "x"
"""The letter of record keys, one per layout of ``visitors.pack`` (``v`` before the segment and
funnel fields, ``w`` before a pair took four bytes and the day two): during a rolling upgrade, a
collector never decodes a record another release wrote, it finds none and counts that visitor
anew (``_forget_site``'s pattern takes any one letter)."""


def record_key(site: int, day: int, visitor: int) -> str:
    return f"{PREFIX}:{RECORD_LAYOUT}:{site}:{day}:{visitor:016x}"


def guard_key(site: int, day: int, dim: str) -> str:
    return f"{PREFIX}:g:{site}:{day}:{dim}"


def salt_key(site: int, day: int) -> str:
    return f"{PREFIX}:s:{site}:{day}"


SALT_KEYS = f"{PREFIX}:s:*"


def parse_salt_key(key: bytes) -> tuple[int, int] | None:
    """(site, day) of a key ``salt_key`` wrote, else None (the audit judges what it finds)."""
    parts = key.split(b":")
    if len(parts) != 4 or parts[0] != PREFIX.encode() or parts[1] != b"s" or not all(p.isdigit() for p in parts[2:]):
        return None
    return int(parts[2]), int(parts[3])


def minute_key(site: int, minute: int) -> str:
    return f"{PREFIX}:m:{site}:{minute}"


def active_key(site: int) -> str:
    return f"{PREFIX}:a:{site}"


class Scripts:
    """Lua scripts run by their SHA1 (loaded again after a Redis restart forgot them), so a
    pipeline sends one EVALSHA and no SCRIPT EXISTS check of its own."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.sources = {"admit": _ADMIT, "commit": _COMMIT, "save_salt": _SAVE_SALT}
        self.shas: dict[str, str] = {}

    async def load(self) -> None:
        for name, source in self.sources.items():
            self.shas[name] = await self.client.script_load(source)

    async def run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        if not self.shas:
            await self.load()
        try:
            return await self.client.evalsha(self.shas[name], len(keys), *keys, *args)
        except NoScriptError:
            await self.load()
            return await self.client.evalsha(self.shas[name], len(keys), *keys, *args)


async def reached(call: Awaitable[T]) -> T:
    """``call``'s result; any Redis fault as ``StateUnavailable``, naming only its type."""
    try:
        return await call
    except (RedisError, OSError) as exc:
        raise StateUnavailable(f"Redis: {type(exc).__name__}") from None


async def get(client: aioredis.Redis, key: str) -> bytes | None:
    value = await reached(client.get(key))
    assert value is None or isinstance(value, bytes)  # the client decodes no responses
    return value


class RedisState:
    def __init__(self, client: aioredis.Redis, max_values: int, day_ends: DayEnds) -> None:
        self.client = client
        self.scripts = Scripts(client)
        self.max_values = max_values
        self.day_ends = day_ends
        self.evicted = 0  # Redis evicts nothing of ours: it must run without maxmemory eviction
        self.round_trips = 0
        # Values this collector saw admitted, per site, day and dimension: admitted stays admitted
        # for the day, so only new values need asking. Refusals are not kept: another collector
        # may have admitted the value before the bound was reached, and it must count alike here.
        self._admitted: dict[tuple[int, int, str], set[str]] = {}

    async def read(self, hit: Hit, wanted: Sequence[Wanted]) -> Snapshot:
        key = record_key(hit.site, hit.day, hit.visitor)
        values: Admitted = {}
        unknown: list[Wanted] = []
        for dim, value in wanted:
            known = self._admitted.get((hit.site, hit.day, dim))
            if known is not None and value in known:
                values[(dim, value)] = value
            else:
                unknown.append((dim, value))
        self.round_trips += 1
        if not unknown:
            data = await get(self.client, key)
        else:
            data, answers = await reached(self._read_and_admit(hit, key, unknown))
            for (dim, value), admitted in zip(unknown, answers, strict=True):
                if admitted:
                    self._admitted.setdefault((hit.site, hit.day, dim), set()).add(value)
                values[(dim, value)] = value if admitted else OTHER
        return Snapshot(None if data is None else decode(data), values, data)

    async def _read_and_admit(self, hit: Hit, key: str, unknown: Sequence[Wanted]) -> tuple[bytes | None, list[int]]:
        if not self.scripts.shas:
            await self.scripts.load()
        expires = self.day_ends(hit.site, hit.day) + GRACE_S
        keys = [guard_key(hit.site, hit.day, dim) for dim, _ in unknown]
        for _ in range(2):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.evalsha(
                    self.scripts.shas["admit"], len(keys), *keys, self.max_values, expires, *(v for _, v in unknown)
                )
                try:
                    data, answers = await pipe.execute()
                    return data, answers
                except NoScriptError:
                    await self.scripts.load()  # Redis restarted: it forgot them
        raise StateUnavailable("Redis keeps forgetting its scripts")

    async def commit(self, hit: Hit, snapshot: Snapshot, record: VisitorRecord) -> bool:
        read = snapshot.version
        assert read is None or isinstance(read, bytes)
        minute = hit.ts // 60
        keys = [record_key(hit.site, hit.day, hit.visitor), active_key(hit.site), minute_key(hit.site, minute), DELETED]
        args = [
            "0" if read is None else "1",
            read or b"",
            encode(record),
            self.day_ends(hit.site, hit.day) + GRACE_S,
            f"{hit.visitor:016x}",
            hit.ts,
            "1" if hit.kind is Kind.PAGEVIEW else "0",
            (minute + WINDOW_MINUTES + 1) * 60,
            hit.site,
            ACTIVE_KEPT_S,
        ]
        self.round_trips += 1
        done = await reached(self.scripts.run("commit", keys, args))
        if done == -1:
            raise LookupError("the site was deleted")
        return bool(done)

    async def close_days(self, site: int, before_day: int) -> int:
        for key in [k for k in self._admitted if k[0] == site and k[1] < before_day]:
            del self._admitted[key]
        return 0  # the records expire in Redis at the end of their day

    def seed(self, values: Iterable[tuple[int, int, str, str]]) -> None:
        return None  # the shared guard outlives any one collector

    async def forget_site(self, site: int) -> None:
        await reached(self._forget_site(site))
        for key in [k for k in self._admitted if k[0] == site]:
            del self._admitted[key]

    async def _forget_site(self, site: int) -> None:
        await self.client.sadd(DELETED, site)
        for pattern in (f"{PREFIX}:?:{site}:*", active_key(site)):
            keys = [key async for key in self.client.scan_iter(match=pattern, count=1000)]
            if keys:
                await self.client.delete(*keys)

    async def active_since(self, site: int, since: int) -> int:
        return int(await reached(self.client.zcount(active_key(site), since, "+inf")))

    async def pageviews_per_minute(self, site: int, now: float, minutes: int) -> list[int]:
        current = int(now // 60)
        keys = [minute_key(site, m) for m in range(current - minutes + 1, current + 1)]
        return [int(n or 0) for n in await reached(self.client.mget(keys))]

    async def reachable(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.client.aclose()


class RedisSalts:
    """Today's salts, only in Redis: never written to any disk (``identity.Salts`` caches them)."""

    def __init__(self, client: aioredis.Redis, scripts: Scripts, day_ends: DayEnds) -> None:
        self.client, self.scripts, self.day_ends = client, scripts, day_ends

    async def load_salt(self, site: int, day: int) -> bytes | None:
        return await get(self.client, salt_key(site, day))

    async def save_salt(self, site: int, day: int, salt: bytes) -> bytes:
        expires = self.day_ends(site, day) + GRACE_S
        kept = await reached(self.scripts.run("save_salt", [salt_key(site, day), DELETED], [salt, expires, site]))
        if kept == -1:
            raise LookupError("the site was deleted")
        assert isinstance(kept, bytes)
        return kept

    async def erase_salts(self, site: int, before_day: int) -> int:
        """Delete the last days' salts now, not at their expiry: the day is over (see ``GRACE_S``)."""
        erased = await reached(self.client.delete(*(salt_key(site, day) for day in range(before_day - 3, before_day))))
        return int(erased)


async def connect(url: str, max_values: int, day_ends: DayEnds) -> tuple[RedisState, RedisSalts]:
    """Clients for ``url``; a Redis not reachable yet is no error here (beacons get 503 until it is)."""
    client = aioredis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
    state = RedisState(client, max_values, day_ends)
    try:
        await state.scripts.load()
    except (RedisError, OSError) as exc:
        log.warning("Redis is not reachable yet (%s); beacons are refused with 503 until it is", type(exc).__name__)
    return state, RedisSalts(client, state.scripts, day_ends)
