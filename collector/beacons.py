"""Step 1 of the pipeline: parse and validate a beacon body in Umami's or Plausible's format.

Both wire formats are accepted unchanged so that Umami's and Plausible's scripts, SDKs and
plugins work against Crumbless as they are. Everything a browser sends is untrusted: each field
is type-checked and length-capped here, and the first problem becomes a 400 naming that field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from collector.hits import Beacon, Kind, Props
from collector.urls import clean_text

MAX_URL = 4096
MAX_NAME = 120
MAX_PROPS = 30
MAX_PROP_KEY = 128
MAX_PROP_VALUE = 512
MAX_PROP_DEPTH = 3               # levels of nested objects flattened into dotted keys
MAX_ENGAGED_MS = 30 * 60 * 1000   # one ping never reports more than a visit's idle limit

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_SCREEN = re.compile(r"^(\d{1,6})\s*[xX*]\s*\d{1,6}$")


class BadBeacon(Exception):
    """A rejected beacon: ``status`` and a message naming the offending ``field``."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


def decode(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise BadBeacon("body", "is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadBeacon("body", "must be a JSON object")
    return data


class Fields:
    """Typed access to one JSON object; a field may be sent under several names (``n``/``name``)."""

    def __init__(self, data: dict[str, Any], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix

    def _get(self, names: tuple[str, ...]) -> tuple[str, Any]:
        for name in names:
            if name in self.data and self.data[name] is not None:
                return self.prefix + name, self.data[name]
        return self.prefix + names[0], None

    def text(self, *names: str, limit: int, required: bool = False) -> str:
        field, value = self._get(names)
        if value is None:
            if required:
                raise BadBeacon(field, "is required")
            return ""
        if not isinstance(value, str):
            raise BadBeacon(field, "must be a string")
        if len(value) > limit:
            raise BadBeacon(field, f"is longer than {limit} characters")
        value = value.strip()
        if required and not value:
            raise BadBeacon(field, "must not be empty")
        return value

    def number(self, *names: str, low: int, high: int, default: int) -> int:
        field, value = self._get(names)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise BadBeacon(field, "must be a number")
        if not low <= value <= high:
            raise BadBeacon(field, f"must be between {low} and {high}")
        return int(value)

    def flag(self, *names: str, default: bool) -> bool:
        field, value = self._get(names)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if value in (0, 1):
            return bool(value)
        raise BadBeacon(field, "must be true or false")

    def props(self, *names: str, nested: bool = False) -> Props:
        """Event properties; with ``nested`` (Umami's event data, which is any JSON), objects and
        arrays are flattened into ``_flat_props`` instead of being refused."""
        field, value = self._get(names)
        if isinstance(value, str):
            # Plausible's script sends props as a JSON-encoded string.
            if len(value) > MAX_PROPS * (MAX_PROP_KEY + MAX_PROP_VALUE):
                raise BadBeacon(field, "is too large")
            try:
                value = json.loads(value) if value.strip() else None
            except (ValueError, RecursionError):
                raise BadBeacon(field, "is not valid JSON") from None
        if value is None:
            return ()
        if not isinstance(value, dict):
            raise BadBeacon(field, "must be an object")
        if len(value) > MAX_PROPS:
            raise BadBeacon(field, f"has more than {MAX_PROPS} properties")
        if nested:
            value = dict(sorted(_flat_props(value), key=lambda prop: prop[0])[:MAX_PROPS])
        return tuple(sorted(_prop(field, k, v) for k, v in value.items() if v is not None))

    def object(self, *names: str) -> Fields:
        field, value = self._get(names)
        if not isinstance(value, dict):
            raise BadBeacon(field, "must be an object")
        return Fields(value, prefix=f"{field}.")


def _prop(field: str, key: Any, value: Any) -> tuple[str, str]:
    text = _prop_text(value)
    if text is None:
        raise BadBeacon(f"{field}.{clean_text(str(key), 40)}", "must be a string, number or boolean")
    name = clean_text(key, MAX_PROP_KEY)
    if not name:
        raise BadBeacon(field, "property names must not be empty")
    return name, clean_text(text, MAX_PROP_VALUE)


def _flat_props(data: dict[Any, Any], prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    """``{cart: {items: 2}, tags: ['a', 'b']}`` → ``cart.items = 2``, ``tags = a, b``.

    Umami's event data may be any JSON, and its tracker sends it as given: refusing nested values
    would lose the whole event.  Objects become dotted keys; an array of scalars becomes one value,
    its items joined by ", " (a property has one value per event); what cannot be kept that way (an
    array holding objects or arrays, nesting deeper than ``MAX_PROP_DEPTH``, nulls) is dropped.
    """
    flat: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if depth < MAX_PROP_DEPTH:
                flat += _flat_props(value, f"{name}.", depth + 1)
        elif isinstance(value, list):
            texts = [text for text in map(_prop_text, value) if text is not None]
            if value and len(texts) == len(value):
                flat.append((name, ", ".join(texts)))
        elif value is not None:
            flat.append((name, value))
    return flat


def _prop_text(value: Any) -> str | None:
    """A scalar property value as stored; None for what is not a string, number or boolean."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and value == value:
        return str(value)
    return value if isinstance(value, str) else None


def language_tag(raw: str) -> str:
    """``en-us`` → ``en-US``; anything that is not a plain language tag → ""."""
    raw = raw.strip()
    if not _LANGUAGE.match(raw) or len(raw) > 35:
        return ""
    primary, _, rest = raw.partition("-")
    region = rest.upper() if len(rest) == 2 else rest
    return f"{primary.lower()}-{region}" if rest else primary.lower()


def _event_name(fields: Fields, *names: str) -> str:
    name = clean_text(fields.text(*names, limit=4 * MAX_NAME, required=True), MAX_NAME)
    if not name:
        raise BadBeacon(fields.prefix + names[0], "must not be empty")
    return name


# Umami's other beacon types, answered as Umami answers them and otherwise ignored: Crumbless never
# links a visitor to an identity (``identify``), and keeps no page timings (``performance``, sent
# by Umami's script with ``data-performance``: TTFB, FCP, LCP, CLS, INP, duration).
IGNORED_UMAMI_TYPES = frozenset({"identify", "performance"})


def parse_umami(body: bytes) -> Beacon | None:
    """Umami's ``{"type": "event", "payload": {...}}``; the ``IGNORED_UMAMI_TYPES`` give None."""
    top = Fields(decode(body))
    kind = top.text("type", limit=32) or "event"
    if kind in IGNORED_UMAMI_TYPES:
        return None
    if kind != "event":
        raise BadBeacon("type", "must be \"event\", \"identify\" or \"performance\"")
    payload = top.object("payload")
    name = _event_name(payload, "name") if payload.data.get("name") is not None else ""
    screen = payload.text("screen", limit=32)
    match = _SCREEN.match(screen)
    return Beacon(
        kind=Kind.EVENT if name else Kind.PAGEVIEW,
        website_id=payload.text("website", limit=64, required=True),
        domain="",
        url=payload.text("url", limit=MAX_URL, required=True),
        hostname=payload.text("hostname", limit=253),
        referrer=payload.text("referrer", limit=MAX_URL),
        screen_width=int(match.group(1)) if match else None,
        language=language_tag(payload.text("language", limit=64)),
        event_name=name,
        props=payload.props("data", nested=True) if name else (),
        hash_mode=False,
        interactive=True,
        engaged_ms=0,
        scroll=-1,
    )


def parse_plausible(body: bytes) -> Beacon:
    """Plausible's event body, with its short (``n``, ``u``, ``d``…) or long field names.

    Crumbless's own tracker sends the same body with the site's id (``id``) instead of a domain:
    the id is what its snippet carries, and it names one site even when several share a host.
    """
    fields = Fields(decode(body))
    website_id = fields.text("id", "website_id", limit=64)
    name = _event_name(fields, "n", "name")
    kind = {"pageview": Kind.PAGEVIEW, "engagement": Kind.ENGAGEMENT}.get(name, Kind.EVENT)
    width = fields.number("w", "screen_width", low=0, high=100_000, default=-1)
    return Beacon(
        kind=kind,
        website_id=website_id,
        domain=fields.text("d", "domain", limit=1024, required=not website_id),
        url=fields.text("u", "url", limit=MAX_URL, required=True),
        hostname="",
        referrer=fields.text("r", "referrer", limit=MAX_URL),
        screen_width=width if width > 0 else None,
        language="",
        event_name=name if kind is Kind.EVENT else "",
        props=fields.props("p", "props", "m", "meta") if kind is Kind.EVENT else (),
        hash_mode=fields.flag("h", "hashMode", "hash_mode", default=False),
        interactive=fields.flag("i", "interactive", default=True),
        engaged_ms=(
            min(fields.number("e", "engagement_time", low=0, high=10**9, default=0), MAX_ENGAGED_MS)
            if kind is Kind.ENGAGEMENT
            else 0
        ),
        scroll=fields.number("sd", "scroll_depth", low=-1, high=100, default=-1) if kind is Kind.ENGAGEMENT else -1,
    )


PARSERS: dict[str, Callable[[bytes], Beacon | None]] = {"umami": parse_umami, "plausible": parse_plausible}
