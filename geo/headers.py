"""The visitor's country as already determined by a CDN or reverse proxy in front of Crumbless.

When the site sits behind Cloudflare, CloudFront and the like, the client address Crumbless sees
may be the proxy's, and the edge has a better (and free) answer anyway. These headers are
trivially forged by anyone talking to Crumbless directly, so the caller must only use this for
requests whose peer is in ``CRUMBLESS_TRUSTED_PROXIES``.
"""

from __future__ import annotations

from collections.abc import Mapping

from geo.lookup import clean_country

# Lower-case, most specific first. Only headers whose vendor documents them as set by the edge:
#   cf-ipcountry               Cloudflare ("IP Geolocation"; XX = unknown, T1 = Tor)
#   cloudfront-viewer-country  Amazon CloudFront (when forwarded by the origin request policy)
#   x-vercel-ip-country        Vercel
#   x-appengine-country        Google App Engine (ZZ = unknown)
#   x-country-code             not a vendor's: the name to use when your own nginx/HAProxy sets
#                              it (e.g. proxy_set_header X-Country-Code $geoip2_country_code)
# Fastly has no built-in country header (VCL authors choose their own names), so none is listed.
COUNTRY_HEADERS: tuple[str, ...] = (
    "cf-ipcountry",
    "cloudfront-viewer-country",
    "x-vercel-ip-country",
    "x-appengine-country",
    "x-country-code",
)


def country_from_headers(headers: Mapping[str, str]) -> str | None:
    """The upper-case alpha-2 code from the first country header that holds a real country.

    ``headers`` is expected to be Starlette's ``Headers`` (case-insensitive); a plain ``dict``
    works when its keys are lower case, as ASGI delivers them. Only call this for requests that
    came through a trusted proxy. Placeholders (XX, ZZ, T1, A1, A2, O1, ...) and malformed values
    give None so the caller falls back to its own database lookup.
    """
    for name in COUNTRY_HEADERS:
        value = headers.get(name)
        if value:
            code = clean_country(value.strip())
            if code is not None:
                return code
    return None
