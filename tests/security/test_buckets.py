"""Leaky buckets: leak, capacity, overflow, distinct counting, quiet periods, reset, eviction.

Levels are worked out by hand in each test: a bucket gains 1 per counted event and loses
`leak_per_second` per elapsed second, and overflows on the event that takes it past capacity.
"""

from __future__ import annotations

import pytest

from syncmon.security.buckets import BucketGroup, Buckets, BucketSpec, Overflow

T0 = 1_700_000_000_000
SEC = 1_000


class Feeder:
    """Pours into one Buckets with event ids e1, e2, … in pouring order."""

    def __init__(self, buckets: Buckets) -> None:
        self.buckets = buckets
        self.n = 0

    def pour(
        self,
        at: int,
        subject: str = "s",
        distinct: str | None = None,
        *,
        marked: bool = False,
        tag: str | None = None,
    ) -> Overflow | None:
        self.n += 1
        return self.buckets.pour(subject, T0 + at, f"e{self.n}", distinct, marked=marked, tag=tag)


def test_leak() -> None:
    feeder = Feeder(Buckets(BucketSpec(capacity=10, leak_per_second=1.0)))
    for _ in range(3):
        assert feeder.pour(0) is None
    assert feeder.buckets.peek("s", T0) == (3.0, 3)
    assert feeder.buckets.peek("s", T0 + 1500) == (1.5, 3)  # 3 - 1.5 s x 1/s
    assert feeder.buckets.peek("s", T0 + 3000) == (0.0, 3)
    assert feeder.buckets.peek("s", T0 + 60 * SEC) == (0.0, 3)  # never below zero
    assert feeder.buckets.peek("unknown", T0) == (0.0, 0)


def test_overflow_on_the_event_past_capacity() -> None:
    feeder = Feeder(Buckets(BucketSpec(capacity=3, leak_per_second=1.0)))
    assert [feeder.pour(0) for _ in range(3)] == [None, None, None]  # level 3: at capacity, not past it
    assert feeder.pour(0) == Overflow(
        subject="s",
        first_ms=T0,
        last_ms=T0,
        count=4,
        distinct=0,
        evidence=("e1", "e2", "e3", "e4"),
        marked=0,
        tags=(),
    )


def test_overflow_with_leaking() -> None:
    # capacity 3, leak 0.5/s, one event a second: levels 1, 1.5, 2, 2.5, 3, 3.5 -> the 6th fires.
    feeder = Feeder(Buckets(BucketSpec(capacity=3, leak_per_second=0.5)))
    results = [feeder.pour(i * SEC) for i in range(6)]
    assert results[:5] == [None] * 5
    assert feeder.buckets.peek("s", T0 + 4 * SEC) == (0.0, 0)  # emptied by the overflow
    overflow = results[5]
    assert overflow is not None
    assert (overflow.first_ms, overflow.last_ms, overflow.count) == (T0, T0 + 5 * SEC, 6)


def test_a_slow_pace_never_overflows_and_each_event_starts_a_new_run() -> None:
    # capacity 3, leak 0.5/s, one event every 2 s: each event finds the bucket empty again.
    feeder = Feeder(Buckets(BucketSpec(capacity=3, leak_per_second=0.5)))
    assert all(feeder.pour(i * 2 * SEC) is None for i in range(100))
    assert feeder.buckets.peek("s", T0 + 198 * SEC) == (1.0, 1)


def test_a_run_restarts_when_the_bucket_has_drained() -> None:
    feeder = Feeder(Buckets(BucketSpec(capacity=3, leak_per_second=1.0)))
    feeder.pour(0)
    feeder.pour(0)
    # 10 s later the bucket is empty: a new run, with its own first time, count and evidence.
    for _ in range(3):
        assert feeder.pour(10 * SEC) is None
    overflow = feeder.pour(10 * SEC)
    assert overflow is not None
    assert (overflow.first_ms, overflow.count, overflow.evidence) == (
        T0 + 10 * SEC,
        4,
        ("e3", "e4", "e5", "e6"),
    )


def test_distinct_counting() -> None:
    feeder = Feeder(Buckets(BucketSpec(capacity=2, leak_per_second=0.0)))
    assert feeder.pour(0, distinct="a") is None
    assert feeder.pour(1, distinct="a") is None  # a repeat counts for nothing
    assert feeder.pour(2, distinct="b") is None
    assert feeder.pour(3, distinct="a") is None
    assert feeder.buckets.peek("s", T0 + 3) == (2.0, 2)
    overflow = feeder.pour(4, distinct="c")
    assert overflow is not None
    assert (overflow.count, overflow.distinct, overflow.evidence) == (3, 3, ("e1", "e3", "e5"))


