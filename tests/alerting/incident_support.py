"""Helpers for the routing/silencing/escalation/incident tests: alerts, a recording outbox in a
real table, a transactor over the store, and a dispatcher harness driven by a ManualClock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from syncmon.alerting import incident_store
from syncmon.alerting.dispatcher import Dispatcher
from syncmon.alerting.model import Alert, AlertState, Transition
from syncmon.channels.base import Notification
from syncmon.clock import ManualClock
from syncmon.store import accounts
from syncmon.store.schema import escalation_policies, silences, user_contacts
from tests.support.live import LiveServer

T = TypeVar("T")
T0 = 1_767_225_600_000  # ManualClock's default start
PUBLIC_URL = "http://monitor.test"

_outbox_metadata = sa.MetaData()
test_outbox = sa.Table(
    "test_outbox",
    _outbox_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel_id", sa.Integer, nullable=False),
    sa.Column("recipient", sa.String(320), nullable=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("group_key", sa.String(200), nullable=False),
    sa.Column("incident_id", sa.Integer, nullable=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("fingerprints", sa.JSON, nullable=False),
    sa.Column("links", sa.JSON, nullable=False),
    sa.Column("now_ms", sa.BigInteger, nullable=False),
    sa.Column("cancelled", sa.Boolean, nullable=False, default=False),
)


@dataclass(frozen=True)
class Sent:
    """One recorded notification, compactly: what a test asserts."""

    channel_id: int
    recipient: str | None
    action: str
    incident_id: int | None
    fingerprints: tuple[str, ...]
    at_s: float  # seconds after T0
    links: dict[str, str]
    title: str
    group_key: str
    cancelled: bool


class RecordingOutbox:
    """A NotificationSink writing each notification into a real table, in the caller's
    transaction: what the transaction rolls back is not recorded."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        test_outbox.drop(engine, checkfirst=True)
        test_outbox.create(engine)
        self.refuse_channels: set[int] = set()

    def __call__(
        self,
        conn: Connection,
        *,
        channel_id: int,
        notification: Notification,
        now_ms: int,
        recipient: str | None = None,
    ) -> int:
        if channel_id in self.refuse_channels:
            raise ValueError(f"channel {channel_id} does not exist")
        result = conn.execute(
            test_outbox.insert().values(
                channel_id=channel_id,
                recipient=recipient,
                action=notification.action.value,
                group_key=notification.group_key,
                incident_id=notification.incident_id,
                title=notification.title,
                fingerprints=[a.fingerprint for a in notification.alerts],
                links=notification.links,
                now_ms=now_ms,
                cancelled=False,
            )
        )
        return int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0

    def cancel(self, conn: Connection, outbox_ids: Sequence[int]) -> int:
        """The outbox's cancel: every row here counts as not delivered yet."""
        result = conn.execute(
            test_outbox.update()
            .where(test_outbox.c.id.in_(list(outbox_ids)), sa.not_(test_outbox.c.cancelled))
            .values(cancelled=True)
        )
        return int(result.rowcount or 0)

    def sent(self) -> list[Sent]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(test_outbox).order_by(test_outbox.c.id)).all()
        return [
            Sent(
                r.channel_id,
                r.recipient,
                r.action,
                r.incident_id,
                tuple(r.fingerprints),
                (r.now_ms - T0) / 1000,
                dict(r.links),
                r.title,
                r.group_key,
                r.cancelled,
            )
            for r in rows
        ]

    def drop(self) -> None:
        test_outbox.drop(self.engine, checkfirst=True)


