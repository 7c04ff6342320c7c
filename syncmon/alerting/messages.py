"""The Notification a group or incident sends: title, text, labels in common, links.

Pure: the same group, action and alerts give the same message, whoever receives it (only
the signed links differ between recipients).
"""

from __future__ import annotations

from collections.abc import Sequence

from syncmon.alerting.model import Alert, Severity
from syncmon.channels.base import Action, Notification


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
    # No status word here: every channel leads with its own headline, "[FIRING:2] <title>
    # (critical)" (syncmon.channels.render), so a title that carried one would say it twice.
    title = f"{about} — incident #{incident_id}"
    # The text says only what the alerts cannot: who acknowledged or resolved. Every channel
    # lists the alerts itself (and the webhook sends them as data), so a text repeating them
    # would show each alert twice.
    lines: list[str] = []
    if action is Action.ACKNOWLEDGE and actor:
        lines.append(f"Acknowledged by {actor}.")
    if action is Action.RESOLVE and actor and actor != "system":
        lines.append(f"Resolved by {actor}.")
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