def test_distinct_values_remembered_are_bounded_least_recent_first() -> None:
    feeder = Feeder(Buckets(BucketSpec(capacity=100, leak_per_second=0.0, max_distinct=2)))
    feeder.pour(0, distinct="a")
    feeder.pour(0, distinct="b")
    feeder.pour(0, distinct="a")  # a is now the most recent
    feeder.pour(0, distinct="c")  # b is forgotten
    assert feeder.buckets.peek("s", T0)[1] == 3
    feeder.pour(0, distinct="a")  # still remembered: not counted
    assert feeder.buckets.peek("s", T0)[1] == 3
    feeder.pour(0, distinct="b")  # forgotten, so counted again
    assert feeder.buckets.peek("s", T0)[1] == 4


def test_quiet_period_after_an_overflow() -> None:
    feeder = Feeder(Buckets(BucketSpec(capacity=1, leak_per_second=0.0, quiet_ms=10 * SEC)))
    assert feeder.pour(0) is None
    assert feeder.pour(0) is not None
    # Silent for 10 s: nothing is counted, however much arrives.
    assert all(feeder.pour(at) is None for at in range(SEC, 10 * SEC, SEC))
    assert feeder.buckets.peek("s", T0 + 9 * SEC) == (0.0, 0)
    # Then a new run from zero.
    assert feeder.pour(10 * SEC) is None
    overflow = feeder.pour(10 * SEC)
    assert overflow is not None
    assert (overflow.first_ms, overflow.count, overflow.evidence) == (T0 + 10 * SEC, 2, ("e12", "e13"))


def test_quiet_periods_are_per_subject() -> None:
    feeder = Feeder(Buckets(BucketSpec(capacity=1, leak_per_second=0.0, quiet_ms=10 * SEC)))
    feeder.pour(0, "a")
    assert feeder.pour(0, "a") is not None
    feeder.pour(0, "b")
    assert feeder.pour(0, "b") is not None


def test_marked_and_tags() -> None:
    feeder = Feeder(Buckets(BucketSpec(capacity=3, leak_per_second=0.0), max_evidence=2))
    feeder.pour(0, marked=True, tag="ip1")
    feeder.pour(0, marked=False, tag="ip2")
    feeder.pour(0, marked=True, tag="ip1")
    overflow = feeder.pour(0, marked=False, tag="ip3")
    assert overflow is not None
    assert overflow.marked == 2
    assert overflow.tags == ("ip1", "ip2")  # distinct, first ones, at most max_evidence
    assert overflow.evidence == ("e1", "e2")  # the first max_evidence events of the run


def test_reset() -> None:
    feeder = Feeder(Buckets(BucketSpec(capacity=2, leak_per_second=0.0)))
    feeder.pour(0)
    feeder.pour(0)
    feeder.buckets.reset("s")
    feeder.buckets.reset("never-seen")
    assert feeder.buckets.peek("s", T0) == (0.0, 0)
    assert len(feeder.buckets) == 0
    assert feeder.pour(0) is None and feeder.pour(0) is None  # counts from zero again
    assert feeder.pour(0) is not None


def test_evict_drops_drained_buckets_but_not_quiet_ones() -> None:
    feeder = Feeder(Buckets(BucketSpec(capacity=5, leak_per_second=1.0, quiet_ms=10 * SEC)))
    feeder.pour(0, "drained")  # level 1 at T0
    for _ in range(3):
        feeder.pour(2 * SEC, "filling")  # level 3 at T0 + 2 s
    overflows = [feeder.pour(0, "quiet") for _ in range(6)]
    assert overflows[-1] is not None  # level 0, quiet until T0 + 10 s
    assert len(feeder.buckets) == 3

    # At T0 + 2.5 s: "drained" is at 0 (1 - 2.5); "filling" at 2.5; "quiet" is empty but quiet.
    assert feeder.buckets.evict(T0 + 2500) == 1
    assert len(feeder.buckets) == 2
    assert feeder.buckets.peek("filling", T0 + 2500) == (2.5, 3)
    assert feeder.buckets.peek("drained", T0 + 2500) == (0.0, 0)

    assert feeder.buckets.evict(T0 + 9 * SEC) == 1  # "filling" drained at T0 + 5 s
    assert feeder.buckets.evict(T0 + 10 * SEC) == 1  # the quiet period is over
    assert len(feeder.buckets) == 0
    assert feeder.buckets.evict(T0 + 10 * SEC) == 0