class EngineTransactor:
    """Runs each function in its own transaction on a worker thread (the Writer's contract)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def run(self, fn: Callable[[Connection], T]) -> T:
        def call() -> T:
            with self.engine.begin() as conn:
                return fn(conn)

        return await asyncio.to_thread(call)


def alert(
    name: str = "HighErrorRate",
    severity: str = "critical",
    *,
    project: str = "syncscript",
    state: AlertState = AlertState.FIRING,
    starts_ms: int = T0,
    **labels: str,
) -> Alert:
    return Alert(
        labels={"alertname": name, "severity": severity, "project": project, **labels},
        annotations={"summary": f"{name} is {severity}"},
        state=state,
        starts_ms=starts_ms,
        ends_ms=None if state is AlertState.FIRING else starts_ms,
    )


def firing(a: Alert, at_ms: int = T0) -> Transition:
    return Transition(
        Alert(a.labels, a.annotations, AlertState.FIRING, a.starts_ms), AlertState.PENDING, at_ms
    )


def resolved(a: Alert, at_ms: int = T0) -> Transition:
    done = Alert(a.labels, a.annotations, AlertState.RESOLVED, a.starts_ms, ends_ms=at_ms)
    return Transition(done, AlertState.FIRING, at_ms)


def add_policy(
    engine: Engine,
    levels: list[dict[str, Any]],
    *,
    repeat: int = 0,
    project_id: int | None = None,
    default: bool = True,
    name: str = "on-call",
) -> int:
    """An escalation policy straight into the store; levels as stored (timeout_ms, targets)."""
    with engine.begin() as conn:
        result = conn.execute(
            escalation_policies.insert().values(
                project_id=project_id,
                name=name,
                is_default=default,
                repeat=repeat,
                levels=levels,
                created_ms=T0,
                updated_ms=T0,
            )
        )
        return int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0


def add_user(engine: Engine, email: str, phone: str | None = None) -> int:
    with engine.begin() as conn:
        user_id = accounts.create_user(conn, email, "a-long-password", "viewer", T0)
        if phone:
            conn.execute(
                user_contacts.insert().values(user_id=user_id, kind="phone", value=phone, created_ms=T0)
            )
    return user_id


class Harness:
    """A dispatcher over a real store with a recording outbox and a manual clock; `restart()`
    throws the dispatcher away and builds a new one on the same store, as a process restart does."""

    def __init__(
        self, engine: Engine, clock: ManualClock | None = None, link_ttl_ms: int = 86_400_000
    ) -> None:
        self.engine = engine
        self.clock = clock or ManualClock(T0)
        self.outbox = RecordingOutbox(engine)
        self.wakes = 0
        self.link_ttl_ms = link_ttl_ms
        self.dispatcher = self._build()

    def _wake(self) -> None:
        self.wakes += 1

    def _build(self) -> Dispatcher:
        return Dispatcher(
            EngineTransactor(self.engine),
            self.clock,
            sink=self.outbox,
            wake=self._wake,
            public_url=PUBLIC_URL,
            link_ttl_ms=self.link_ttl_ms,
            cancel_pending=self.outbox.cancel,
        )

    def restart(self) -> None:
        self.dispatcher = self._build()

    async def handle(self, *transitions: Transition) -> None:
        await self.dispatcher.handle(list(transitions))

    async def at(self, seconds: float) -> None:
        """Move the clock to T0 + seconds and tick."""
        self.clock.ms = T0 + int(seconds * 1000)
        await self.dispatcher.tick()

    async def run_until(self, seconds: float, step: float = 1.0) -> None:
        """Tick every `step` seconds up to T0 + seconds (as the server's tick loop does)."""
        now = (self.clock.ms - T0) / 1000
        while now < seconds:
            now = min(seconds, now + step)
            await self.at(now)

    def sent(self) -> list[Sent]:
        return self.outbox.sent()

    def close(self) -> None:
        self.outbox.drop()


def add_silence(
    engine: Engine,
    matchers: list[dict[str, Any]],
    starts_ms: int,
    ends_ms: int,
    *,
    expire_on_resolve: bool = False,
    comment: str = "deploying",
) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            silences.insert().values(
                matchers=matchers,
                starts_ms=starts_ms,
                ends_ms=ends_ms,
                created_by="alice@example.com",
                comment=comment,
                expire_on_resolve=expire_on_resolve,
                matched_ms=None,
                expired_reason=None,
                expiry_announced=False,
                created_ms=T0,
                updated_ms=T0,
            )
        )
        return int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0


def timeline_kinds(engine: Engine, incident_id: int) -> list[str]:
    with engine.connect() as conn:
        return [e["kind"] for e in incident_store.timeline(conn, incident_id)]


@dataclass
class LiveAlerting:
    """The real server (manual clock, no background ticks) and a harness dispatcher on the same
    store sharing its recording outbox: the harness makes incidents, the server acts on them."""

    server: LiveServer
    harness: Harness

    def client(self) -> httpx.Client:
        return self.server.client()

    @property
    def clock(self) -> ManualClock:
        return self.harness.clock


@contextlib.contextmanager
def live_alerting(store: Any, tick_seconds: float = 3600.0) -> Iterator[LiveAlerting]:
    """By default the server's own tick loop waits an hour, so only the test moves things."""
    harness = Harness(store.engine)
    settings = store.settings_with(alerting_tick_seconds=tick_seconds)
    server = LiveServer(settings, store.engine, clock=harness.clock)
    server.services.dispatcher.notifier.sink = harness.outbox
    try:
        with server:
            yield LiveAlerting(server, harness)
    finally:
        harness.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
