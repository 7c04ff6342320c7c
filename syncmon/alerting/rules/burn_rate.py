"""SLO burn-rate alerts, multiwindow and multi-burn-rate (Google SRE Workbook, ch. 5).

An SLI splits events into good and bad: requests answered below `error_status`
(`requests`), requests at most `threshold_ms` long (`latency`), metric values at most
`threshold_ms` (`metric`, e.g. page_load_time), passing checks (`checks`). With objective
O (in percent) the error budget is 1 - O/100, and a window's burn rate is its bad
fraction divided by the budget. A row (long, short, factor) is breached when both windows
burn faster than `factor`; rows are OR'd per severity, and the alert of a severity fires
while any of its rows is breached. The default rows are the Workbook's: 1h/5m at 14.4x and
6h/30m at 6x (critical), 3d/6h at 1x (warning).

The comparison is exact: counts are integers and objectives and factors are decimals, so
bad/total > factor * (1 - O/100) is decided in rational arithmetic (a 99.9 % objective
has a budget of exactly 1/1000, not 0.0009999999999999432).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from syncmon.alerting.rules.base import Context, RuleLogic, Sample
from syncmon.alerting.rules.ratio import check_failed, check_status
from syncmon.alerting.selectors import exact_names, exact_route, filter_predicate, name_matcher, status_of
from syncmon.alerting.spec import BurnRateRule, BurnWindow, format_duration
from syncmon.alerting.windows import PairWindow
from syncmon.events import Event, Kind
from syncmon.metrics.sketch_rollups import metric_name
from syncmon.metrics.sketches import MAPPING, Sketch

SEVERITY_ORDER = ("critical", "warning", "info")


def budget_of(objective_percent: Fraction) -> Fraction:
    return 1 - objective_percent / 100


def burn_rate(bad: int, total: int, budget: Fraction) -> Fraction:
    return Fraction(bad, total) / budget


class BurnRateLogic(RuleLogic):
    immediate = False

    def __init__(self, rule: BurnRateRule) -> None:
        self.rule = rule
        self._budget = budget_of(Fraction(rule.objective))
        self._budget_float = float(self._budget)
        # Per severity, its rows with the bad fraction they must exceed (factor x budget).
        grouped: dict[str, list[tuple[BurnWindow, Fraction]]] = {}
        for row in rule.windows:
            grouped.setdefault(row.severity.value, []).append((row, Fraction(row.factor) * self._budget))
        self._rows = sorted(grouped.items(), key=lambda item: SEVERITY_ORDER.index(item[0]))
        lengths = sorted({w.long for w in rule.windows} | {w.short for w in rule.windows})
        self.horizon_ms = lengths[-1]
        self._windows = {length: PairWindow(length) for length in lengths}
        self._filters = filter_predicate(rule.filter)
        self._metric = metric_name(rule.metric) if rule.metric else None
        self._names = name_matcher(rule.checks) if rule.checks else None
        self._bad = self._classifier(rule)
        if rule.sli == "metric":
            self.names = frozenset({self._metric or ""})
        elif rule.sli == "checks":
            self.names = exact_names(rule.checks)
        else:
            self.route = exact_route(rule.filter)
        sli_kind = {
            "requests": Kind.REQUEST.value,
            "latency": Kind.REQUEST.value,
            "metric": Kind.PERFORMANCE.value,
            "checks": Kind.CHECK_IN.value,
        }
        self.kinds = frozenset({sli_kind[rule.sli]})

    def _classifier(self, rule: BurnRateRule) -> Callable[[Event], bool | None]:
        """bad → True, good → False, not part of the SLI → None."""
        if rule.sli == "requests":
            error_status = rule.error_status
            return lambda e: (status_of(e) or 0) >= error_status
        limit = rule.threshold_ms or 0.0
        if rule.sli == "latency":
            return lambda e: None if e.value is None or not math.isfinite(e.value) else e.value > limit
        if rule.sli == "metric":
            wanted = self._metric

            def metric_bad(e: Event) -> bool | None:
                if e.is_bot or e.value is None or not math.isfinite(e.value) or metric_name(e.name) != wanted:
                    return None
                return e.value > limit

            return metric_bad
        names = self._names
        return lambda e: (
            None
            if (names is not None and not names(e.name)) or check_status(e) == "in_progress"
            else check_failed(e)
        )

    def observe(self, event: Event) -> bool:
        bad = self._bad(event)
        if bad is None or not self._filters(event):
            return False
        for window in self._windows.values():
            window.add(event.received_ms, 1 if bad else 0, 1)
        return True

    def seed_minute(self, minute_start_ms: int, bad: int, total: int) -> None:
        """Counts of one rollup minute (before the replayed events), at the minute's middle."""
        if total:
            for window in self._windows.values():
                window.add(minute_start_ms + 30_000, bad, total)

    def good_in_sketch(self, blob: bytes) -> tuple[int, int]:
        """(bad, total) of a stored minute sketch for a latency / metric SLI (within 1 %)."""
        sketch = Sketch.from_bytes(blob)
        limit = self.rule.threshold_ms or 0.0
        positive, _ = sketch.bins()
        good = sketch.zero_count + sum(n for key, n in positive.items() if MAPPING.value(key) <= limit)
        return sketch.size - good, sketch.size

    def samples(self, now_ms: int) -> list[Sample]:
        counts = {length: window.counts(now_ms) for length, window in self._windows.items()}
        found = []
        for severity, rows in self._rows:
            measured = []
            for row, limit in rows:
                (long_bad, long_total), (short_bad, short_total) = counts[row.long], counts[row.short]
                if long_total < self.rule.min_count or short_total < self.rule.min_count:
                    continue
                # bad/total > factor x budget, decided in integers: bad * q > p * total
                breached = long_bad * limit.denominator > limit.numerator * long_total and (
                    short_bad * limit.denominator > limit.numerator * short_total
                )
                measured.append(
                    (breached, long_bad / long_total / self._budget_float / float(row.factor), row)
                )
            if not measured:
                continue
            hit = next((m for m in measured if m[0]), None)
            firing, _, row = hit if hit is not None else max(measured, key=lambda m: m[1])
            long_bad, long_total = counts[row.long]
            value = long_bad / long_total / self._budget_float
            found.append(
                Sample({"severity": severity}, value, firing, firing, self._context(counts, row, firing))
            )
        return found

    def _context(self, counts: dict[int, tuple[int, int]], row: BurnWindow, breached: bool) -> Context:
        """The shown row's figures for templates, computed only when a template asks."""

        def figures() -> dict[str, Any]:
            (long_bad, long_total), (short_bad, short_total) = counts[row.long], counts[row.short]
            return {
                "long": format_duration(row.long),
                "short": format_duration(row.short),
                "factor": float(row.factor),
                "burn_long": float(burn_rate(long_bad, long_total, self._budget)),
                "burn_short": float(burn_rate(short_bad, short_total, self._budget)) if short_total else 0.0,
                "bad_long": long_bad,
                "total_long": long_total,
                "bad_short": short_bad,
                "total_short": short_total,
                "breached": breached,
            }

        return figures

    def template_context(self) -> dict[str, Any]:
        rule = self.rule
        return {
            "slo": {
                "sli": rule.sli,
                "objective": format(rule.objective.normalize(), "f"),
                "budget": float(self._budget),
                "period": format_duration(rule.period),
                "threshold_ms": rule.threshold_ms,
            }
        }
