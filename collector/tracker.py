"""Serve ``tracker.js``: minified once per process, compressed once, then answered from memory.

Every visitor of every tracked site downloads this script, so its bytes and its caching matter
more than anything else the server sends. The readable source is minified (local names
shortened too: a minifier that only strips white space leaves ~40% more bytes) and compressed at
start, gzip with Zopfli (~10 bytes smaller than zlib's best) and brotli, so a request costs a
dictionary lookup.

Caching: sites embed the script at a fixed URL, so a new version cannot get a new URL. Browsers
may use their copy for an hour without asking, then keep using it for up to a day while they
revalidate in the background (``stale-while-revalidate``); revalidation is a conditional request
answered by ``304`` thanks to the ETag. An upgrade therefore reaches every visitor within about
an hour of their next visit, at the price of one tiny request per visitor and hour.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import brotli
import zopfli.gzip
from starlette.requests import Request
from starlette.responses import Response

from collector.config import Settings
from collector.sites import Site

# A link to the repository's tracker.js, so that a wheel carries the script inside the package.
SOURCE = Path(__file__).parent / "tracker.js"
CACHE_CONTROL = "public, max-age=3600, stale-while-revalidate=86400"
MEDIA_TYPE = "text/javascript; charset=utf-8"
# The one line of tracker.js the server fills in: where the script sends its beacons.
_COLLECT_PATH = re.compile(r'(\bCOLLECT_PATH = )"[^"\n]*"')
# Server preference among the encodings a client accepts: brotli is ~12% smaller than gzip here.
ENCODINGS = ("br", "gzip")


class TrackerSourceError(RuntimeError):
    """tracker.js cannot be turned into the served script (a packaging or editing mistake)."""


def minify(source: str) -> str:
    """Strip comments and white space and shorten local names.

    tdewolff/minify (the ``minify-go`` package) is used because its output is the smallest of the
    maintained Python-installable minifiers measured on this script (calmjs.parse: +22 bytes
    gzipped, rjsmin: +17%). Syntax is pinned to ES2019 so that a newer minifier cannot emit
    syntax older browsers reject (the script's APIs are ES2017-era; ES2019 adds only ``catch {}``).
    """
    import minify as tdewolff

    try:
        tdewolff.config({"js-version": 2019})
        minified: str = tdewolff.string("text/javascript", source)  # the binding is untyped
        return minified
    except tdewolff.MinifyError as exc:
        raise TrackerSourceError(f"tracker.js is not valid JavaScript: {exc}") from None


def with_collect_path(source: str, collect_path: str) -> str:
    """Write the configured collect path into the script, as a JavaScript string literal."""
    filled, count = _COLLECT_PATH.subn(lambda m: m.group(1) + json.dumps(collect_path), source)
    if count != 1:
        raise TrackerSourceError(f'tracker.js must contain exactly one `COLLECT_PATH = "..."` line, found {count}')
    return filled


@dataclass(frozen=True)
class Variant:
    body: bytes
    etag: str
    encoding: str  # "" for identity


@dataclass(frozen=True)
class TrackerScript:
    """The script in every encoding it is served in, built once."""

    source_bytes: int
    identity: Variant
    gzip: Variant
    br: Variant

    @classmethod
    def build(cls, source: str, collect_path: str) -> TrackerScript:
        minified = minify(with_collect_path(source, collect_path)).encode()
        tag = hashlib.blake2b(minified, digest_size=9).hexdigest()
        # Each encoding is its own representation, so each gets its own strong validator.
        return cls(
            source_bytes=len(source.encode()),
            identity=Variant(minified, f'"{tag}"', ""),
            gzip=Variant(zopfli.gzip.compress(minified, numiterations=50), f'"{tag}-gz"', "gzip"),
            br=Variant(brotli.compress(minified, mode=brotli.MODE_TEXT, quality=11), f'"{tag}-br"', "br"),
        )

    def variant(self, accept_encoding: str) -> Variant:
        accepted = accepted_encodings(accept_encoding)
        for name in ENCODINGS:
            if name in accepted:
                return self.br if name == "br" else self.gzip
        return self.identity

    async def serve(self, request: Request) -> Response:
        variant = self.variant(request.headers.get("accept-encoding", ""))
        headers = {
            "ETag": variant.etag,
            "Cache-Control": CACHE_CONTROL,
            "Vary": "Accept-Encoding",
            # Lets sites load it with crossorigin/integrity attributes and under COEP.
            "Access-Control-Allow-Origin": "*",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "X-Content-Type-Options": "nosniff",
        }
        if matches(request.headers.get("if-none-match", ""), variant.etag):
            return Response(status_code=304, headers=headers)
        if variant.encoding:
            headers["Content-Encoding"] = variant.encoding
        body = b"" if request.method == "HEAD" else variant.body
        response = Response(body, media_type=MEDIA_TYPE, headers=headers)
        response.headers["Content-Length"] = str(len(variant.body))
        return response


def accepted_encodings(header: str) -> set[str]:
    """The content codings an ``Accept-Encoding`` header allows (q > 0), ``*`` included."""
    weights: dict[str, float] = {}
    for item in header.lower().split(","):
        name, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if name:
            weights[name] = weight
    wildcard = weights.get("*", 0.0)
    return {name for name in ENCODINGS if weights.get(name, wildcard) > 0}


def matches(if_none_match: str, etag: str) -> bool:
    """``If-None-Match`` uses the weak comparison: ``W/"x"`` matches ``"x"``."""
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


@functools.lru_cache(maxsize=8)
def load(collect_path: str, source_path: Path = SOURCE) -> TrackerScript | None:
    """The built script for a collect path; None when tracker.js is not installed.

    Cached per process: every app created in one process (tests create many) shares one build.
    """
    try:
        source = source_path.read_text(encoding="utf-8")
    except OSError:
        return None
    return TrackerScript.build(source, collect_path)


async def missing(request: Request) -> Response:
    return Response("tracker.js is missing from this installation\n", status_code=404, media_type="text/plain")


def snippet(settings: Settings, site: Site) -> str:
    """The tag a site owner pastes into each page; the CLI and the dashboard show the same one."""
    src = f"{settings.public_url}{settings.script_path}"
    return f'<script defer src="{src}" data-website-id="{site.website_id}"></script>'
