"""The machine a run was measured on: figures from different machines are not comparable."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def _first(path: str, key: str) -> str:
    """The value of the first ``key: value`` line of a /proc or /etc file, "" when absent."""
    try:
        for line in Path(path).read_text().splitlines():
            name, sep, value = line.partition(":" if ":" in line else "=")
            if sep and name.strip() == key:
                return value.strip().strip('"')
    except OSError:
        pass
    return ""


def describe() -> dict[str, object]:
    memory_kb = _first("/proc/meminfo", "MemTotal").split(" ")[0]
    return {
        "cpu": _first("/proc/cpuinfo", "model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_bytes": int(memory_kb) * 1024 if memory_kb.isdigit() else None,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": _first("/etc/os-release", "PRETTY_NAME") or platform.platform(),
        "kernel": platform.release(),
        "load_average": os.getloadavg(),
    }
