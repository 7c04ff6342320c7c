"""What alerting puts into a Notification, as the channels then render it: the status word and the
alerts appear once each (the channels add the headline's status and list the alerts themselves)."""

from __future__ import annotations

from syncmon.alerting.messages import build
from syncmon.alerting.model import AlertState
from syncmon.channels.base import Action
from syncmon.channels.render import headline, plain_text
from tests.alerting.incident_support import alert

GROUP = {"alertname": "HighErrorRate", "project": "syncscript"}


def test_a_trigger_says_firing_once_and_lists_each_alert_once() -> None:
    cart, pay = alert(route="/api/cart"), alert(route="/api/pay")
    notification = build(
        group_key="{}:{}",
        action=Action.TRIGGER,
        firing=[cart, pay],
        resolved=[],
        group_labels=GROUP,
        receiver="web on-call",
        incident_id=7,
        links={
            "acknowledge": "http://monitor.test/alerting/act/a",
            "resolve": "http://monitor.test/alerting/act/r",
        },
    )
    assert notification.title == "HighErrorRate (syncscript) — incident #7"
    assert headline(notification) == "[FIRING:2] HighErrorRate (syncscript) — incident #7 (critical)"
    text = plain_text(notification)
    assert text.count("FIRING") == 1
    assert text.count("route=/api/cart") == 1 and text.count("route=/api/pay") == 1
    assert "Acknowledge: http://monitor.test/alerting/act/a" in text.splitlines()


def test_acknowledge_and_resolve_say_who() -> None:
    firing = alert()
    done = alert(state=AlertState.RESOLVED)
    common = {"group_key": "{}:{}", "group_labels": GROUP, "receiver": "ops", "incident_id": 7}
    ack = build(action=Action.ACKNOWLEDGE, firing=[firing], resolved=[], actor="alice@example.com", **common)
    assert (headline(ack), ack.text) == (
        "[ACKNOWLEDGED] HighErrorRate (syncscript) — incident #7 (critical)",
        "Acknowledged by alice@example.com.",
    )
    manual = build(action=Action.RESOLVE, firing=[], resolved=[done], actor="bob@example.com", **common)
    assert (headline(manual), manual.text) == (
        "[RESOLVED] HighErrorRate (syncscript) — incident #7 (critical)",
        "Resolved by bob@example.com.",
    )
    by_itself = build(action=Action.RESOLVE, firing=[], resolved=[done], actor="system", **common)
    assert by_itself.text == ""
