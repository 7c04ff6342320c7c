"""Error issue alerts: a new issue, a regression, and an issue's event frequency.

The writer decides, in the commit that stores an error event, whether it opened a new
issue or reopened a resolved one (syncmon.errors.issue_store annotates the event with
`_issue: {id, new, transition}`), so a replay after a restart reads the same decisions
from the stored events. A new issue or a regression is an alert per issue (label
`issue_id`) that stays active for the rule's window; frequency counts each issue's events.
"""

from __future__ import annotations

from typing import Any

from syncmon.alerting.rules.base import MAX_SERIES, RuleLogic, Sample, threshold_sample
from syncmon.alerting.selectors import LEVEL_RANK, filter_predicate
from syncmon.alerting.spec import IssueFrequencyRule, NewIssueRule, RegressionRule
from syncmon.alerting.windows import WindowCounter
from syncmon.errors.lifecycle import Transition
from syncmon.events import Event, Kind


def issue_of(event: Event) -> dict[str, Any] | None:
    found = event.data.get("_issue") if isinstance(event.data, dict) else None
    return found if isinstance(found, dict) and isinstance(found.get("id"), int) else None


def issue_sample(event: Event, issue_id: int) -> dict[str, Any]:
    return {
        "issue_id": issue_id,
        "title": event.message or event.name,
        "name": event.name,
        "culprit": event.data.get("culprit") if isinstance(event.data, dict) else None,
        "url": event.url,
        "level": event.level,
        "release": event.release,
        "environment": event.environment,
    }


class _IssueLogic(RuleLogic):
    def __init__(self, window_ms: int, min_level: str | None, rule: Any) -> None:
        self.kinds = frozenset({Kind.ERROR.value})
        self.horizon_ms = window_ms
        self._window = window_ms
        self._floor = LEVEL_RANK[min_level] if min_level else 0
        self._filters = filter_predicate(rule.filter)

    def _issue(self, event: Event) -> dict[str, Any] | None:
        if LEVEL_RANK.get(event.level, 0) < self._floor:
            return None
        if not self._filters(event):
            return None
        return issue_of(event)


class IssueEventLogic(_IssueLogic):
    """new_issue and regression: the alert of an issue is active from its event for `window`."""

    def __init__(self, rule: NewIssueRule | RegressionRule) -> None:
        super().__init__(rule.window, rule.min_level.value if rule.min_level else None, rule)
        self.rule = rule
        self._regression = rule.kind == "regression"
        self._since: dict[int, tuple[int, dict[str, Any]]] = {}

    def observe(self, event: Event) -> bool:
        issue = self._issue(event)
        if issue is None:
            return False
        if self._regression:
            hit = issue.get("transition") == Transition.REGRESSED.value
        else:
            hit = bool(issue.get("new"))
        if not hit:
            return False
        if len(self._since) >= MAX_SERIES:
            self.dropped_series += 1
            return False
        self._since[issue["id"]] = (event.received_ms, issue_sample(event, issue["id"]))
        return True

    def samples(self, now_ms: int) -> list[Sample]:
        found = []
        for issue_id, (at_ms, sample) in list(self._since.items()):
            if now_ms - at_ms >= self._window:
                del self._since[issue_id]
                continue
            found.append(Sample({"issue_id": str(issue_id)}, 1.0, True, True, {"sample": sample}))
        return found


class IssueFrequencyLogic(_IssueLogic):
    def __init__(self, rule: IssueFrequencyRule) -> None:
        super().__init__(rule.window, rule.min_level.value if rule.min_level else None, rule)
        self.rule = rule
        self._series: dict[int, WindowCounter] = {}
        self._last: dict[int, dict[str, Any]] = {}

    def observe(self, event: Event) -> bool:
        issue = self._issue(event)
        if issue is None:
            return False
        issue_id = int(issue["id"])
        counter = self._series.get(issue_id)
        if counter is None:
            if len(self._series) >= MAX_SERIES:
                self.dropped_series += 1
                return False
            counter = self._series[issue_id] = WindowCounter(self._window)
        counter.add(event.received_ms)
        self._last[issue_id] = issue_sample(event, issue_id)
        return True

    def samples(self, now_ms: int) -> list[Sample]:
        rule = self.rule
        found = []
        for issue_id, counter in list(self._series.items()):
            count = counter.value(now_ms)
            context = {"sample": self._last.get(issue_id, {})}
            if count == 0:  # its last word is its zero, then it is forgotten
                del self._series[issue_id]
                self._last.pop(issue_id, None)
            labels = {"issue_id": str(issue_id)}
            found.append(
                threshold_sample(labels, count, rule.op, rule.threshold, rule.resolve_threshold, context)
            )
        return found
