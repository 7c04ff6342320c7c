"""Inhibition with Alertmanager's semantics: equal labels (missing = empty), firing sources only,
and an alert matching both sides not muted by another such alert."""

from __future__ import annotations

from dataclasses import replace

import pytest

from syncmon.alerting.inhibition import DEFAULT_RULE, InhibitRule, inhibited_by
from syncmon.alerting.model import Alert, AlertState, Matcher
from syncmon.alerting.muting import MuteConfig, mute_reason
from tests.alerting.incident_support import alert

CRIT = alert("HighErrorRate", "critical")
WARN = alert("HighErrorRate", "warning")
INFO = alert("HighErrorRate", "info")
OTHER_NAME = alert("SlowPages", "warning")
OTHER_PROJECT = alert("HighErrorRate", "warning", project="shop")


@pytest.mark.parametrize(
    ("target", "firing", "muted"),
    [
        (WARN, [CRIT], True),
        (INFO, [CRIT], True),
        (CRIT, [CRIT], False),  # a critical is never a target of the default rule
        (WARN, [], False),
        (OTHER_NAME, [CRIT], False),  # another alertname
        (OTHER_PROJECT, [CRIT], False),  # another project
        (WARN, [replace(CRIT, state=AlertState.RESOLVED)], False),  # only firing sources mute
        (WARN, [WARN, INFO], False),  # lower severities mute nothing
    ],
    ids=[
        "warning",
        "info",
        "critical",
        "no-source",
        "other-name",
        "other-project",
        "resolved-source",
        "no-crit",
    ],
)
def test_default_rule(target: Alert, firing: list[Alert], muted: bool) -> None:
    found = inhibited_by(target, firing, [DEFAULT_RULE])
    assert (found is not None) is muted
    if found:
        assert found[1].fingerprint == CRIT.fingerprint


NODE_DOWN = InhibitRule(
    id=1,
    source=(Matcher("alertname", "NodeDown"),),
    target=(Matcher("alertname", "NodeDown", is_equal=False),),
    equal=("instance",),
)


@pytest.mark.parametrize(
    ("target_labels", "source_labels", "muted"),
    [
        ({"alertname": "DiskFull", "instance": "a"}, {"alertname": "NodeDown", "instance": "a"}, True),
        ({"alertname": "DiskFull", "instance": "b"}, {"alertname": "NodeDown", "instance": "a"}, False),
        # missing on both sides counts as equal (both empty)
        ({"alertname": "DiskFull"}, {"alertname": "NodeDown"}, True),
        # missing on one side only: not equal
        ({"alertname": "DiskFull"}, {"alertname": "NodeDown", "instance": "a"}, False),
    ],
)
def test_equal_labels(target_labels: dict[str, str], source_labels: dict[str, str], muted: bool) -> None:
    target = Alert(target_labels, {}, AlertState.FIRING, 0)
    source = Alert(source_labels, {}, AlertState.FIRING, 0)
    assert (inhibited_by(target, [source], [NODE_DOWN]) is not None) is muted


def test_alert_matching_both_sides_is_not_muted_by_another_such_alert() -> None:
    """Alertmanager: with source and target both `team=db`, two db alerts must not mute each other
    (which would leave neither notified); a source matching only the source side still mutes."""
    rule = InhibitRule(id=2, source=(Matcher("team", "db"),), target=(Matcher("team", "db"),), equal=())
    a = Alert({"alertname": "A", "team": "db"}, {}, AlertState.FIRING, 0)
    b = Alert({"alertname": "B", "team": "db"}, {}, AlertState.FIRING, 0)
    assert inhibited_by(a, [a, b], [rule]) is None
    assert inhibited_by(b, [a, b], [rule]) is None
    wide = InhibitRule(
        id=3, source=(Matcher("team", "db|ops", is_regex=True),), target=(Matcher("team", "db"),)
    )
    ops = Alert({"alertname": "O", "team": "ops"}, {}, AlertState.FIRING, 0)
    found = inhibited_by(a, [ops], [wide])
    assert found is not None and found[1].fingerprint == ops.fingerprint
    # no alert inhibits itself
    assert inhibited_by(ops, [ops], [InhibitRule(4, (Matcher("team", "ops"),), ())]) is None


def test_mute_reason_names_the_source() -> None:
    config = MuteConfig(inhibit_rules=[DEFAULT_RULE])
    assert mute_reason(WARN, 1, [CRIT, WARN], config, 0) == f"inhibited:{CRIT.fingerprint}"
    assert mute_reason(CRIT, 1, [CRIT, WARN], config, 0) is None
