"""Web vitals: canonical metric names, units and Google's good / needs-improvement / poor rating.

Thresholds are web.dev's, as web-vitals (6.x, `on*.ts`) rates them: a value at most the
first threshold is "good", above the second "poor", in between "needs-improvement". They
are meant for the 75th percentile of page loads; rating a single measurement the same way
is what web-vitals itself does for each `Metric.rating`.

Clients spell the same metric many ways: Speed Insights and web-vitals send `LCP`, the
seed's PerformanceMonitoring `largest_contentful_paint`, others `largestContentfulPaint`
or `lcp`. `normalize_name` maps all of them to one name so a metric is stored, queried
and rated under one name; names it does not know are returned unchanged (stripped).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

Rating = Literal["good", "needs-improvement", "poor"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    good: float  # a value at most this is good
    poor: float  # a value above this is poor


THRESHOLDS: dict[str, Thresholds] = {
    "LCP": Thresholds(2500, 4000),
    "INP": Thresholds(200, 500),
    "CLS": Thresholds(0.1, 0.25),
    "FCP": Thresholds(1800, 3000),
    "TTFB": Thresholds(800, 1800),
    # Replaced by INP as a Core Web Vital in March 2024, removed from web-vitals in v5.
    "FID": Thresholds(100, 300),
}
CORE_WEB_VITALS = ("LCP", "INP", "CLS")

MILLISECONDS = "ms"
UNITLESS = "unitless"  # CLS is a score: the sum of layout-shift fractions
UNITS: dict[str, str] = {
    "LCP": MILLISECONDS,
    "INP": MILLISECONDS,
    "CLS": UNITLESS,
    "FCP": MILLISECONDS,
    "TTFB": MILLISECONDS,
    "FID": MILLISECONDS,
    # The seed's PerformanceMonitoring.trackPageLoad: navigation timing durations.
    "page_load_time": MILLISECONDS,
    "dom_content_loaded": MILLISECONDS,
}

# Lower-cased, snake_cased spellings → canonical name.
_ALIASES: dict[str, str] = {
    "lcp": "LCP",
    "largest_contentful_paint": "LCP",
    "inp": "INP",
    "interaction_to_next_paint": "INP",
    "cls": "CLS",
    "cumulative_layout_shift": "CLS",
    "fcp": "FCP",
    "first_contentful_paint": "FCP",
    "ttfb": "TTFB",
    "time_to_first_byte": "TTFB",
    "fid": "FID",
    "first_input_delay": "FID",
    "page_load_time": "page_load_time",
    "dom_content_loaded": "dom_content_loaded",
}
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s\-.]+")
_MAX_NAME = 200


def _alias_key(name: str) -> str:
    """`largestContentfulPaint`, `Largest-Contentful-Paint`, `LCP` → `largest_contentful_paint` / `lcp`."""
    snake = _CAMEL_BOUNDARY.sub("_", name.strip()[:_MAX_NAME])
    return _SEPARATORS.sub("_", snake).lower()


def normalize_name(name: str) -> str:
    """The canonical name of a metric, or the name itself (stripped) when it is not one we know."""
    return _ALIASES.get(_alias_key(name), name.strip())


def thresholds(metric: str) -> Thresholds | None:
    return THRESHOLDS.get(normalize_name(metric))


def unit(metric: str) -> str | None:
    """Milliseconds ("ms") for durations, "unitless" for CLS; None for a metric we do not know."""
    return UNITS.get(normalize_name(metric))


def rate(metric: str, value: float) -> Rating | None:
    """Google's rating of one value; None for a metric without thresholds or a value that is
    not a finite, non-negative number."""
    limits = thresholds(metric)
    if limits is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    if value <= limits.good:
        return "good"
    if value <= limits.poor:
        return "needs-improvement"
    return "poor"
