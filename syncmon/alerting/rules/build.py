"""The rule logic for a rule definition."""

from __future__ import annotations

from typing import Any

from syncmon.alerting.rules.base import RuleLogic
from syncmon.alerting.rules.burn_rate import BurnRateLogic
from syncmon.alerting.rules.count import CountLogic
from syncmon.alerting.rules.heartbeat import HeartbeatLogic
from syncmon.alerting.rules.issues import IssueEventLogic, IssueFrequencyLogic
from syncmon.alerting.rules.percentile import PercentileLogic
from syncmon.alerting.rules.ratio import AvailabilityLogic, RatioLogic
from syncmon.alerting.rules.security import SecurityLogic


def build_logic(spec: Any, created_ms: int) -> RuleLogic:
    kind = spec.kind
    if kind == "count":
        return CountLogic(spec)
    if kind == "ratio":
        return RatioLogic(spec)
    if kind == "percentile":
        return PercentileLogic(spec)
    if kind == "availability":
        return AvailabilityLogic(spec)
    if kind == "security":
        return SecurityLogic(spec)
    if kind in ("new_issue", "regression"):
        return IssueEventLogic(spec)
    if kind == "issue_frequency":
        return IssueFrequencyLogic(spec)
    if kind == "burn_rate":
        return BurnRateLogic(spec)
    if kind == "heartbeat":
        return HeartbeatLogic(spec, created_ms)
    raise ValueError(f"no logic for rule kind {kind!r}")
