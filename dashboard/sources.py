"""A source's name as the dashboard shows it, beside the display names the collector gives known sites.

The collector names well-known referrers ("GitHub", "Hacker News") and keeps everything else as
it came: a host (``lobste.rs``) or a tag a site owner wrote (``?utm_source=mastodon``). A bare
lowercase word beside "GitHub" reads as a mistake, so such a word is shown capitalized here. The
stored value is untouched, so CSV, the API and filters still carry exactly what was counted, and a
host, an app's package name or a tag with capitals of its own is shown as it is.
"""

from __future__ import annotations


def source_display(value: str) -> str:
    """``mastodon`` → ``Mastodon``, ``hacker news`` → ``Hacker News``; ``lobste.rs``, ``iOS`` unchanged."""
    if not value or "." in value or "/" in value or value != value.lower() or not value[0].isalpha():
        return value
    return " ".join(word[:1].upper() + word[1:] for word in value.split(" "))
