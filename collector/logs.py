"""Logging set-up for every Crumbless process: one format, to stderr, and no uvicorn access log.

``CRUMBLESS_LOG_LEVEL=debug`` makes Crumbless's own loggers talkative, never other libraries':
at debug level aiosqlite logs each statement with its parameters, today's salt included, and
uvicorn's lower levels name client addresses. Third-party loggers therefore stay at info or above.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    chosen = logging.getLevelName(level.upper())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(chosen, logging.INFO))
    logging.getLogger("crumbless").setLevel(chosen)
    # Uvicorn's access logger prints client addresses; it must never emit a line.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True
