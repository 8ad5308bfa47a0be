"""Password hashing with argon2id: memory-hard, so a stolen database does not give away passwords."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

MIN_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def random_password() -> str:
    """About 120 bits, in characters that survive being copied from a terminal."""
    return secrets.token_urlsafe(15)
