"""Daily salts and the visitor hash: how a visitor is recognised within one site-day, and no further.

The salt is random (not derived from a secret and the date, as Umami's is), so once its row is
erased nobody — not even the operator — can recompute yesterday's hashes from an IP address.
It is stored only so a restart keeps today's hashes stable, and erased when the site's local day
is over.
"""

from __future__ import annotations

import logging
import os
from hashlib import blake2b

from collector.store import SaltStore, StoreError

SALT_BYTES = 32

log = logging.getLogger("crumbless.identity")


class Salts:
    """Today's salt per site, cached in memory; the store is only asked once per site-day."""

    def __init__(self, store: SaltStore) -> None:
        self._store = store
        self._cache: dict[tuple[int, int], bytes] = {}
        self._unsaved: set[tuple[int, int]] = set()

    async def salt(self, site: int, day: int) -> bytes:
        salt = self._cache.get((site, day))
        if salt is None:
            salt = self._cache[(site, day)] = await self._load_or_create(site, day)
        return salt

    async def _load_or_create(self, site: int, day: int) -> bytes:
        try:
            salt = await self._store.load_salt(site, day)
            # Another worker may have raced us; the store keeps the first and returns it.
            return salt or await self._store.save_salt(site, day, os.urandom(SALT_BYTES))
        except StoreError as exc:
            # Counting must not stop because the database is briefly away: use a fresh salt now
            # and store it when the database is back (``persist_pending``).
            log.warning("could not load or store today's salt, using one kept in memory: %s", type(exc).__name__)
            self._unsaved.add((site, day))
            return os.urandom(SALT_BYTES)

    async def persist_pending(self) -> None:
        for key in sorted(self._unsaved):
            salt = self._cache.get(key)
            if salt is not None:
                self._cache[key] = await self._store.save_salt(*key, salt)
            self._unsaved.discard(key)

    async def erase_before(self, site: int, day: int) -> int:
        for key in [k for k in self._cache if k[0] == site and k[1] < day]:
            del self._cache[key]
            self._unsaved.discard(key)
        return await self._store.erase_salts(site, day)


def visitor_hash(salt: bytes, site: int, ip: str, user_agent: str) -> int:
    """Keyed BLAKE2b over site, IP and User-Agent, 60 of its 64 bits.

    Keyed hashing (not a plain hash of salt + data) is the construction BLAKE2 is designed for.
    60 bits make collisions between a site's daily visitors negligible (one in about two million
    days of a million visitors) and are the most CPython keeps in a 32-byte int, 4 bytes less
    than 64 bits take, for every visitor the memory state holds.
    """
    data = f"{site}\x00{ip}\x00{user_agent}".encode("utf-8", "surrogatepass")
    digest = blake2b(data, digest_size=8, key=salt).digest()
    return int.from_bytes(digest, "big") & _SIXTY_BITS


_SIXTY_BITS = (1 << 60) - 1
