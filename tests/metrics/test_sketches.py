"""The stored sketches: DDSketch accuracy, exact round trips and merges; HyperLogLog counts."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest
from ddsketch import DDSketch
from hypothesis import given, settings
from hypothesis import strategies as st

from syncmon.metrics.sketches import (
    RELATIVE_ACCURACY,
    Accumulator,
    HyperLogLog,
    Sketch,
    SketchFormatError,
    encode_parts,
    merge_encoded,
)

QUANTILES = (0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0)


def sketch_of(values: list[float]) -> Sketch:
    sketch = Sketch()
    for value in values:
        sketch.add(value)
    return sketch


def exact(values: list[float], q: float) -> float:
    """The value at rank floor(q * (n - 1)): the rank DDSketch estimates."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def assert_within(estimate: float | None, truth: float, q: float) -> None:
    assert estimate is not None
    if truth == 0:
        assert estimate == 0, q
    else:
        assert abs(estimate - truth) <= RELATIVE_ACCURACY * abs(truth) * (1 + 1e-9), (q, estimate, truth)


def same(a: Sketch, b: Sketch) -> None:
    assert a.bins() == b.bins()
    assert a.zero_count == b.zero_count
    assert a.size == b.size
    assert a.minimum == b.minimum and a.maximum == b.maximum


DISTRIBUTIONS: dict[str, Callable[[random.Random], float]] = {
    "lognormal": lambda r: r.lognormvariate(7.5, 0.9),
    "exponential": lambda r: r.expovariate(1 / 300),
    "pareto": lambda r: 50 * r.paretovariate(1.5),
    "bimodal": lambda r: r.gauss(120, 15) if r.random() < 0.7 else r.gauss(2400, 400),
    "cls": lambda r: 0.0 if r.random() < 0.4 else r.expovariate(10),
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_quantiles_are_within_one_percent(name: str) -> None:
    rng = random.Random(name)
    values = [DISTRIBUTIONS[name](rng) for _ in range(20_000)]
    sketch = sketch_of(values)
    for q in QUANTILES:
        assert_within(sketch.quantile(q), exact(values, q), q)
    assert sketch.size == len(values)
    assert sketch.total == pytest.approx(math.fsum(values))


def test_agrees_with_the_library_sketch() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(6, 1) for _ in range(5000)] + [0.0, -4.0, -0.5]
    ours, theirs = sketch_of(values), DDSketch(RELATIVE_ACCURACY)
    for value in values:
        theirs.add(value)
    for q in QUANTILES:
        assert ours.quantile(q) == theirs.get_quantile_value(q)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.floats(-1e6, 1e6, allow_nan=False) | st.sampled_from([0.0, 1.0, -1.0]), min_size=1, max_size=300
    ),
    st.lists(st.floats(0, 1), min_size=1, max_size=8),
)
def test_quantile_is_the_librarys_answer(values: list[float], qs: list[float]) -> None:
    """Sketch.quantile finds the rank's bin by binary search; the answer stays the library's."""
    ours, theirs = sketch_of(values), DDSketch(RELATIVE_ACCURACY)
    for value in values:
        theirs.add(value)
    for q in [*qs, 0.0, 0.5, 1.0]:
        expected = theirs.get_quantile_value(q)
        assert ours.quantile(q) == (None if expected is None else float(expected))
        assert merge_encoded([ours.to_bytes()]).quantile(q) == ours.quantile(q)


def test_zero_and_negative_values() -> None:
    values = [0.0] * 50 + [-10.0, -0.001] + [0.05, 0.3, 1.2] * 10
    sketch = sketch_of(values)
    assert sketch.zero_count == 50
    assert sketch.quantile(0.0) == pytest.approx(-10.0, rel=RELATIVE_ACCURACY)
    assert sketch.quantile(0.5) == 0
    for q in QUANTILES:
        assert_within(sketch.quantile(q), exact(values, q), q)
    same(Sketch.from_bytes(sketch.to_bytes()), sketch)


