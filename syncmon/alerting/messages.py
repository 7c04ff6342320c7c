"""The Notification a group or incident sends: title, text, labels in common, links.

Pure: the same group, action and alerts give the same message, whoever receives it (only
the signed links differ between recipients).
"""

from __future__ import annotations

from collections.abc import Sequence

from syncmon.alerting.model import Alert, AlertState, Severity
from syncmon.channels.base import Action, Notification

MAX_LISTED = 20


def common_labels(alerts: Sequence[Alert]) -> dict[str, str]:
    if not alerts:
        return {}
    first = alerts[0].labels
    return {k: v for k, v in first.items() if all(a.labels.get(k) == v for a in alerts[1:])}


def common_annotations(alerts: Sequence[Alert]) -> dict[str, str]:
    if not alerts:
        return {}
    first = alerts[0].annotations
    return {k: v for k, v in first.items() if all(a.annotations.get(k) == v for a in alerts[1:])}


def highest_severity(alerts: Sequence[Alert]) -> Severity:
    return max((a.severity for a in alerts), key=lambda s: s.rank, default=Severity.WARNING)


def subject(group_labels: dict[str, str], alerts: Sequence[Alert]) -> str:
    """What the group is about: its alertname and project when they are common, else its labels."""
    shared = common_labels(alerts) if alerts else group_labels
    name = shared.get("alertname") or group_labels.get("alertname")
    project = shared.get("project") or group_labels.get("project")
    if name:
        return f"{name} ({project})" if project else name
    shown = ", ".join(f"{k}={v}" for k, v in sorted(group_labels.items()) if v)
    return shown or "alerts"


def _line(alert: Alert) -> str:
    state = "RESOLVED" if alert.state is AlertState.RESOLVED else alert.severity.value.upper()
    summary = alert.annotations.get("summary") or alert.labels.get("alertname", "alert")
    extra = alert.annotations.get("description", "")
    labels = ", ".join(
        f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in ("alertname", "severity")
    )
    text = f"- [{state}] {summary}"
    if extra:
        text += f" — {extra}"
    return f"{text} ({labels})" if labels else text


def incident_key(group_key: str, incident_id: int) -> str:
    """The key channels dedup and thread on (PagerDuty's dedup_key): one per incident, so a late
    RESOLVE of an old incident can never close the next incident of the same group."""
    return f"{group_key}/{incident_id}"


def build(
    *,
    group_key: str,
    action: Action,
    firing: Sequence[Alert],
    resolved: Sequence[Alert],
    group_labels: dict[str, str],
    receiver: str,
    incident_id: int,
    actor: str | None = None,
    links: dict[str, str] | None = None,
    external_url: str = "",
) -> Notification:
    alerts = [*firing, *resolved]
    about = subject(group_labels, alerts)
    if action is Action.TRIGGER:
        head = f"[FIRING:{len(firing)}] {about}"
    elif action is Action.ACKNOWLEDGE:
        head = f"[ACKNOWLEDGED] {about}"
    else:
        head = f"[RESOLVED] {about}"
    title = f"{head} — incident #{incident_id}"
    lines: list[str] = []
    if action is Action.ACKNOWLEDGE and actor:
        lines.append(f"Acknowledged by {actor}.")
    if action is Action.RESOLVE and actor and actor != "system":
        lines.append(f"Resolved by {actor}.")
    if firing:
        lines.append(f"Firing ({len(firing)}):")
        lines.extend(_line(a) for a in firing[:MAX_LISTED])
        if len(firing) > MAX_LISTED:
            lines.append(f"… and {len(firing) - MAX_LISTED} more")
    if resolved:
        lines.append(f"Resolved ({len(resolved)}):")
        lines.extend(_line(a) for a in resolved[:MAX_LISTED])
        if len(resolved) > MAX_LISTED:
            lines.append(f"… and {len(resolved) - MAX_LISTED} more")
    return Notification(
        group_key=incident_key(group_key, incident_id),
        action=action,
        severity=highest_severity(firing or resolved),
        title=title,
        text="\n".join(lines),
        alerts=tuple(alerts),
        group_labels=dict(group_labels),
        common_labels=common_labels(alerts),
        common_annotations=common_annotations(alerts),
        receiver=receiver,
        incident_id=incident_id,
        links=dict(links or {}),
        external_url=external_url,
    )
