"""Busy year: the dashboard benchmark for a busy site, shaped like a measured Umami install.

The reference is an Umami install that was measured with 18.2 M events in 19.4 GB (1,062 B per
event), whose dashboard answered 30 days of stats in 2.6 s and 365 days in 13.2 s. A site of that
shape: 50,000 pageviews a day over 20,000 paths (Zipf), 3,000 referring sites in the long tail,
visitors from 150 countries, for a year — about 18 M pageviews. A small site's year (the
``dashboard`` benchmark) cannot show how the store and the overview grow with traffic and with
distinct values; this one does, against budgets that hold a busy site to what a small one gets:
the overview's p95 within 100 ms for 30 days and 300 ms for 365, and at most 12 B of database
per pageview (a hundredth of the reference's per event).

Everything but the ``Year`` is the dashboard benchmark's (``dashboard.py``): the same seeding
through the real pipeline and the store's ``write_counts``, the same timings and figures, only
labelled "busy year".
"""

from __future__ import annotations

from dataclasses import replace

from scripts.benchmarks import countries, dashboard, traffic
from scripts.benchmarks.results import Result

PAGEVIEWS_PER_DAY = 50_000

FULL = dashboard.Year(
    label="busy year",
    visitors_per_day=traffic.Habits().visitors_for(PAGEVIEWS_PER_DAY),  # ~19,700 at ~2.5 pageviews each
    pages=20_000,
    referring_sites=3_000,
    countries=len(countries.COUNTRIES),
    sample_days=7,
    runs=20,                    # the p95 of 20 runs is their second slowest, not their slowest
    warmup=1,
    p95_30d_ms=100.0,
    p95_365d_ms=300.0,
    bytes_per_pageview=12.0,
)
# The same audience with few visitors: a smoke test of the wiring whose year writes in seconds.
QUICK = replace(FULL, visitors_per_day=traffic.Habits().visitors_for(300), sample_days=2, runs=3)


def run(quick: bool) -> Result:
    return dashboard.run_year(QUICK if quick else FULL)
