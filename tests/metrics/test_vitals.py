"""Web-vitals names, units and ratings, at the thresholds and just past them."""

from __future__ import annotations

import math

import pytest

from syncmon.metrics.vitals import CORE_WEB_VITALS, THRESHOLDS, normalize_name, rate, thresholds, unit

# (metric, value, rating): each threshold, and the smallest steps either side of it.
BOUNDARIES: list[tuple[str, float, str]] = [
    ("LCP", 0, "good"),
    ("LCP", 2500, "good"),
    ("LCP", 2500.001, "needs-improvement"),
    ("LCP", 4000, "needs-improvement"),
    ("LCP", 4000.001, "poor"),
    ("INP", 200, "good"),
    ("INP", 201, "needs-improvement"),
    ("INP", 500, "needs-improvement"),
    ("INP", 501, "poor"),
    ("CLS", 0.1, "good"),
    ("CLS", 0.1001, "needs-improvement"),
    ("CLS", 0.25, "needs-improvement"),
    ("CLS", 0.2501, "poor"),
    ("CLS", 3, "poor"),
    ("FCP", 1800, "good"),
    ("FCP", 1801, "needs-improvement"),
    ("FCP", 3000, "needs-improvement"),
    ("FCP", 3001, "poor"),
    ("TTFB", 800, "good"),
    ("TTFB", 800.5, "needs-improvement"),
    ("TTFB", 1800, "needs-improvement"),
    ("TTFB", 1800.5, "poor"),
    ("FID", 100, "good"),
    ("FID", 100.01, "needs-improvement"),
    ("FID", 300, "needs-improvement"),
    ("FID", 300.01, "poor"),
    # Any spelling is rated under its canonical name.
    ("largest_contentful_paint", 4001, "poor"),
    ("cumulative_layout_shift", 0.05, "good"),
    ("first_input_delay", 150, "needs-improvement"),
    ("first_contentful_paint", 3500, "poor"),
    ("interactionToNextPaint", 180, "good"),
]


@pytest.mark.parametrize(("metric", "value", "expected"), BOUNDARIES)
def test_rating_at_the_boundaries(metric: str, value: float, expected: str) -> None:
    assert rate(metric, value) == expected


@pytest.mark.parametrize(
    ("metric", "value"),
    [
        ("page_load_time", 99999),  # the seed's metrics have no Google thresholds
        ("dom_content_loaded", 1),
        ("api_response_time", 10),
        ("LCP", -1),  # web-vitals' "not measured" sentinel
        ("LCP", math.nan),
        ("LCP", math.inf),
        ("CLS", True),
    ],
)
def test_no_rating(metric: str, value: float) -> None:
    assert rate(metric, value) is None


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("LCP", "LCP"),
        ("lcp", "LCP"),
        ("largest_contentful_paint", "LCP"),
        ("largestContentfulPaint", "LCP"),
        ("Largest-Contentful-Paint", "LCP"),
        (" LCP ", "LCP"),
        ("INP", "INP"),
        ("interaction_to_next_paint", "INP"),
        ("cls", "CLS"),
        ("cumulative_layout_shift", "CLS"),
        ("first_contentful_paint", "FCP"),
        ("FCP", "FCP"),
        ("ttfb", "TTFB"),
        ("time_to_first_byte", "TTFB"),
        ("timeToFirstByte", "TTFB"),
        ("first_input_delay", "FID"),
        ("FID", "FID"),
        ("page_load_time", "page_load_time"),
        ("pageLoadTime", "page_load_time"),
        ("dom_content_loaded", "dom_content_loaded"),
        ("DOM_CONTENT_LOADED", "dom_content_loaded"),
        ("checkout_duration", "checkout_duration"),  # unknown: unchanged
        ("Checkout Duration ", "Checkout Duration"),  # unknown: only stripped
    ],
)
def test_names_are_normalised(raw: str, canonical: str) -> None:
    assert normalize_name(raw) == canonical


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("LCP", "ms"),
        ("inp", "ms"),
        ("first_contentful_paint", "ms"),
        ("TTFB", "ms"),
        ("FID", "ms"),
        ("page_load_time", "ms"),
        ("dom_content_loaded", "ms"),
        ("cumulative_layout_shift", "unitless"),
        ("CLS", "unitless"),
        ("something_else", None),
    ],
)
def test_units(metric: str, expected: str | None) -> None:
    assert unit(metric) == expected


def test_threshold_table() -> None:
    assert {name: (t.good, t.poor) for name, t in THRESHOLDS.items()} == {
        "LCP": (2500, 4000),
        "INP": (200, 500),
        "CLS": (0.1, 0.25),
        "FCP": (1800, 3000),
        "TTFB": (800, 1800),
        "FID": (100, 300),
    }
    assert CORE_WEB_VITALS == ("LCP", "INP", "CLS")
    assert thresholds("lcp") == THRESHOLDS["LCP"]
    assert thresholds("page_load_time") is None


def test_long_names_cost_no_more_than_a_clipped_one() -> None:
    assert normalize_name("x" * 100_000) == "x" * 100_000
    assert normalize_name("LCP" + " " * 100_000) == "LCP"
