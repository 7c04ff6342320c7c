"""Words every channel uses for a notification: its status label, headline and alert lines.

Kept in one place so Slack, email, SMS and apprise say the same thing the same way.
"""

from __future__ import annotations

from syncmon.alerting.model import Alert, AlertState, rfc3339
from syncmon.channels.base import Action, Notification

STATUS_LABELS = {
    Action.TRIGGER: "FIRING",
    Action.ACKNOWLEDGE: "ACKNOWLEDGED",
    Action.RESOLVE: "RESOLVED",
    Action.TEST: "TEST",
}
LINK_TITLES = {"acknowledge": "Acknowledge", "resolve": "Resolve", "incident": "Open incident"}
SUMMARY_KEYS = ("summary", "description", "message")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def status_label(notification: Notification) -> str:
    """FIRING:3 while alerts fire (with how many), otherwise the action's word."""
    label = STATUS_LABELS[notification.action]
    if notification.action is Action.TRIGGER:
        firing = sum(1 for alert in notification.alerts if alert.state is not AlertState.RESOLVED)
        if firing > 1:
            label = f"{label}:{firing}"
    return label


def headline(notification: Notification) -> str:
    """`[FIRING:2] High error rate (critical)` — the one line every channel leads with."""
    title = notification.title or notification.common_labels.get("alertname", "") or "Alert"
    return f"[{status_label(notification)}] {title} ({notification.severity.value})"


def alert_summary(alert: Alert) -> str:
    for key in SUMMARY_KEYS:
        if alert.annotations.get(key):
            return alert.annotations[key]
    return ""


def alert_line(alert: Alert, *, skip_labels: dict[str, str] | None = None) -> str:
    """`HighErrorRate [firing] route=/api since 2026-01-01T00:00:00.000Z — summary`."""
    skip = set(skip_labels or {}) | {"alertname"}
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in skip)
    state = "resolved" if alert.state is AlertState.RESOLVED else "firing"
    line = f"{alert.labels.get('alertname', 'alert')} [{state}]"
    if labels:
        line += f" {labels}"
    line += f" since {rfc3339(alert.starts_ms)}"
    summary = alert_summary(alert)
    return f"{line} — {summary}" if summary else line


def links(notification: Notification) -> list[tuple[str, str]]:
    """(title, url) pairs in a fixed order: acknowledge, resolve, incident, then any others."""
    order = [key for key in LINK_TITLES if key in notification.links]
    order += sorted(key for key in notification.links if key not in LINK_TITLES)
    return [
        (LINK_TITLES.get(key, key.replace("_", " ").capitalize()), notification.links[key]) for key in order
    ]


def plain_text(notification: Notification, *, max_alerts: int = 20) -> str:
    """The whole notification as plain text (email text part, apprise body)."""
    lines = [headline(notification)]
    if notification.text:
        lines += ["", notification.text]
    if notification.alerts:
        lines += ["", "Alerts:"]
        shown = notification.alerts[:max_alerts]
        lines += [f"- {alert_line(alert)}" for alert in shown]
        if len(notification.alerts) > len(shown):
            lines.append(f"- …and {len(notification.alerts) - len(shown)} more")
    if notification.links:
        lines += ["", *(f"{title}: {url}" for title, url in links(notification))]
    return "\n".join(lines)
