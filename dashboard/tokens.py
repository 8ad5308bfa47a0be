"""Personal API tokens and share-link tokens: random, unguessable, and (for API tokens) stored hashed.

An API token is 32 random bytes shown once; only its SHA-256 is stored, so a leaked database
does not hand out API access. A plain hash is enough (no argon2) because the token has 256 bits
of entropy: there is nothing to brute-force. Share tokens are stored as they are, because the
admin must be able to copy the link again; they grant read access to one site only and are
revoked by turning the link off.
"""

from __future__ import annotations

import hashlib
import secrets

API_PREFIX = "cb_"


def new_api_token() -> str:
    return API_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_share_token() -> str:
    return secrets.token_urlsafe(24)
