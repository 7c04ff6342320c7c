"""A percentile over a window: p75 page load above 5 s, p95 API response above 2 s.

Values are binned like the quantile rollups (DDSketch, 1 % relative accuracy) into a
sliding histogram per series, so adding a value is O(1) and a percentile walks the
window's bins (a few hundred), whatever the event rate. Metrics are matched by their
canonical name (`page_load_time`, `LCP` for largest_contentful_paint); bots are left out
of web metrics as the rollups leave them out.
"""

from __future__ import annotations

import math
from typing import Any

from syncmon.alerting.rules.base import MAX_SERIES, RuleLogic, Sample, event_context, threshold_sample
from syncmon.alerting.selectors import exact_route, filter_predicate, group_value
from syncmon.alerting.spec import PercentileRule
from syncmon.alerting.windows import WindowedBins
from syncmon.events import Event, Kind
from syncmon.metrics.sketch_rollups import metric_name


class PercentileLogic(RuleLogic):
    immediate = False

    def __init__(self, rule: PercentileRule) -> None:
        self.rule = rule
        self.horizon_ms = rule.window
        self._metric = metric_name(rule.metric) if rule.metric else None
        self.kinds = frozenset({Kind.PERFORMANCE.value if rule.source == "metric" else Kind.REQUEST.value})
        self._filters = filter_predicate(rule.filter)
        self.names = frozenset({self._metric}) if self._metric else None
        self.route = exact_route(rule.filter) if rule.source == "request" else None
        self._group: tuple[str, ...] = tuple(rule.group_by)
        self._q = rule.percentile / 100
        self._series: dict[tuple[str, ...], WindowedBins] = {}
        self._last: dict[tuple[str, ...], Event] = {}

    def observe(self, event: Event) -> bool:
        value = event.value
        if value is None or not math.isfinite(value):
            return False
        if event.kind == Kind.PERFORMANCE and (event.is_bot or metric_name(event.name) != self._metric):
            return False
        if not self._filters(event):
            return False
        key = tuple(group_value(event, f) for f in self._group)
        bins = self._series.get(key)
        if bins is None:
            if len(self._series) >= MAX_SERIES:
                self.dropped_series += 1
                return False
            bins = self._series[key] = WindowedBins(self.rule.window)
        bins.add(event.received_ms, value)
        self._last[key] = event
        return True

    def samples(self, now_ms: int) -> list[Sample]:
        rule = self.rule
        found = []
        for key, bins in list(self._series.items()):
            value = bins.quantile(now_ms, self._q)
            if value is None:
                del self._series[key]
                self._last.pop(key, None)
                continue
            if bins.count < rule.min_count:
                continue
            last = self._last.get(key)
            context = event_context(last, count=bins.count)
            labels = dict(zip(self._group, key, strict=True))
            found.append(
                threshold_sample(labels, value, rule.op, rule.threshold, rule.resolve_threshold, context)
            )
        return found

    def template_context(self) -> dict[str, Any]:
        return {"percentile": self.rule.percentile, "metric": self._metric or "request duration"}
