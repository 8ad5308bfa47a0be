"""The session cookie: who is logged in, signed with HMAC-SHA256 — the only cookie Crumbless sets.

The cookie carries the user id, the account's session key (random per account and replaced by a
password change, which ends every older session; it also keeps a cookie from ever opening another
account that is given the same id), the session's CSRF token and when it was issued. Nothing about
visitors, no IP address. It is HttpOnly and SameSite=Strict, and Secure whenever the dashboard is
reached over HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "crumbless"
MAX_AGE_S = 14 * 24 * 3600


@dataclass(frozen=True)
class Session:
    user: int
    key: str             # the account's session key when the session began
    csrf: str
    issued: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def new_session(user: int, key: str) -> Session:
    return Session(user, key, secrets.token_urlsafe(24), int(time.time()))


def encode(key: bytes, session: Session) -> str:
    payload = _b64(json.dumps([session.user, session.key, session.csrf, session.issued]).encode())
    return f"{payload}.{_mac(key, payload)}"


def decode(key: bytes, cookie: str, now: float | None = None) -> Session | None:
    """The session in a cookie, or None if it is forged, malformed or too old."""
    payload, _, mac = cookie.partition(".")
    if not mac or not hmac.compare_digest(mac, _mac(key, payload)):
        return None
    try:
        user, key, csrf, issued = json.loads(_unb64(payload))
    except (ValueError, TypeError):
        return None
    if not (_whole(user) and _whole(issued) and isinstance(key, str) and isinstance(csrf, str)):
        return None  # e.g. a cookie of the older [user, epoch, …] form: log in again
    session = Session(user, key, csrf, issued)
    if (time.time() if now is None else now) - session.issued > MAX_AGE_S:
        return None
    return session


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def nonce_digest(session: Session) -> str:
    """What the store keeps of an ended session: its random nonce (the CSRF token), hashed."""
    return hashlib.sha256(session.csrf.encode()).hexdigest()


def expires(session: Session) -> int:
    return session.issued + MAX_AGE_S


def is_https(request: Request, public_url: str) -> bool:
    return request.url.scheme == "https" or public_url.startswith("https://")


def set_cookie(response: Response, key: bytes, session: Session, secure: bool) -> None:
    response.set_cookie(
        COOKIE, encode(key, session), max_age=MAX_AGE_S, path="/", httponly=True, samesite="strict", secure=secure
    )


def clear_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