def test_empty_sketch() -> None:
    empty = Sketch()
    assert empty.quantile(0.5) is None
    assert empty.minimum is None and empty.maximum is None and empty.size == 0
    back = Sketch.from_bytes(empty.to_bytes())
    assert back.size == 0 and back.quantile(0.99) is None
    assert merge_encoded([]).size == 0
    assert merge_encoded([empty.to_bytes(), empty.to_bytes()]).quantile(0.5) is None
    one = sketch_of([42.0])
    merged = merge_encoded([empty.to_bytes(), one.to_bytes(), empty.to_bytes()])
    same(merged, one)


finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(finite, max_size=300))
def test_round_trip_is_exact(values: list[float]) -> None:
    sketch = sketch_of(values)
    back = Sketch.from_bytes(sketch.to_bytes())
    same(back, sketch)
    assert back.total == sketch.total
    for q in QUANTILES:
        assert back.quantile(q) == sketch.quantile(q)
    assert back.to_bytes() == sketch.to_bytes()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(finite, max_size=80), min_size=1, max_size=6))
def test_merge_is_exact_and_associative(parts: list[list[float]]) -> None:
    everything = sketch_of([v for part in parts for v in part])
    blobs = [sketch_of(part).to_bytes() for part in parts]
    fast = merge_encoded(blobs)
    same(fast, everything)
    # Left fold with the library's merge gives bit-identical state, sum included.
    folded = Sketch.from_bytes(blobs[0])
    for blob in blobs[1:]:
        folded.merge(Sketch.from_bytes(blob))
    same(folded, fast)
    assert folded.total == fast.total
    # Regrouping: (a + b) + c == a + (b + c), bins and quantiles exactly.
    middle = len(blobs) // 2
    left = merge_encoded([merge_encoded(blobs[:middle]).to_bytes(), *blobs[middle:]])
    right = merge_encoded([*blobs[:middle], merge_encoded(blobs[middle:]).to_bytes()])
    same(left, right)
    same(merge_encoded(reversed(blobs)), fast)
    for q in QUANTILES:
        assert left.quantile(q) == right.quantile(q) == everything.quantile(q)


@settings(max_examples=150, deadline=None)
@given(st.lists(finite, max_size=120), st.lists(finite, max_size=120))
def test_accumulator_merges_into_stored_bytes_like_the_sketch(
    stored: list[float], batch: list[float]
) -> None:
    """The writer's path (bin once, merge into the stored bytes) gives the very bytes of
    decoding the stored sketch, adding the values and encoding it again."""
    accumulator = Accumulator()
    for value in batch:
        accumulator.add(value)
    assert accumulator.to_bytes() == sketch_of(batch).to_bytes()
    assert accumulator.to_sketch().bins() == sketch_of(batch).bins()
    expected = sketch_of(stored)
    for value in batch:
        expected.add(value)
    blob, count, total = accumulator.merge_into(sketch_of(stored).to_bytes() if stored else None)
    back = Sketch.from_bytes(blob)
    same(back, expected)
    assert count == len(stored) + len(batch)
    assert total == pytest.approx(math.fsum(stored) + math.fsum(batch), rel=1e-9, abs=1e-3)
    assert accumulator.merge_into(Sketch().to_bytes())[0] == accumulator.to_bytes()


def test_large_counts_pick_wider_integers() -> None:
    for count in (255, 256, 65_535, 65_536, 2**32 - 1, 2**32, 2**40):
        sketch = Sketch.from_parts(positive=(100, [count, 0, 1]), negative=(-3, [2]), total=1.0)
        back = Sketch.from_bytes(sketch.to_bytes())
        assert back.bins() == ({100: count, 102: 1}, {-3: 2})
        assert back.size == count + 3
        doubled = merge_encoded([sketch.to_bytes(), back.to_bytes()])
        assert doubled.bins()[0][100] == 2 * count


def test_encode_parts_is_what_the_sketch_writes() -> None:
    values = [0.0, 0.0, 3.0, 3.1, 250.0, -2.0]
    sketch = sketch_of(values)
    positive, negative = sketch.bins()
    low, high = min(positive), max(positive)
    blob = encode_parts(
        (low, [positive.get(k, 0) for k in range(low, high + 1)]),
        (min(negative), [negative[min(negative)]]),
        zero_count=2,
        total=sum(values),
        minimum=-2.0,
        maximum=250.0,
    )
    assert blob == sketch.to_bytes()
    with pytest.raises(ValueError, match="non-empty"):
        encode_parts((5, [0, 1]))


