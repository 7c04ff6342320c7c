"""Sliding windows: bucket boundaries, late events, pairs and percentiles against DDSketch."""

from __future__ import annotations

import random

from syncmon.alerting.windows import PairWindow, WindowCounter, WindowedBins, step_ms
from syncmon.metrics.sketches import Sketch

T0 = 1_767_225_600_000


def test_steps_are_a_sixtieth_of_the_window_and_at_least_a_second() -> None:
    assert step_ms(60_000) == 1000
    assert step_ms(30_000) == 1000
    assert step_ms(3_600_000) == 60_000
    assert step_ms(3 * 86_400_000) == 4_320_000


def test_an_event_stays_in_the_window_for_its_length() -> None:
    counter = WindowCounter(60_000)
    counter.add(T0 + 500)
    assert counter.value(T0 + 59_999) == 1
    assert counter.value(T0 + 60_000) == 0
    assert counter.empty()


def test_counts_add_and_leave_bucket_by_bucket() -> None:
    counter = WindowCounter(60_000)
    for second in range(120):
        counter.add(T0 + second * 1000, 2)
    assert counter.value(T0 + 119_000) == 120
    assert counter.value(T0 + 150_000) == 58
    assert counter.value(T0 + 178_000) == 2
    assert counter.value(T0 + 179_000) == 0


def test_late_events_land_in_their_own_bucket() -> None:
    counter = WindowCounter(60_000)
    counter.add(T0 + 30_000)
    counter.add(T0 + 10_000)  # older than every bucket kept, still in the window
    counter.add(T0 + 20_000)
    counter.add(T0 + 30_000)
    assert counter.value(T0 + 30_000) == 4
    assert counter.value(T0 + 70_000) == 3
    assert counter.value(T0 + 80_000) == 2
    assert counter.value(T0 + 90_000) == 0


def test_a_late_event_already_outside_the_window_leaves_at_once() -> None:
    counter = WindowCounter(60_000)
    counter.add(T0 + 100_000)
    counter.add(T0)
    assert counter.value(T0 + 100_000) == 1


def test_pairs() -> None:
    pair = PairWindow(300_000)
    pair.add(T0, 1, 10)
    pair.add(T0 + 200_000, 3, 5)
    pair.add(T0 + 100_000, 0, 5)
    assert pair.counts(T0 + 200_000) == (4, 20)
    assert pair.counts(T0 + 300_000) == (3, 10)
    assert pair.counts(T0 + 500_000) == (0, 0)


def test_percentiles_agree_with_the_rollup_sketch() -> None:
    rng = random.Random(7)
    bins = WindowedBins(600_000)
    sketch = Sketch()
    for i in range(2000):
        value = rng.lognormvariate(6.5, 0.8)
        bins.add(T0 + i * 100, value)
        sketch.add(value)
    for q in (0.5, 0.75, 0.95, 0.99):
        assert bins.quantile(T0 + 200_000, q) == sketch.quantile(q)


def test_percentiles_with_zeros_and_expiry() -> None:
    bins = WindowedBins(60_000)
    for _ in range(3):
        bins.add(T0, 0.0)
    bins.add(T0 + 30_000, 1000.0)
    assert bins.quantile(T0 + 30_000, 0.5) == 0.0
    assert abs((bins.quantile(T0 + 30_000, 1.0) or 0) - 1000) <= 10
    assert abs((bins.quantile(T0 + 60_000, 0.5) or 0) - 1000) <= 10
    assert bins.quantile(T0 + 90_000, 0.5) is None
    assert bins.empty()
