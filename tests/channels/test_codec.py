"""Notifications survive the outbox's JSON exactly, on both engines."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from syncmon.alerting.model import Alert, AlertState, Severity
from syncmon.channels import codec, outbox
from syncmon.channels.base import Action, Notification
from syncmon.store.schema import outbox as outbox_table
from tests.channels.support import T0, add_channel, notification
from tests.conftest import Store

text = st.text(max_size=30)
labels = st.dictionaries(text, text, max_size=4)
alerts = st.builds(
    Alert,
    labels=labels,
    annotations=labels,
    state=st.sampled_from(AlertState),
    starts_ms=st.integers(0, 2**53),
    ends_ms=st.none() | st.integers(0, 2**53),
    value=st.none() | st.floats(allow_nan=False),
    rule_id=st.none() | st.integers(-(2**62), 2**62),
    generator_url=text,
)
notifications = st.builds(
    Notification,
    group_key=text,
    action=st.sampled_from(Action),
    severity=st.sampled_from(Severity),
    title=text,
    text=text,
    alerts=st.lists(alerts, max_size=3).map(tuple),
    group_labels=labels,
    common_labels=labels,
    common_annotations=labels,
    receiver=text,
    incident_id=st.none() | st.integers(0, 2**62),
    links=labels,
    external_url=text,
)


@settings(max_examples=300)
@given(notifications)
def test_round_trip(item: Notification) -> None:
    assert codec.loads(codec.dumps(item)) == item


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_non_finite_values(value: float) -> None:
    item = notification(alerts=(Alert({"a": "1"}, {}, AlertState.FIRING, T0, value=value),))
    assert codec.loads(codec.dumps(item)).alerts[0].value == value
    nan = notification(alerts=(Alert({"a": "1"}, {}, AlertState.FIRING, T0, value=math.nan),))
    restored = codec.loads(codec.dumps(nan)).alerts[0].value
    assert restored is not None and math.isnan(restored)


def test_unreadable_rows_are_reported() -> None:
    with pytest.raises(codec.CodecError, match="format"):
        codec.loads('{"v": 99}')
    with pytest.raises(codec.CodecError, match="cannot be read"):
        codec.loads("{not json")


def test_stored_and_read_back_on_each_engine(store: Store) -> None:
    channel = add_channel(store.engine, "webhook", {"url": "https://example.com/hook"})
    odd = Notification(
        group_key='{}:{alertname="A\u0000B"}',
        action=Action.TRIGGER,
        severity=Severity.WARNING,
        title="ünïcödé ✓ \U0001f525",
        text='line\nbreak\ttab \\ "quotes"',
        alerts=(Alert({"z": "1", "a": "\u0000"}, {}, AlertState.FIRING, T0, value=0.1 + 0.2),),
        common_labels={"b": "2", "a": "1"},
    )
    with store.engine.begin() as conn:
        row_id = outbox.enqueue(conn, channel_id=channel, notification=odd, now_ms=T0)
    with store.engine.connect() as conn:
        stored = conn.execute(
            sa.select(outbox_table.c.notification).where(outbox_table.c.id == row_id)
        ).scalar()
    restored = codec.loads(stored)
    assert restored == odd
    assert list(restored.alerts[0].labels) == ["z", "a"]  # order kept too
