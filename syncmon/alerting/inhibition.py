"""Inhibition: a firing alert mutes other alerts it makes redundant.

Alertmanager's semantics: a rule has source matchers, target matchers and `equal`
labels. A target alert is muted while some firing source alert has the same values for
every `equal` label (a missing label counts as the empty string). An alert that matches
both the source and the target side cannot be muted by another alert that also matches
both sides, so two such alerts never mute each other (and no alert mutes itself).

The built-in rule: a CRITICAL mutes the WARNING and INFO alerts of the same alertname in
the same project.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncmon.alerting.model import Alert, AlertState, Matcher, matches_all


@dataclass(frozen=True, slots=True)
class InhibitRule:
    id: int
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()
    comment: str = ""

    def _equal(self, a: dict[str, str], b: dict[str, str]) -> bool:
        return all(a.get(name, "") == b.get(name, "") for name in self.equal)

    def inhibitor_of(self, target: Alert, firing: list[Alert]) -> Alert | None:
        """The firing source alert muting `target` under this rule, or None."""
        if not matches_all(self.target, target.labels):
            return None
        target_is_source = matches_all(self.source, target.labels)
        for source in firing:
            if source.state is not AlertState.FIRING or source.fingerprint == target.fingerprint:
                continue
            if not matches_all(self.source, source.labels):
                continue
            if target_is_source and matches_all(self.target, source.labels):
                continue
            if self._equal(source.labels, target.labels):
                return source
        return None


DEFAULT_RULE = InhibitRule(
    id=0,
    source=(Matcher("severity", "critical"),),
    target=(Matcher("severity", "warning|info", is_regex=True),),
    equal=("alertname", "project"),
    comment="a critical alert mutes the warning and info alerts of the same alertname and project",
)


def inhibited_by(
    target: Alert, firing: list[Alert], rules: list[InhibitRule]
) -> tuple[InhibitRule, Alert] | None:
    """The first rule and source alert muting `target`, or None."""
    for rule in rules:
        source = rule.inhibitor_of(target, firing)
        if source is not None:
            return rule, source
    return None
