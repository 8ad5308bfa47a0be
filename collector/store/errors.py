"""The one exception every store raises, whatever its database said."""

from __future__ import annotations


class StoreError(Exception):
    """A store operation failed; the message is safe to show (it never carries hit data)."""
