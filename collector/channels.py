"""A source's channel: the coarse kind of place a visit came from (search, social, e-mail…).

Segment cells that pair a page with where its visitors came from are nearly all single-visitor
when the source is a host, so they would fold away at day close and say nothing; by channel they
keep what a site owner asks of one page ("do people find /donate by search or by social posts?").
A source is a display name (``collector.referrers``) or a host; names not listed here are referrals.
"""

from __future__ import annotations

from collector.guard import OTHER

DIRECT, SEARCH, SOCIAL, EMAIL, AI, PAID, REFERRAL = (
    "Direct",
    "Search",
    "Social",
    "Email",
    "AI assistants",
    "Paid",
    "Referral",
)

_CHANNELS: dict[str, tuple[str, ...]] = {
    SEARCH: (
        "Google",
        "Bing",
        "DuckDuckGo",
        "Yahoo",
        "Yandex",
        "Baidu",
        "Ecosia",
        "Brave Search",
        "Startpage",
        "Qwant",
        "Kagi",
    ),
    SOCIAL: (
        "Facebook",
        "Instagram",
        "Threads",
        "Twitter",
        "LinkedIn",
        "Reddit",
        "Hacker News",
        "YouTube",
        "Pinterest",
        "TikTok",
        "Bluesky",
        "Mastodon",
        "Telegram",
        "WhatsApp",
        "Discord",
        "Slack",
    ),
    EMAIL: ("Gmail", "Yahoo Mail", "Outlook"),
    AI: ("ChatGPT", "Perplexity", "Claude", "Copilot", "Gemini"),
}
_BY_SOURCE = {source: channel for channel, sources in _CHANNELS.items() for source in sources}
# A campaign's utm_medium says the channel outright where people tag links by the usual words.
_BY_MEDIUM = {
    **dict.fromkeys(("email", "e-mail", "e_mail", "newsletter", "mail"), EMAIL),
    **dict.fromkeys(("social", "social-media", "social_media", "sm"), SOCIAL),
    **dict.fromkeys(("cpc", "ppc", "paid", "paidsearch", "paid-search", "paid_search", "display", "banner"), PAID),
}


def channel(source: str, medium: str = "") -> str:
    """The channel of a visit from its stored source and utm_medium; a folded source stays folded
    (its channel is unknown)."""
    by_medium = _BY_MEDIUM.get(medium.lower()) if medium else None
    if by_medium:
        return by_medium
    if not source:
        return DIRECT
    if source == OTHER:
        return OTHER
    return _BY_SOURCE.get(source, REFERRAL)
