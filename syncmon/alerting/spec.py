"""Alert rule definitions: what an operator writes (API body, rules.yaml), validated by pydantic.

A rule is one `kind` of condition plus what every rule has: a name (the `alertname`
label), a severity, `for` / `keep_firing_for`, filters on the events it reads, static
labels, and summary / description templates. `parse_rule` turns a mapping into the model
or raises `RuleError` naming the offending field ("window: '5 minutes' is not a
duration like 30s, 5m, 1h or 3d"). Durations are written like Prometheus's (30s, 5m, 1h,
3d, 1w) and held as milliseconds; `rule_document` writes them back the same way, so a
definition read from the store or a file round-trips unchanged.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from syncmon.alerting.model import Severity
from syncmon.alerting.templates import check_template
from syncmon.events import Kind, Level
from syncmon.security.detection import Severity as DetectionSeverity

MAX_WINDOW_MS = 7 * 86_400_000  # windows live in memory; minute rollups are kept 7 days
RESERVED_LABELS = frozenset({"alertname", "severity", "project", "rule_id"})
SecurityAlert = Literal[
    "authentication_failure",
    "authorization_failure",
    "suspicious_activity",
    "data_breach_attempt",
    "malware_detection",
]
SEED_SECURITY_ALERTS: tuple[str, ...] = get_args(SecurityAlert)
_DURATION = re.compile(r"^(?:\d{1,9}(?:ms|s|m|h|d|w))+$")
_DURATION_PART = re.compile(r"(\d{1,9})(ms|s|m|h|d|w)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}$")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class RuleError(ValueError):
    """A rule definition that cannot be accepted; the message names the field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def parse_duration(raw: Any) -> int:
    """'90s', '5m', '1h30m', '3d', '1w' (or a number of seconds) → milliseconds."""
    if isinstance(raw, bool):
        raise ValueError("expected a duration like 30s, 5m, 1h or 3d")
    if isinstance(raw, int | float):
        if raw < 0 or raw != raw:
            raise ValueError("a duration cannot be negative")
        return int(raw * 1000)
    if isinstance(raw, str):
        text = raw.strip()
        if _DURATION.match(text):
            return sum(int(n) * _UNIT_MS[unit] for n, unit in _DURATION_PART.findall(text))
        raise ValueError(f"{raw[:40]!r} is not a duration like 30s, 5m, 1h or 3d")
    raise ValueError("expected a duration like 30s, 5m, 1h or 3d")


def format_duration(ms: int) -> str:
    """The largest whole unit: 300000 → '5m', 90000 → '90s', 0 → '0s'."""
    if ms == 0:
        return "0s"
    for unit in ("w", "d", "h", "m", "s"):
        if ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


Duration = Annotated[int, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]
ExactNumber = Annotated[
    Decimal,
    BeforeValidator(
        lambda v: Decimal(str(v)) if isinstance(v, int | float) and not isinstance(v, bool) else v
    ),
    PlainSerializer(lambda d: format(d.normalize(), "f"), return_type=str),
]
Op = Literal[">", ">=", "<", "<="]
GroupField = Literal["name", "route", "environment", "release", "level"]


def _window(value: int, name: str = "window") -> int:
    if value < 1000:
        raise ValueError(f"{name} must be at least 1s")
    if value > MAX_WINDOW_MS:
        raise ValueError(f"{name} must be at most 7d")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class EventFilter(_Model):
    """Which events of the project a rule reads, beyond what its kind selects."""

    environment: str | None = None
    release: str | None = None
    route: str | None = Field(
        None, description="glob on the request route ('GET /api/*', '/api/*') or the page of a metric"
    )
    labels: dict[str, str] = Field(default_factory=dict, description="event tags that must all match")


class EventSelector(_Model):
    """Events of one kind, narrowed by name (globs), level, status, platform or security class."""

    kind: Kind
    names: list[str] = Field(default_factory=list)
    min_level: Level | None = None
    min_status: int | None = Field(None, ge=100, le=599)
    max_status: int | None = Field(None, ge=100, le=599)
    platform: str | None = None
    security_alert: SecurityAlert | None = None

    @model_validator(mode="after")
    def _statuses(self) -> EventSelector:
        if (self.min_status is not None or self.max_status is not None) and self.kind != Kind.REQUEST:
            raise ValueError("min_status / max_status select request events only (kind: request)")
        if self.min_status and self.max_status and self.min_status > self.max_status:
            raise ValueError("min_status must not exceed max_status")
        if self.security_alert is not None and self.kind != Kind.SECURITY:
            raise ValueError("security_alert selects security events only (kind: security)")
        return self


