"""CSRF defence for every form: a per-session token in a hidden field, and a same-origin check.

SameSite=Strict already keeps the session cookie off cross-site requests; the token and the
Origin check are the belt and braces the cookie attribute alone does not give older browsers.
The login form has no session yet, so it carries a short-lived signed token instead.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlsplit

from starlette.requests import Request

from collector.numbers import is_whole_number

FIELD = "csrf"
LOGIN_TOKEN_TTL_S = 2 * 3600


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def same_origin(request: Request, public_url: str) -> bool:
    """The request's Origin (or, lacking it, Referer) is this server as the browser reached it."""
    claimed = request.headers.get("origin") or _origin(request.headers.get("referer", ""))
    if not claimed or claimed == "null":
        return False
    own = {_origin(str(request.base_url)), _origin(public_url)}
    return claimed.lower().rstrip("/") in own


def token_matches(sent: object, expected: str) -> bool:
    return isinstance(sent, str) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def login_token(key: bytes, now: float | None = None) -> str:
    issued = str(int(time.time() if now is None else now))
    mac = hmac.new(key, b"login:" + issued.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{issued}.{mac}"


def login_token_valid(key: bytes, token: object, now: float | None = None) -> bool:
    if not isinstance(token, str) or "." not in token:
        return False
    issued, _, mac = token.partition(".")
    if not is_whole_number(issued):
        return False
    expected = hmac.new(key, b"login:" + issued.encode(), hashlib.sha256).hexdigest()[:32]
    age = (time.time() if now is None else now) - int(issued)
    return hmac.compare_digest(mac, expected) and 0 <= age <= LOGIN_TOKEN_TTL_S