def test_from_parts_trims_empty_bins() -> None:
    sketch = Sketch.from_parts(positive=(10, [0, 0, 3, 0, 1, 0]))
    assert sketch.bins() == ({12: 3, 14: 1}, {})
    assert Sketch.from_parts(positive=(5, [0, 0])).size == 0


@pytest.mark.parametrize(
    "blob",
    [b"", b"\x02" + bytes(40), Sketch().to_bytes()[:-1], Sketch().to_bytes() + b"x", b"\x01" + bytes(10)],
)
def test_corrupt_bytes_are_refused(blob: bytes) -> None:
    with pytest.raises(SketchFormatError):
        Sketch.from_bytes(blob)


def test_truncated_bins_are_refused() -> None:
    blob = sketch_of([1.0, 10.0, 100.0]).to_bytes()
    with pytest.raises(SketchFormatError):
        Sketch.from_bytes(blob[:-2])


def test_integer_counts_only() -> None:
    sketch = Sketch()
    sketch.add(5.0, weight=0.5)
    with pytest.raises(ValueError, match="whole counts"):
        sketch.to_bytes()


def test_hyperloglog_small_counts_are_nearly_exact() -> None:
    for n in (0, 1, 10, 100, 1000):
        hll = HyperLogLog()
        for i in range(n):
            hll.add(f"visitor-{i}")
            hll.add(f"visitor-{i}")  # a second visit is the same visitor
        assert abs(hll.estimate() - n) <= max(1, 0.02 * n), n


def test_hyperloglog_large_counts_within_five_percent() -> None:
    hll = HyperLogLog()
    for i in range(200_000):
        hll.add(str(i))
    assert abs(hll.estimate() - 200_000) <= 0.05 * 200_000


def test_hyperloglog_merge_is_the_union() -> None:
    a, b, both = HyperLogLog(), HyperLogLog(), HyperLogLog()
    for i in range(3000):
        a.add(f"a{i}")
        both.add(f"a{i}")
    for i in range(2000):
        b.add(f"a{i + 2500}")  # 500 shared
        both.add(f"a{i + 2500}")
    merged = HyperLogLog.from_bytes(a.to_bytes())
    merged.merge_bytes(b.to_bytes())
    assert merged.registers == both.registers
    assert abs(merged.estimate() - 4500) <= 0.05 * 4500


def test_hyperloglog_round_trips_sparse_and_dense() -> None:
    sparse, dense = HyperLogLog(), HyperLogLog()
    for i in range(50):
        sparse.add(str(i))
    for i in range(50_000):
        dense.add(str(i))
    assert len(sparse.to_bytes()) < 200
    assert len(dense.to_bytes()) == 4096 + 3
    for hll in (sparse, dense, HyperLogLog()):
        assert HyperLogLog.from_bytes(hll.to_bytes()).registers == hll.registers


def test_hyperloglog_merge_takes_each_registers_maximum() -> None:
    """The word-parallel merge against max() per register, with every rank at both ends."""
    rng = random.Random(12)
    for _ in range(50):
        left = bytearray(rng.choice([0, 0, 1, 52, 53, rng.randrange(54)]) for _ in range(4096))
        right = bytearray(rng.choice([0, 1, 53, rng.randrange(54)]) for _ in range(4096))
        expected = bytearray(map(max, left, right))
        merged = HyperLogLog(bytearray(left))
        merged.merge(HyperLogLog(right))
        assert merged.registers == expected
        from_bytes = HyperLogLog(bytearray(left))
        from_bytes.merge_bytes(HyperLogLog(right).to_bytes())
        assert from_bytes.registers == expected


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x01\x0c",
        b"\x01\x0b\x00",
        b"\x01\x0c\x01abc",
        b"\x01\x0c\x00ab",
        b"\x01\x0c\x01" + bytes([54]) + bytes(4095),  # a rank no 64-bit hash can give
        b"\x01\x0c\x00\x05\x00\x80",
    ],
)
def test_corrupt_hyperloglog_is_refused(blob: bytes) -> None:
    with pytest.raises(SketchFormatError):
        HyperLogLog.from_bytes(blob)
