"""Service-level objectives on the Performance page: attainment and error budget over the range.

An objective splits events into good and bad (a service-level indicator) and asks that at
least `objective` percent be good. Its error budget over a range is the share of events
allowed to be bad, (1 - objective/100) of them; `remaining` is the part of that budget the
bad events have not used (negative once it is overspent). Everything is counted from the
stored rollups of the range:

- `metric`: performance measurements of one metric (page_load_time) above `threshold_ms`
  are bad, read from the merged all-pages sketch;
- `latency`: API requests slower than `threshold_ms` are bad, from the all-routes sketch;
- `requests`: API requests answered with a 5xx status are bad (the rollups' error count).

Sketch bins are 1 % wide, so a value within 1 % of the threshold may be counted on either
side of it; counts and the `requests` indicator are exact.

Where objectives come from: `objectives_for`. Until SLO rules are stored it answers the
seed's validation checklist ("page load times < 2 seconds, API response times < 500ms,
error rates < 1%") as fixed objectives, with the objectives, names and indicators of the
default burn-rate alert rules, so switching it to stored rules changes no number.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from sqlalchemy.engine import Connection

from syncmon.events import Kind
from syncmon.metrics.sketch_rollups import Span, Summary, metric_name
from syncmon.metrics.sketches import MAPPING, Sketch
from syncmon.web.dashboard.performance_data import SketchReader, summaries_by_name

Indicator = Literal["metric", "latency", "requests"]
CHECKLIST = "the seed's validation checklist"


@dataclass(frozen=True, slots=True)
class Objective:
    key: str
    title: str
    description: str
    sli: Indicator
    objective: Fraction  # percent of events that must be good
    threshold_ms: float | None = None
    metric: str | None = None
    source: str = CHECKLIST

    @property
    def from_checklist(self) -> bool:
        return self.source == CHECKLIST

    @property
    def objective_text(self) -> str:
        return f"{float(self.objective):g} %"


SEED_OBJECTIVES: tuple[Objective, ...] = (
    Objective(
        "slo_page_load",
        "Page load under 2 s",
        "95 % of page loads (page_load_time) finish within 2 s",
        "metric",
        Fraction(95),
        threshold_ms=2000,
        metric="page_load_time",
    ),
    Objective(
        "slo_api_latency",
        "API responses under 500 ms",
        "99 % of API requests are answered within 500 ms",
        "latency",
        Fraction(99),
        threshold_ms=500,
    ),
    Objective(
        "slo_error_rate",
        "Error rate under 1 %",
        "fewer than 1 % of API requests fail with a 5xx status",
        "requests",
        Fraction(99),
    ),
)


def objectives_for(conn: Connection, project_ids: Sequence[int]) -> tuple[Objective, ...]:
    """The objectives the page evaluates for these projects. No SLO rules are stored yet,
    so these are the checklist's; this is the one place to read stored rules from."""
    return SEED_OBJECTIVES


@dataclass(frozen=True, slots=True)
class Attainment:
    """An objective over a range: `total` events of its indicator, `bad` of them missing it."""

    objective: Objective
    total: int
    bad: int
    ratio: float | None = field(init=False)  # share of good events, 0..1 (None without events)
    remaining: float | None = field(init=False)  # unused budget: 1 untouched, 0 used up, < 0 overspent
    met: bool | None = field(init=False)

    def __post_init__(self) -> None:
        good, total = self.total - self.bad, self.total
        budget = self.budget
        set_field = object.__setattr__
        set_field(self, "ratio", good / total if total else None)
        set_field(self, "remaining", float(1 - Fraction(self.bad) / (budget * total)) if total else None)
        set_field(self, "met", Fraction(good, total) >= self.objective.objective / 100 if total else None)

    @property
    def good(self) -> int:
        return self.total - self.bad

    @property
    def budget(self) -> Fraction:
        """Share of events allowed to be bad."""
        return 1 - self.objective.objective / 100

    @property
    def allowed_bad(self) -> float:
        return float(self.budget * self.total)

    @property
    def status(self) -> str:
        return {None: "no data", True: "met", False: "missed"}[self.met]


def count_above(sketch: Sketch, limit: float) -> int:
    """Values in the sketch above `limit` (by each bin's representative value, within 1 %).
    A bin's value grows with its key, so the first bin above the limit is found by bisection."""
    store = sketch.positive
    if not store.count:
        return 0
    low, high = store.min_key - store.offset, store.max_key - store.offset + 1
    first = bisect_right(range(store.min_key, store.max_key + 1), limit, key=MAPPING.value)
    return int(sum(store.bins[low + first : high]))


def measure(objective: Objective, summary: Summary | None) -> Attainment:
    """(bad, total) of an objective's indicator in one merged rollup summary."""
    if summary is None or not summary.count:
        return Attainment(objective, 0, 0)
    if objective.sli == "requests":
        return Attainment(objective, summary.count, summary.errors)
    limit = objective.threshold_ms if objective.threshold_ms is not None else float("inf")
    return Attainment(objective, summary.count, count_above(summary.sketch, limit))


def source_of(objective: Objective) -> tuple[str, str]:
    """(kind, name) of the all-pages / all-routes rollup rows the indicator reads."""
    if objective.sli == "metric":
        return Kind.PERFORMANCE.value, metric_name(objective.metric or "")
    return Kind.REQUEST.value, ""


def evaluate(
    reader: SketchReader,
    objectives: Sequence[Objective],
    spans: Sequence[Span],
    known: Mapping[tuple[str, str], Summary | None] | None = None,
) -> list[Attainment]:
    """Each objective over the range the spans cover. `known` holds (kind, name) summaries
    of the same range the caller read already (None: nothing stored); the rest are read,
    one query per rollup kind."""
    found: dict[tuple[str, str], Summary | None] = dict(known or {})
    wanted: dict[str, set[str]] = {}
    for objective in objectives:
        kind, name = source_of(objective)
        if (kind, name) not in found:
            wanted.setdefault(kind, set()).add(name)
    for kind, names in wanted.items():
        read = summaries_by_name(reader, spans, kind, sorted(names))
        found.update({(kind, name): read.get(name) for name in names})
    return [measure(objective, found[source_of(objective)]) for objective in objectives]
