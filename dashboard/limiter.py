"""Failed logins, limited per account name — never per IP address, which Crumbless does not keep.

Five failures within fifteen minutes lock the account name for the rest of that window. Both
tables live in memory only and are bounded, so guessing many names cannot grow them without
limit; the cost of a restart (the counts start over) is small next to argon2id's cost per guess.

A lock is kept apart from the failures still counting towards one: names that merely failed
once make way for newer ones, but no number of other names failing can push out a lock (which
would let an attacker unlock the name they are guessing by failing with 10,000 others). Locks
leave only when their window ends. Their table is bounded too; if it is ever full of live locks,
every other name is refused as locked until one ends — failing closed — rather than evicting one. Every
lock costs five argon2id checks, so filling it takes millions of checks within one window.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_FAILURES = 5
WINDOW_S = 15 * 60
MAX_NAMES = 10_000
MAX_LOCKS = 100_000


class LoginLimiter:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_names: int = MAX_NAMES, max_locks: int = MAX_LOCKS
    ) -> None:
        self._clock = clock
        self._max_names, self._max_locks = max_names, max_locks
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._locks: OrderedDict[str, float] = OrderedDict()  # name -> when it unlocks, oldest first

    @staticmethod
    def _key(name: str) -> str:
        return name.strip().casefold()

    def retry_after(self, name: str) -> int:
        """Seconds until ``name`` may try again; 0 if it may now."""
        key, now = self._key(name), self._clock()
        self._expire(now)
        until = self._locks.get(key)
        if until is None and len(self._locks) >= self._max_locks:
            until = next(iter(self._locks.values()))  # full of live locks: fail closed until one ends
        return int(until - now) + 1 if until is not None and until > now else 0

    def failed(self, name: str) -> None:
        key, now = self._key(name), self._clock()
        failures = self._failures.pop(key, None) or deque(maxlen=MAX_FAILURES)
        while failures and failures[0] <= now - WINDOW_S:
            failures.popleft()
        failures.append(now)
        if len(failures) < MAX_FAILURES:
            self._failures[key] = failures
            while len(self._failures) > self._max_names:
                self._failures.popitem(last=False)
        else:
            self._expire(now)
            if len(self._locks) < self._max_locks:
                self._locks[key] = failures[0] + WINDOW_S

    def succeeded(self, name: str) -> None:
        self._failures.pop(self._key(name), None)

    def _expire(self, now: float) -> None:
        """Locks leave in the order they were set, which is nearly the order they end; a full
        table is swept whole, so it is never full of locks that have already ended."""
        while self._locks and next(iter(self._locks.values())) <= now:
            self._locks.popitem(last=False)
        if len(self._locks) >= self._max_locks:
            self._locks = OrderedDict((k, until) for k, until in self._locks.items() if until > now)

    def names(self) -> set[str]:
        """Every name the limiter holds (for tests and the privacy check: names, never addresses)."""
        return set(self._failures) | set(self._locks)
