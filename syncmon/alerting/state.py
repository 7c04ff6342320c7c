"""The life of one alert: inactive → pending → firing → resolved, as a pure function.

`advance(record, condition, now, for, keep_firing_for)` is the whole state machine:

- condition true, alert not active: pending (active since now), or firing at once when
  the rule has no `for`;
- pending and still true: firing once `for` has passed since it became active;
- pending and false: inactive again (dropped, never notified), like Prometheus;
- firing and false: resolved, unless the condition was last true less than
  `keep_firing_for` ago (it then stays firing: gaps in the data and brief dips do not
  resolve and re-page);
- resolved and true again: a new alert (pending or firing, starting now).

Flap damping is `keep_firing_for` plus hysteresis: the engine asks an active alert to keep
meeting the rule's `resolve_threshold` (for `> 10`, e.g. `resolve_threshold: 8`) instead
of the threshold that fired it, so a value hovering at the threshold neither resolves nor
re-fires. Both are explicit in the rule and visible in its history; a flap counter would
instead silence an alert by how often it changed, which hides real recoveries.

Resolved alerts are kept `RESOLVED_RETENTION_MS` (as Prometheus keeps them 15 minutes) so
the API shows what just ended, then forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from syncmon.alerting.model import Alert, AlertState

RESOLVED_RETENTION_MS = 15 * 60_000
ACTIVE = (AlertState.PENDING, AlertState.FIRING)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert's state as persisted (table alert_states)."""

    rule_id: int
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    active_since_ms: int
    fired_ms: int | None = None
    last_true_ms: int | None = None
    resolved_ms: int | None = None
    value: float | None = None
    last_eval_ms: int = 0

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def key(self) -> tuple[int, str]:
        return self.rule_id, self.fingerprint

    def as_alert(self, generator_url: str = "") -> Alert:
        """The model's Alert: starts when it fired (pending: when it became active)."""
        starts = self.fired_ms if self.fired_ms is not None else self.active_since_ms
        ends = self.resolved_ms if self.state is AlertState.RESOLVED else None
        return Alert(
            labels=dict(self.labels),
            annotations=dict(self.annotations),
            state=self.state,
            starts_ms=starts,
            ends_ms=ends,
            value=self.value,
            rule_id=self.rule_id,
            generator_url=generator_url,
        )


def advance(
    record: AlertRecord | None,
    condition: bool,
    now_ms: int,
    for_ms: int,
    keep_firing_for_ms: int,
    *,
    rule_id: int = 0,
    fingerprint: str = "",
    labels: dict[str, str] | None = None,
    value: float | None = None,
) -> tuple[AlertRecord | None, AlertState | None]:
    """(the record after this evaluation, the previous state when the state changed)."""
    if condition:
        if record is None or not record.active:
            state = AlertState.FIRING if for_ms <= 0 else AlertState.PENDING
            fresh = AlertRecord(
                rule_id=record.rule_id if record else rule_id,
                fingerprint=record.fingerprint if record else fingerprint,
                labels=dict(labels if labels is not None else record.labels if record else {}),
                annotations=dict(record.annotations) if record else {},
                state=state,
                active_since_ms=now_ms,
                fired_ms=now_ms if state is AlertState.FIRING else None,
                last_true_ms=now_ms,
                value=value,
                last_eval_ms=now_ms,
            )
            return fresh, record.state if record else AlertState.INACTIVE
        if record.state is AlertState.PENDING and now_ms - record.active_since_ms >= for_ms:
            fired = replace(
                record,
                state=AlertState.FIRING,
                fired_ms=now_ms,
                last_true_ms=now_ms,
                value=value,
                last_eval_ms=now_ms,
            )
            return fired, AlertState.PENDING
        return _evaluated(record, now_ms, value, still_true=True), None
    if record is None:
        return None, None
    if record.state is AlertState.PENDING:
        return replace(
            record, state=AlertState.INACTIVE, value=value, last_eval_ms=now_ms
        ), AlertState.PENDING
    if record.state is AlertState.FIRING:
        last_true = record.last_true_ms if record.last_true_ms is not None else record.active_since_ms
        if keep_firing_for_ms > 0 and now_ms - last_true < keep_firing_for_ms:
            return _evaluated(record, now_ms, value, still_true=False), None
        resolved = replace(
            record, state=AlertState.RESOLVED, resolved_ms=now_ms, value=value, last_eval_ms=now_ms
        )
        return resolved, AlertState.FIRING
    return record, None


def _evaluated(record: AlertRecord, now_ms: int, value: float | None, *, still_true: bool) -> AlertRecord:
    """The record after an evaluation that changed no state (the hot path: built directly,
    `dataclasses.replace` costs several times more)."""
    return AlertRecord(
        record.rule_id,
        record.fingerprint,
        record.labels,
        record.annotations,
        record.state,
        record.active_since_ms,
        record.fired_ms,
        now_ms if still_true else record.last_true_ms,
        record.resolved_ms,
        value,
        now_ms,
    )


def expired(record: AlertRecord, now_ms: int) -> bool:
    """A resolved alert past its retention, or an inactive one: nothing left to keep."""
    if record.state is AlertState.INACTIVE:
        return True
    return (
        record.state is AlertState.RESOLVED
        and record.resolved_ms is not None
        and now_ms - record.resolved_ms >= RESOLVED_RETENTION_MS
    )
