"""The wall clock of the collectors in the scale-out tests (tests/cluster.py): one file's number.

Python imports ``sitecustomize`` at start-up from the first folder of its path that has one; the
tests put this folder first on PYTHONPATH and name the file in FAKE_CLOCK_FILE. Then
``time.time`` and ``time.time_ns`` answer the Unix second written there, frozen until the test
writes the next one. Nothing else is touched: the event loop, timeouts, sleeps and threads keep
the real monotonic clock.

This replaces libfaketime, which fakes the clock for the whole C library: it also rewrites the
deadlines of timed waits, and the release Debian ships gets monotonic ones wrong (its
``clock_nanosleep`` fails with EINVAL, and condition waits miss their deadline). Under it, the
collectors stalled for seconds at a time, and the same beacons without it took milliseconds.
"""

from __future__ import annotations

import os
import time

_PATH = os.environ.get("FAKE_CLOCK_FILE")

if _PATH:
    _read: list[tuple[tuple[int, int], float]] = [((0, 0), 0.0)]
    """The file's (inode, mtime) and its number: a tick replaces the file, so a new inode."""

    def _fake_time(path: str = _PATH) -> float:
        status = os.stat(path)
        key = (status.st_ino, status.st_mtime_ns)
        seen, value = _read[0]
        if key != seen:
            with open(path, encoding="ascii") as file:
                value = float(file.read())
            _read[0] = (key, value)
        return value

    def _fake_time_ns() -> int:
        return int(_fake_time() * 1e9)

    time.time = _fake_time
    time.time_ns = _fake_time_ns
