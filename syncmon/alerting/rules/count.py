"""Event count or rate over a window: `javascript_errors > 10 per minute`, `api_errors`.

Counts are kept per series (the `group_by` labels) in sliding windows. A rule that fires
on too few events (`op: <`) keeps its series while they are empty, so "fewer than 1 page
view in 10 minutes" fires on silence; other rules forget a series once its window is
empty. The value is the count in the window, or the count scaled to `per` (a rate).
"""

from __future__ import annotations

from typing import Any

from syncmon.alerting.rules.base import MAX_SERIES, RuleLogic, Sample, event_context, threshold_sample
from syncmon.alerting.selectors import compile_selector, exact_names, exact_route, group_value
from syncmon.alerting.spec import CountRule, format_duration
from syncmon.alerting.windows import WindowCounter
from syncmon.events import Event, Kind

PER_MS = {"second": 1000, "minute": 60_000, "hour": 3_600_000}


class CountLogic(RuleLogic):
    def __init__(self, rule: CountRule) -> None:
        self.rule = rule
        self.kinds = frozenset({rule.select.kind.value})
        self.horizon_ms = rule.window
        self._accepts = compile_selector(rule.select, rule.filter)
        self.names = exact_names(rule.select.names)
        self.route = exact_route(rule.filter) if rule.select.kind == Kind.REQUEST else None
        self._group: tuple[str, ...] = tuple(rule.group_by)
        self._scale = PER_MS[rule.per] / rule.window if rule.per != "window" else 1.0
        self._keep_empty = rule.op in ("<", "<=")
        self._series: dict[tuple[str, ...], WindowCounter] = {}
        self._last: dict[tuple[str, ...], Event] = {}
        if not self._group:
            self._series[()] = WindowCounter(rule.window)

    def observe(self, event: Event) -> bool:
        if not self._accepts(event):
            return False
        key = tuple(group_value(event, f) for f in self._group)
        counter = self._series.get(key)
        if counter is None:
            if len(self._series) >= MAX_SERIES:
                self.dropped_series += 1
                return False
            counter = self._series[key] = WindowCounter(self.rule.window)
        counter.add(event.received_ms)
        self._last[key] = event
        return True

    def samples(self, now_ms: int) -> list[Sample]:
        rule = self.rule
        found: list[Sample] = []
        for key, counter in list(self._series.items()):
            count = counter.value(now_ms)
            last = self._last.get(key)
            if count == 0 and not self._keep_empty:
                # The series' last word is its zero, then it is forgotten.
                del self._series[key]
                self._last.pop(key, None)
            context = event_context(last, count=count)
            labels = dict(zip(self._group, key, strict=True))
            value = count * self._scale
            found.append(
                threshold_sample(labels, value, rule.op, rule.threshold, rule.resolve_threshold, context)
            )
        return found

    def template_context(self) -> dict[str, Any]:
        rule = self.rule
        per_text = (
            f"events per {rule.per}" if rule.per != "window" else f"events in {format_duration(rule.window)}"
        )
        return {"per_text": per_text}