class _Rule(_Model):
    name: str
    severity: Severity = Severity.WARNING
    for_: Duration = Field(0, alias="for")
    keep_firing_for: Duration = 0
    enabled: bool = True
    filter: EventFilter = Field(default_factory=EventFilter)
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str | None = None
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "must start with a letter and hold only letters, digits and _ . : - (at most 100)"
            )
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _LABEL_NAME.match(key):
                raise ValueError(
                    f"label name {key[:40]!r} must be letters, digits and _ (not starting with one)"
                )
            if key in RESERVED_LABELS:
                raise ValueError(f"label {key!r} is set by the rule itself")
        return value

    @field_validator("for_", "keep_firing_for")
    @classmethod
    def _hold(cls, value: int) -> int:
        if value > MAX_WINDOW_MS:
            raise ValueError("must be at most 7d")
        return value


class _Threshold(_Rule):
    window: Duration
    threshold: float
    op: Op = ">"
    resolve_threshold: float | None = None

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: int) -> int:
        return _window(value)

    @model_validator(mode="after")
    def _hysteresis(self) -> _Threshold:
        resolve = self.resolve_threshold
        if resolve is None:
            return self
        if self.op in (">", ">=") and resolve > self.threshold:
            raise ValueError("resolve_threshold must not be above threshold when op is > or >=")
        if self.op in ("<", "<=") and resolve < self.threshold:
            raise ValueError("resolve_threshold must not be below threshold when op is < or <=")
        return self


class CountRule(_Threshold):
    """Events per window (or per second / minute / hour): javascript_errors > 10 per minute."""

    kind: Literal["count"]
    select: EventSelector
    per: Literal["window", "second", "minute", "hour"] = "window"
    group_by: list[GroupField] = Field(default_factory=list)


class RatioRule(_Threshold):
    """numerator / denominator events over a window, as a fraction: 5xx / requests > 0.05."""

    kind: Literal["ratio"]
    numerator: EventSelector
    denominator: EventSelector
    min_count: int = Field(1, ge=1, description="fewer denominator events than this: no value")
    group_by: list[GroupField] = Field(default_factory=list)


class PercentileRule(_Threshold):
    """A percentile of a metric's values (page_load_time p75) or of request durations (p95)."""

    kind: Literal["percentile"]
    source: Literal["metric", "request"]
    metric: str | None = None
    percentile: float = Field(gt=0, lt=100)
    min_count: int = Field(1, ge=1)
    group_by: list[Literal["route", "environment", "release"]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _metric(self) -> PercentileRule:
        if self.source == "metric" and not self.metric:
            raise ValueError("metric is required when source is metric")
        if self.source == "request" and self.metric:
            raise ValueError("metric goes only with source: metric")
        return self


class AvailabilityRule(_Threshold):
    """Successful / total requests (status below error_status) or uptime check results."""

    kind: Literal["availability"]
    source: Literal["requests", "checks"] = "requests"
    checks: list[str] = Field(default_factory=list, description="check names (globs) for source checks")
    error_status: int = Field(500, ge=100, le=599)
    op: Op = "<"
    min_count: int = Field(1, ge=1)
    group_by: list[Literal["route", "name", "environment"]] = Field(default_factory=list)

    @field_validator("threshold")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise ValueError("availability is a fraction from 0 to 1 (0.99 is 99 %)")
        return value


class SecurityRule(_Threshold):
    """Security detections (by detection rule and minimum severity) and reported security
    events of one of the seed's five classes, counted over a window."""

    kind: Literal["security"]
    security_alert: SecurityAlert | None = None
    detection_rules: list[str] = Field(default_factory=list)
    min_severity: DetectionSeverity = DetectionSeverity.HIGH
    threshold: float = 0
    group_by: list[Literal["detection_rule", "subject"]] = ["detection_rule"]


class NewIssueRule(_Rule):
    """An issue seen for the first time; the alert stays active for `window`."""

    kind: Literal["new_issue"]
    window: Duration = 3_600_000
    min_level: Level | None = None

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: int) -> int:
        return _window(value)


class RegressionRule(NewIssueRule):
    """A resolved issue that came back (the lifecycle's `regressed` transition)."""

    kind: Literal["regression"]  # type: ignore[assignment]


class IssueFrequencyRule(_Threshold):
    """Events of one issue over a window, per issue."""

    kind: Literal["issue_frequency"]
    min_level: Level | None = None


class BurnWindow(_Model):
    long: Duration
    short: Duration
    factor: ExactNumber = Field(gt=0)
    severity: Severity = Severity.CRITICAL

    @model_validator(mode="after")
    def _windows(self) -> BurnWindow:
        _window(self.long, "long")
        _window(self.short, "short")
        if self.short >= self.long:
            raise ValueError("the short window must be shorter than the long one")
        return self


WORKBOOK_WINDOWS = (
    {"long": "1h", "short": "5m", "factor": "14.4", "severity": "critical"},
    {"long": "6h", "short": "30m", "factor": "6", "severity": "critical"},
    {"long": "3d", "short": "6h", "factor": "1", "severity": "warning"},
)


