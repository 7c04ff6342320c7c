"""Sketch benchmark: DDSketch accuracy against exact percentiles on 1 M values per distribution.

    .venv/bin/python bench/sketches.py                 # 1,000,000 values per distribution
    .venv/bin/python bench/sketches.py --values 200000 --seed 7

For each distribution, the values go into the production sketch (syncmon.metrics.sketches,
DDSketch at 1 % relative accuracy) one `add` at a time, and every quantile it returns is
compared with the exact value of numpy on the same values. DDSketch estimates the value at
rank floor(q * (n - 1)) (numpy's method="lower"); that comparison is the guarantee (<= 1 %)
and the one that decides the exit status. The error against numpy's default linear
interpolation is shown beside it for reference.

The same values are then cut into 1,440 "minute" sketches, encoded as stored, and merged
back with `merge_encoded` (what a window query does): the merge must give the very bins of
the single sketch, so its quantiles are identical. Prints Markdown tables; exits 1 if any
error exceeds 1 % or a merge differs. numpy is a benchmark-only dependency.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from syncmon.metrics.sketches import RELATIVE_ACCURACY, Sketch, merge_encoded

QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.99, 0.999)
Generator = Callable[[np.random.Generator, int], np.ndarray]


def bimodal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A fast cached mode and a slow uncached one: 70 % around 120 ms, 30 % around 2.4 s."""
    fast = rng.random(n) < 0.7
    return np.where(fast, rng.lognormal(np.log(120), 0.2, n), rng.lognormal(np.log(2400), 0.3, n))


def cls_like(rng: np.random.Generator, n: int) -> np.ndarray:
    """CLS: 40 % exact zeros (no layout shift), the rest exponential around 0.08."""
    return np.where(rng.random(n) < 0.4, 0.0, rng.exponential(0.08, n))


DISTRIBUTIONS: dict[str, tuple[str, Generator]] = {
    "lognormal": ("LCP-like, mu=ln(1800 ms), sigma=0.8", lambda r, n: r.lognormal(np.log(1800), 0.8, n)),
    "exponential": ("request latency, mean 180 ms", lambda r, n: r.exponential(180, n)),
    "pareto": ("heavy tail, alpha=1.2, from 50 ms", lambda r, n: 50 * (1 + r.pareto(1.2, n))),
    "bimodal": ("70 % ~120 ms / 30 % ~2.4 s", bimodal),
    "cls-zeros": ("40 % zeros + exponential(0.08)", cls_like),
}


def relative(estimate: float, truth: float) -> float:
    if truth == 0:
        return 0.0 if estimate == 0 else float("inf")
    return abs(estimate - truth) / abs(truth)


@dataclass
class Result:
    name: str
    rows: list[tuple[float, float, float, float, float]]  # q, sketch, exact, error, error vs linear
    worst: float
    add_ns: float
    encoded_bytes: int
    bins: int
    merge_ms: float
    minute_bytes: float
    identical: bool


def run(name: str, generate: Generator, n: int, seed: int) -> Result:
    rng = np.random.default_rng(seed)
    values = generate(rng, n)
    as_floats = values.tolist()
    sketch = Sketch()
    started = time.perf_counter()
    for value in as_floats:
        sketch.add(value)
    add_seconds = time.perf_counter() - started
    lower = np.quantile(values, QUANTILES, method="lower")
    linear = np.quantile(values, QUANTILES)
    rows = []
    worst = 0.0
    for q, exact_lower, exact_linear in zip(QUANTILES, lower, linear, strict=True):
        estimate = sketch.quantile(q)
        assert estimate is not None
        error = relative(estimate, float(exact_lower))
        worst = max(worst, error)
        rows.append((q, estimate, float(exact_lower), error, relative(estimate, float(exact_linear))))
    blob = sketch.to_bytes()
    parts = np.array_split(values, 1440)
    blobs = []
    for part in parts:
        minute = Sketch()
        for value in part.tolist():
            minute.add(value)
        blobs.append(minute.to_bytes())
    started = time.perf_counter()
    merged = merge_encoded(blobs)
    merge_seconds = time.perf_counter() - started
    identical = merged.bins() == sketch.bins() and all(
        merged.quantile(q) == sketch.quantile(q) for q in QUANTILES
    )
    return Result(
        name=name,
        rows=rows,
        worst=worst,
        add_ns=add_seconds / n * 1e9,
        encoded_bytes=len(blob),
        bins=sum(len(b) for b in sketch.bins()),
        merge_ms=merge_seconds * 1000,
        minute_bytes=sum(map(len, blobs)) / len(blobs),
        identical=identical,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args()
    results = [
        run(name, generate, args.values, args.seed + i)
        for i, (name, (_, generate)) in enumerate(DISTRIBUTIONS.items())
    ]
    print(f"## DDSketch accuracy, {args.values:,} values per distribution (alpha = {RELATIVE_ACCURACY})\n")
    print("| distribution | quantile | sketch | exact, rank floor(q(n-1)) | rel. error | vs linear interp. |")
    print("|---|---|---|---|---|---|")
    for result in results:
        for q, estimate, exact, error, linear_error in result.rows:
            print(
                f"| {result.name} | p{q * 100:g} | {estimate:.6g} | {exact:.6g} | "
                f"{error * 100:.3f} % | {linear_error * 100:.3f} % |"
            )
    print("\n## Size, speed and merging\n")
    print(
        "| distribution | what | worst rel. error | bins | encoded bytes | add (ns/value) "
        "| merge 1,440 minute sketches (ms) | avg minute bytes | merge == single sketch |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    failed = False
    for result in results:
        ok = result.worst <= RELATIVE_ACCURACY * (1 + 1e-9) and result.identical
        failed = failed or not ok
        print(
            f"| {result.name} | {DISTRIBUTIONS[result.name][0]} | {result.worst * 100:.3f} % "
            f"| {result.bins} | {result.encoded_bytes} | {result.add_ns:.0f} | {result.merge_ms:.1f} | "
            f"{result.minute_bytes:.0f} | {'yes' if result.identical else 'NO'} |"
        )
    print(f"\nPython {sys.version.split()[0]}, numpy {np.__version__}.")
    if failed:
        print("\nFAILED: an error above 1 % or a merge that differs from the single sketch.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
