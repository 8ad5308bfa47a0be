"""Failed logins, limited per account name — never per IP address, which Crumbless does not keep.

Five failures within fifteen minutes lock the account name for the rest of that window. The
table lives in memory only and is bounded, so guessing many names cannot grow it without limit;
the cost of a restart (the counts start over) is small next to argon2id's cost per guess.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from typing import Callable

MAX_FAILURES = 5
WINDOW_S = 15 * 60
MAX_NAMES = 10_000


class LoginLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @staticmethod
    def _key(name: str) -> str:
        return name.strip().casefold()

    def retry_after(self, name: str) -> int:
        """Seconds until ``name`` may try again; 0 if it may now."""
        failures = self._failures.get(self._key(name))
        if failures is None or len(failures) < MAX_FAILURES:
            return 0
        wait = failures[0] + WINDOW_S - self._clock()
        return max(0, int(wait) + 1) if wait > 0 else 0

    def failed(self, name: str) -> None:
        key = self._key(name)
        failures = self._failures.pop(key, None) or deque(maxlen=MAX_FAILURES)
        failures.append(self._clock())
        self._failures[key] = failures
        while len(self._failures) > MAX_NAMES:
            self._failures.popitem(last=False)

    def succeeded(self, name: str) -> None:
        self._failures.pop(self._key(name), None)
