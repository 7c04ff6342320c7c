"""The alert as every part of alerting sees it: rules produce it, routing groups it, channels render it.

Shaped after Prometheus/Alertmanager (labels identify an alert, annotations describe it,
a fingerprint is the stable hash of the labels) so the webhook payload is Alertmanager's
v4 without translation. Times are epoch milliseconds, like the rest of the store.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson


class Severity(StrEnum):
    """The seed's alert levels."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


def fingerprint(labels: dict[str, str]) -> str:
    """Stable identity of an alert: a hash of its sorted labels (order-independent)."""
    canonical = orjson.dumps(labels, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert instance of one rule, identified by its labels.

    `labels` always carry `alertname`, `severity` and `project`; rules add their own
    (route, rule id, detection rule …). `ends_ms` is set once the alert resolved.
    """

    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    starts_ms: int
    ends_ms: int | None = None
    value: float | None = None
    rule_id: int | None = None
    generator_url: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def severity(self) -> Severity:
        return Severity(self.labels.get("severity", Severity.WARNING.value))

    @property
    def project(self) -> str:
        return self.labels.get("project", "")

    def as_dict(self) -> dict[str, Any]:
        """The Alertmanager v4 `alerts[]` element (times as RFC 3339 UTC)."""
        return {
            "status": "resolved" if self.state is AlertState.RESOLVED else "firing",
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": rfc3339(self.starts_ms),
            "endsAt": rfc3339(self.ends_ms) if self.ends_ms is not None else "0001-01-01T00:00:00Z",
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert changed state at `at_ms`; routing acts on FIRING and RESOLVED transitions."""

    alert: Alert
    previous: AlertState
    at_ms: int


@dataclass(frozen=True, slots=True)
class Matcher:
    """Alertmanager label matcher: `=`, `!=`, `=~`, `!~` (regexes fully anchored)."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        hit = re.fullmatch(self.value, actual) is not None if self.is_regex else actual == self.value
        return hit if self.is_equal else not hit


def matches_all(matchers: list[Matcher] | tuple[Matcher, ...], labels: dict[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