class BurnRateRule(_Rule):
    """Multiwindow, multi-burn-rate SLO alert (SRE Workbook): a row fires when both its
    windows burn the error budget faster than its factor; rows are OR'd per severity."""

    kind: Literal["burn_rate"]
    sli: Literal["requests", "latency", "metric", "checks"]
    objective: ExactNumber = Field(gt=0, lt=100, description="percent of good events, e.g. 99.9")
    threshold_ms: float | None = Field(None, gt=0, description="latency / metric: good is at most this")
    metric: str | None = None
    checks: list[str] = Field(default_factory=list)
    error_status: int = Field(500, ge=100, le=599)
    period: Duration = 30 * 86_400_000
    windows: list[BurnWindow] = Field(default_factory=lambda: [BurnWindow(**w) for w in WORKBOOK_WINDOWS])
    min_count: int = Field(1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _severity(cls, data: Any) -> Any:
        """Unless given, the rule's severity is that of its most severe row."""
        if isinstance(data, dict) and "severity" not in data:
            rows = data.get("windows", WORKBOOK_WINDOWS)
            named = (
                {str(r.get("severity", "critical")) for r in rows if isinstance(r, dict)}
                if isinstance(rows, list | tuple)
                else set()
            )
            for severity in ("critical", "warning", "info"):
                if severity in named:
                    return {**data, "severity": severity}
        return data

    @model_validator(mode="after")
    def _sli(self) -> BurnRateRule:
        if self.sli in ("latency", "metric") and self.threshold_ms is None:
            raise ValueError(f"threshold_ms is required for sli {self.sli}")
        if self.sli == "metric" and not self.metric:
            raise ValueError("metric is required for sli metric")
        if not self.windows:
            raise ValueError("windows: at least one row")
        return self


class HeartbeatRule(_Rule):
    """No event of a kind / name for `absent_for`: a cron job, a worker, a page stopped reporting."""

    kind: Literal["heartbeat"]
    select: EventSelector
    absent_for: Duration
    group_by: list[Literal["name"]] = Field(default_factory=list)

    @field_validator("absent_for")
    @classmethod
    def _absent(cls, value: int) -> int:
        return _window(value, "absent_for")

    @model_validator(mode="after")
    def _named(self) -> HeartbeatRule:
        if self.group_by and not self.select.names:
            raise ValueError("group_by name needs select.names: the names whose absence is watched")
        if self.group_by and any(_is_glob(n) for n in self.select.names):
            raise ValueError("group_by name needs exact names in select.names, not patterns")
        return self


def _is_glob(name: str) -> bool:
    return any(ch in name for ch in "*?[")


RuleSpec = Annotated[
    CountRule
    | RatioRule
    | PercentileRule
    | AvailabilityRule
    | SecurityRule
    | NewIssueRule
    | RegressionRule
    | IssueFrequencyRule
    | BurnRateRule
    | HeartbeatRule,
    Field(discriminator="kind"),
]
RULE_KINDS = (
    "count",
    "ratio",
    "percentile",
    "availability",
    "security",
    "new_issue",
    "regression",
    "issue_frequency",
    "burn_rate",
    "heartbeat",
)
_ADAPTER: TypeAdapter[Any] = TypeAdapter(RuleSpec)


def parse_rule(raw: Any, where: str = "") -> Any:
    """A validated rule model from a mapping; RuleError names the first bad field."""
    if not isinstance(raw, dict):
        raise RuleError(f"{where.rstrip('.') or 'rule'}: expected a mapping of rule fields", where or None)
    if "kind" not in raw:
        raise RuleError(f"{where}kind: required, one of {', '.join(RULE_KINDS)}", f"{where}kind")
    if raw["kind"] not in RULE_KINDS:
        kind = str(raw["kind"])[:40]
        raise RuleError(f"{where}kind: {kind!r} is not one of {', '.join(RULE_KINDS)}", f"{where}kind")
    try:
        rule = _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise RuleError(*_describe(exc, where)) from None
    for field in ("summary", "description"):
        source = getattr(rule, field)
        if source is not None:
            try:
                check_template(source)
            except ValueError as exc:
                raise RuleError(f"{where}{field}: {exc}", f"{where}{field}") from None
    return rule


def _describe(exc: ValidationError, where: str) -> tuple[str, str]:
    first = exc.errors()[0]
    parts = [str(p) for p in first["loc"]]
    if parts and parts[0] in RULE_KINDS:
        parts = parts[1:]  # the union's tag: the kind is known to the reader
    location = ".".join("for" if p == "for_" else p for p in parts)
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "not a field of this rule kind"
    field = f"{where}{location}" if location else where.rstrip(".") or "rule"
    return f"{field}: {message}", field


def rule_document(rule: Any) -> dict[str, Any]:
    """The rule as JSON-ready data (durations as '5m'), without fields left at their defaults
    only where that keeps it readable; parse_rule(rule_document(r)) == r."""
    data: dict[str, Any] = rule.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data
