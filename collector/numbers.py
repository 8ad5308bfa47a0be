"""The one way Crumbless reads a whole number someone typed: a query parameter, a form field, a
header, a path segment, a setting or a command-line option.

``str.isdigit`` is true for ``²`` and ``①``, which ``int`` rejects (a 500 where a 400 was meant);
``int`` itself accepts ``٥``, ``" 5 "`` and ``"5_000"``, and refuses more than 4,300 digits with
an error nobody expects. Only ASCII digits, at most ``MAX_DIGITS`` of them, are a number here, so
every caller gets either an int in its range or one ``NotANumber`` whose message can be shown.
"""

from __future__ import annotations

import re

MAX_DIGITS = 18
"""Enough for any id, count or Unix time, and always below SQLite's 64-bit integer limit."""

WHOLE_NUMBER = f"[0-9]{{1,{MAX_DIGITS}}}"
"""The pattern itself, for matchers that take a pattern (Starlette's path convertors) to agree with this module."""
_WHOLE = re.compile(WHOLE_NUMBER, re.ASCII)


class NotANumber(ValueError):
    """The text is not a whole number in the allowed range; the message says which range."""


LARGEST = 10**MAX_DIGITS - 1


def whole_number(text: str, low: int = 0, high: int = LARGEST, name: str = "value") -> int:
    """``text`` as an int from ``low`` to ``high``, or ``NotANumber`` naming ``name`` and the range."""
    wanted = f"a whole number from {low} to {high}" if high < LARGEST else f"a whole number of at least {low}"
    if not isinstance(text, str) or _WHOLE.fullmatch(text) is None:
        raise NotANumber(f"{name} must be {wanted}, got {_shown(text)}")
    value = int(text)
    if not low <= value <= high:
        raise NotANumber(f"{name} must be {wanted}, got {value}")
    return value


def is_whole_number(text: str) -> bool:
    return isinstance(text, str) and _WHOLE.fullmatch(text) is not None


def _shown(text: object) -> str:
    """The offending text for an error message, cut short: a 5,000-digit string helps nobody."""
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."
