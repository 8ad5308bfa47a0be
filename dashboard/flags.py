"""Country codes as people read them: a flag emoji (two regional-indicator letters) and a name."""

from __future__ import annotations

from dashboard.countries import NAMES

_REGIONAL_A = 0x1F1E6


def flag(code: str) -> str:
    """🇫🇷 for "FR"; nothing for values that are not two ASCII letters (e.g. "Unknown", "(other)")."""
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return ""
    return "".join(chr(_REGIONAL_A + ord(c) - ord("A")) for c in code.upper())


def country_label(code: str) -> str:
    return NAMES.get(code.upper(), code) if code else "Unknown"
