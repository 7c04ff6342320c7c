"""Notification ⇄ JSON, losslessly: the outbox stores what a channel will be given.

The stored form is plain JSON (a text column, so key order, NUL characters and every
float survive on both engines). Non-finite alert values, which JSON cannot spell, are
written as the strings "NaN", "Infinity" and "-Infinity".
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from syncmon.alerting.model import Alert, AlertState, Severity
from syncmon.channels.base import Action, Notification

FORMAT_VERSION = 1
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class CodecError(ValueError):
    """A stored notification cannot be read back (corrupt or from an unknown format)."""


def _value_to_json(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _value_from_json(raw: Any) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw not in _NON_FINITE:
            raise CodecError(f"alert value {raw[:20]!r} is not a number")
        return _NON_FINITE[raw]
    return float(raw)


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    return {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "state": alert.state.value,
        "starts_ms": alert.starts_ms,
        "ends_ms": alert.ends_ms,
        "value": _value_to_json(alert.value),
        "rule_id": alert.rule_id,
        "generator_url": alert.generator_url,
    }


def alert_from_dict(raw: dict[str, Any]) -> Alert:
    return Alert(
        labels={str(k): str(v) for k, v in raw["labels"].items()},
        annotations={str(k): str(v) for k, v in raw["annotations"].items()},
        state=AlertState(raw["state"]),
        starts_ms=int(raw["starts_ms"]),
        ends_ms=None if raw.get("ends_ms") is None else int(raw["ends_ms"]),
        value=_value_from_json(raw.get("value")),
        rule_id=None if raw.get("rule_id") is None else int(raw["rule_id"]),
        generator_url=str(raw.get("generator_url", "")),
    )


def notification_to_dict(notification: Notification) -> dict[str, Any]:
    return {
        "v": FORMAT_VERSION,
        "group_key": notification.group_key,
        "action": notification.action.value,
        "severity": notification.severity.value,
        "title": notification.title,
        "text": notification.text,
        "alerts": [alert_to_dict(alert) for alert in notification.alerts],
        "group_labels": notification.group_labels,
        "common_labels": notification.common_labels,
        "common_annotations": notification.common_annotations,
        "receiver": notification.receiver,
        "incident_id": notification.incident_id,
        "links": notification.links,
        "external_url": notification.external_url,
    }


def notification_from_dict(raw: dict[str, Any]) -> Notification:
    if raw.get("v") != FORMAT_VERSION:
        raise CodecError(f"notification format {raw.get('v')!r} is not {FORMAT_VERSION}")
    return Notification(
        group_key=str(raw["group_key"]),
        action=Action(raw["action"]),
        severity=Severity(raw["severity"]),
        title=str(raw["title"]),
        text=str(raw["text"]),
        alerts=tuple(alert_from_dict(item) for item in raw["alerts"]),
        group_labels=dict(raw["group_labels"]),
        common_labels=dict(raw["common_labels"]),
        common_annotations=dict(raw["common_annotations"]),
        receiver=str(raw["receiver"]),
        incident_id=None if raw.get("incident_id") is None else int(raw["incident_id"]),
        links=dict(raw["links"]),
        external_url=str(raw["external_url"]),
    )


def dumps(notification: Notification) -> str:
    return orjson.dumps(notification_to_dict(notification)).decode()


def loads(text: str) -> Notification:
    try:
        return notification_from_dict(orjson.loads(text))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, CodecError):
            raise
        raise CodecError(f"stored notification cannot be read: {exc}") from None