def test_eviction_keeps_what_a_later_event_needs() -> None:
    """Evicting at some time never changes what the buckets report after that time."""
    spec = BucketSpec(capacity=4, leak_per_second=0.5, quiet_ms=5 * SEC)
    times = [0, 300, 700, 2000, 2100, 2150, 2200, 9000, 9100, 9200, 9300, 9400, 30_000]
    kept, evicting = Feeder(Buckets(spec)), Feeder(Buckets(spec))
    for at in times:
        evicting.buckets.evict(T0 + at)
        assert kept.pour(at) == evicting.pour(at)


def test_bucket_group_shares_one_quiet_period() -> None:
    group = BucketGroup(
        {
            "fast": BucketSpec(capacity=2, leak_per_second=1.0, quiet_ms=5 * SEC),
            "slow": BucketSpec(capacity=4, leak_per_second=0.1, quiet_ms=20 * SEC),
        }
    )

    def pour_both(at: int, event: str, subject: str = "s") -> Overflow | None:
        """As BruteForce does: every set in turn; the first overflow speaks."""
        for name in ("fast", "slow"):
            overflow = group.pour(name, subject, T0 + at, event)
            if overflow is not None:
                return overflow
        return None

    # A burst fills "fast" (capacity 2) on the third event.
    assert pour_both(0, "e1") is None
    assert pour_both(0, "e2") is None
    fast = pour_both(0, "e3")
    assert fast is not None and (fast.count, fast.evidence) == (3, ("e1", "e2", "e3"))
    assert len(group) == 1  # both sets forgot the subject; its quiet period remains
    # "fast"'s quiet period (5 s) silences "slow" too.
    assert all(pour_both(at * SEC, f"q{at}") is None for at in range(1, 5))
    assert pour_both(0, "other", subject="t") is None  # other subjects are not silenced

    # After it, a slow pace (every 2 s) never fills "fast" (leaks 2 per event) but fills
    # "slow": levels 1, 1.8, 2.6, 3.4, 4.2 -> the 5th event fires.
    start = 5 * SEC
    results = [pour_both(start + i * 2 * SEC, f"s{i}") for i in range(5)]
    assert results[:4] == [None] * 4
    slow = results[4]
    assert slow is not None
    assert (slow.first_ms, slow.last_ms, slow.count) == (T0 + start, T0 + start + 8 * SEC, 5)
    assert slow.evidence == ("s0", "s1", "s2", "s3", "s4")
    # Now "slow"'s quiet period (20 s) holds for both sets.
    quiet_end = start + 8 * SEC + 20 * SEC
    assert pour_both(quiet_end - 1, "late") is None
    assert group.pour("fast", "s", T0 + quiet_end - 1, "x") is None
    assert group.pour("fast", "s", T0 + quiet_end - 1, "y") is None
    assert group.pour("fast", "s", T0 + quiet_end - 1, "z") is None


def test_bucket_group_evict() -> None:
    group = BucketGroup({"a": BucketSpec(capacity=1, leak_per_second=1.0, quiet_ms=10 * SEC)})
    group.pour("a", "fired", T0, "e1")
    assert group.pour("a", "fired", T0, "e2") is not None
    group.pour("a", "idle", T0, "e3")
    assert len(group) == 2  # "idle"'s bucket and "fired"'s quiet period
    assert group.evict(T0 + 5 * SEC) == 1  # "idle" drained; "fired" still quiet
    assert len(group) == 1
    assert group.pour("a", "fired", T0 + 5 * SEC, "e4") is None
    assert group.evict(T0 + 10 * SEC) == 1
    assert len(group) == 0
    # Quiet over and forgotten: the subject counts again from zero.
    assert group.pour("a", "fired", T0 + 10 * SEC, "e5") is None
    assert group.pour("a", "fired", T0 + 10 * SEC, "e6") is not None


@pytest.mark.parametrize("capacity", [0, 1, 5])
def test_capacity_zero_is_a_trigger(capacity: int) -> None:
    feeder = Feeder(Buckets(BucketSpec(capacity=capacity, leak_per_second=1.0)))
    results = [feeder.pour(0) for _ in range(capacity + 1)]
    assert results[:capacity] == [None] * capacity
    assert results[capacity] is not None and results[capacity].count == capacity + 1
