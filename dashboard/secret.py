"""The key that signs session cookies: random, made once, kept in the data directory.

It lives in a file of its own (mode 0600) rather than in the database, so a copy of the
database — a backup, an export for debugging — cannot be used to forge a session. Deleting the
file logs everybody out, which is also the way to rotate it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_FILE = "secret.key"
SECRET_BYTES = 32


def load_or_create(data_dir: Path) -> bytes:
    path = data_dir / SECRET_FILE
    try:
        raw = path.read_text().strip()
        if len(raw) >= 2 * SECRET_BYTES:
            return bytes.fromhex(raw)
    except (FileNotFoundError, ValueError):
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_hex(SECRET_BYTES)
    tmp = path.with_name(f".{SECRET_FILE}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(fresh + "\n")
    try:
        os.link(tmp, path)  # first writer wins when two processes start at once
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return bytes.fromhex(path.read_text().strip())
