"""Country codes as flags: a flag emoji (two regional-indicator letters); the name is CLDR's (``formats.country``)."""

from __future__ import annotations

_REGIONAL_A = 0x1F1E6


def flag(code: str) -> str:
    """🇫🇷 for "FR"; nothing for values that are not two ASCII letters (e.g. "Unknown", "(other)")."""
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return ""
    return "".join(chr(_REGIONAL_A + ord(c) - ord("A")) for c in code.upper())
