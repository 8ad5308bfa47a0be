"""What an annotation's date and text must be, checked once for the API, the CLI and the dashboard form.

An annotation is an admin's note on one of a site's local days ("newsletter sent"). Its text is
shown on the chart, in its data table and in the API, so it is kept short enough for a marker's
label, and controls are refused rather than stored (a newline would break the CLI's listing, and
nothing a person types into a one-line note needs one). It is stored as typed and escaped
wherever it is shown.
"""

from __future__ import annotations

import re
from datetime import date

from collector.localtime import day_number

MAX_TEXT = 200
"""Characters as given (surrounding spaces included); about two lines of a chart's hover text."""

_CONTROL_CLASS = "\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029"
_TRIMMED = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_TRIMMED_CLASS = "\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000"
TEXT_PATTERN = (
    f"^[{_TRIMMED_CLASS}]*[^{_CONTROL_CLASS}{_TRIMMED_CLASS}]"
    f"([^{_CONTROL_CLASS}]*[^{_CONTROL_CLASS}{_TRIMMED_CLASS}])?[{_TRIMMED_CLASS}]*$"
)
"""Exactly the texts ``annotation_text`` accepts, as a JSON Schema pattern (``dashboard/openapi.json``
carries it): spaces and line breaks around the note are trimmed, a control inside it is refused.
The space characters are listed rather than written ``\\s``, whose meaning differs between
ECMAScript and Python."""
DATE_PATTERN = "^(?!0000)[0-9]{4}-[0-9]{2}-[0-9]{2}$"
"""YYYY-MM-DD only: ``date.fromisoformat`` also takes ``20261130`` and week dates."""

_CONTROLS = re.compile(f"[{_CONTROL_CLASS}]")
_DATE = re.compile(DATE_PATTERN)
EVERY_DAY = (day_number(date.min), day_number(date.max))
"""A range of day numbers holding every annotation a site can have."""


class AnnotationError(ValueError):
    """A date or text that cannot be an annotation's; the message names the problem."""


def annotation_text(raw: str) -> str:
    if len(raw) > MAX_TEXT:
        raise AnnotationError(f"the annotation's text has {len(raw)} characters, at most {MAX_TEXT} are allowed")
    text = raw.strip(_TRIMMED)
    if not text:
        raise AnnotationError("the annotation's text is empty")
    if _CONTROLS.search(text):
        raise AnnotationError("the annotation's text must be one line without control characters")
    return text


def annotation_day(raw: str) -> int:
    """The day number of an ISO date (``2026-11-30``): the site-local day the note is about."""
    try:
        if not _DATE.match(raw):
            raise ValueError(raw)
        return day_number(date.fromisoformat(raw))
    except ValueError:
        raise AnnotationError(f"the date must look like 2026-11-30, got {raw[:40]!r}") from None
