"""Why an alert is muted right now: maintenance, a silence, or inhibition (first that applies).

The reason is a short string stored with the alert and shown in the API and timelines:
`maintenance:<id>`, `silence:<id>` or `inhibited:<fingerprint of the source alert>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from syncmon.alerting.inhibition import InhibitRule, inhibited_by
from syncmon.alerting.maintenance import MaintenanceWindow, in_maintenance
from syncmon.alerting.model import Alert
from syncmon.alerting.silences import Silence, silenced_by


@dataclass(frozen=True, slots=True)
class MuteConfig:
    silences: list[Silence] = field(default_factory=list)
    inhibit_rules: list[InhibitRule] = field(default_factory=list)
    maintenance: list[MaintenanceWindow] = field(default_factory=list)


def mute_reason(
    alert: Alert, project_id: int | None, firing: list[Alert], config: MuteConfig, now_ms: int
) -> str | None:
    window = in_maintenance(config.maintenance, project_id, alert.labels, now_ms)
    if window is not None:
        return f"maintenance:{window.id}"
    silence = silenced_by(config.silences, alert.labels, now_ms)
    if silence is not None:
        return f"silence:{silence.id}"
    found = inhibited_by(alert, firing, config.inhibit_rules)
    if found is not None:
        return f"inhibited:{found[1].fingerprint}"
    return None


def silence_id(reason: str | None) -> int | None:
    """The silence a reason names, if it names one."""
    if reason and reason.startswith("silence:"):
        return int(reason.removeprefix("silence:"))
    return None
