"""Fractions over a window: a ratio of two selections (5xx / requests) and availability
(successful / all requests, or passing / all uptime checks).

Both keep (part, whole) pairs per series in one sliding window. Below `min_count` events
in the whole there is no value, and no value means the condition does not hold: one failed
request out of one is not a 100 % error rate worth waking someone for.
"""

from __future__ import annotations

from collections.abc import Callable

from syncmon.alerting.rules.base import MAX_SERIES, RuleLogic, Sample, threshold_sample
from syncmon.alerting.selectors import (
    compile_selector,
    exact_names,
    exact_route,
    filter_predicate,
    group_value,
    name_matcher,
    status_of,
)
from syncmon.alerting.spec import AvailabilityRule, RatioRule
from syncmon.alerting.windows import PairWindow
from syncmon.events import Event, Kind

CHECK_OK = frozenset({"ok", "up", "success", "passed"})


class _PairLogic(RuleLogic):
    """Shared bookkeeping: (part, whole) per series over one window."""

    immediate = False

    def __init__(self, window_ms: int, group_by: list[str], min_count: int) -> None:
        self.horizon_ms = window_ms
        self._window = window_ms
        self._group: tuple[str, ...] = tuple(group_by)
        self._min_count = min_count
        self._series: dict[tuple[str, ...], PairWindow] = {}

    def _add(self, event: Event, part: int, whole: int) -> bool:
        key = tuple(group_value(event, f) for f in self._group)
        pair = self._series.get(key)
        if pair is None:
            if len(self._series) >= MAX_SERIES:
                self.dropped_series += 1
                return False
            pair = self._series[key] = PairWindow(self._window)
        pair.add(event.received_ms, part, whole)
        return True

    def _fractions(self, now_ms: int) -> list[tuple[dict[str, str], int, int]]:
        found = []
        for key, pair in list(self._series.items()):
            part, whole = pair.counts(now_ms)
            if pair.empty():
                del self._series[key]
                continue
            if whole >= self._min_count and whole > 0:
                found.append((dict(zip(self._group, key, strict=True)), part, whole))
        return found


class RatioLogic(_PairLogic):
    def __init__(self, rule: RatioRule) -> None:
        super().__init__(rule.window, list(rule.group_by), rule.min_count)
        self.rule = rule
        self.kinds = frozenset({rule.numerator.kind.value, rule.denominator.kind.value})
        self._numerator = compile_selector(rule.numerator, rule.filter)
        self._denominator = compile_selector(rule.denominator, rule.filter)
        part, whole = exact_names(rule.numerator.names), exact_names(rule.denominator.names)
        self.names = part | whole if part is not None and whole is not None else None
        both_requests = rule.numerator.kind == rule.denominator.kind == Kind.REQUEST
        self.route = exact_route(rule.filter) if both_requests else None

    def observe(self, event: Event) -> bool:
        part = 1 if self._numerator(event) else 0
        whole = 1 if self._denominator(event) else 0
        if not part and not whole:
            return False
        return self._add(event, part, whole)

    def samples(self, now_ms: int) -> list[Sample]:
        rule = self.rule
        return [
            threshold_sample(
                labels,
                part / whole,
                rule.op,
                rule.threshold,
                rule.resolve_threshold,
                {"numerator": part, "denominator": whole},
            )
            for labels, part, whole in self._fractions(now_ms)
        ]


class AvailabilityLogic(_PairLogic):
    def __init__(self, rule: AvailabilityRule) -> None:
        super().__init__(rule.window, list(rule.group_by), rule.min_count)
        self.rule = rule
        self._filters = filter_predicate(rule.filter)
        if rule.source == "requests":
            self.kinds = frozenset({Kind.REQUEST.value})
            error_status = rule.error_status
            self._failed: Callable[[Event], bool] = lambda e: (status_of(e) or 0) >= error_status
        else:
            self.kinds = frozenset({Kind.CHECK_IN.value})
            self._failed = check_failed
        self._named = name_matcher(rule.checks) if rule.checks else None
        self.names = exact_names(rule.checks) if rule.source == "checks" else None
        self.route = exact_route(rule.filter) if rule.source == "requests" else None

    def observe(self, event: Event) -> bool:
        if self._named is not None and not self._named(event.name):
            return False
        if not self._filters(event):
            return False
        if event.kind == Kind.CHECK_IN and check_status(event) == "in_progress":
            return False
        return self._add(event, 1 if self._failed(event) else 0, 1)

    def samples(self, now_ms: int) -> list[Sample]:
        rule = self.rule
        return [
            threshold_sample(
                labels,
                1 - failed / total,
                rule.op,
                rule.threshold,
                rule.resolve_threshold,
                {"failed": failed, "total": total},
            )
            for labels, failed, total in self._fractions(now_ms)
        ]


def check_status(event: Event) -> str:
    status = event.data.get("status") if isinstance(event.data, dict) else None
    return str(status).lower() if status is not None else ""


def check_failed(event: Event) -> bool:
    """A check result is a failure unless its status says it passed (a cron check-in's
    `ok`, an uptime probe's `up`)."""
    return check_status(event) not in CHECK_OK
