"""Where an alert of a rule would go, and a test notification sent the same way.

The alert's labels are the ones the evaluator gives every alert of the rule; the routes
and escalation policies they take come from the same code as `POST /api/v1/routes/test`
(`escalation_api.routes_taken`), and user targets resolve to addresses as the notifier
resolves them when it pages. A test goes to every reachable target of those policies,
each channel (and address) once, as `POST /api/v1/channels/<id>/test` would queue it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from syncmon.alerting.escalation import Policy
from syncmon.alerting.evaluator import rule_labels
from syncmon.alerting.notifier import Unreachable, resolve_targets
from syncmon.alerting.rule_store import StoredRule
from syncmon.channels import channel_store
from syncmon.channels.outbox import OutboxError
from syncmon.channels.registry import ChannelConfigError
from syncmon.store import accounts
from syncmon.web.channel_changes import enqueue_test
from syncmon.web.escalation_api import routes_taken


@dataclass(frozen=True, slots=True)
class TargetView:
    channel_id: int
    channel: str  # its name, or "channel 7" for one that no longer exists
    kind: str
    enabled: bool
    user_id: int | None = None
    contact: str | None = None
    address: str | None = None  # the email address or phone number a user is reached at
    problem: str | None = None  # why this target cannot be reached

    @property
    def key(self) -> tuple[int, str | None]:
        return self.channel_id, self.address


@dataclass(frozen=True, slots=True)
class LevelView:
    number: int
    timeout_seconds: int
    targets: tuple[TargetView, ...]


@dataclass(frozen=True, slots=True)
class RouteView:
    route_id: int
    receiver: str
    group_by: tuple[str, ...]
    policy_id: int | None
    policy: str | None
    repeat: int
    levels: tuple[LevelView, ...]


@dataclass(frozen=True, slots=True)
class RoutingView:
    labels: dict[str, str]
    routes: tuple[RouteView, ...]

    def reachable(self) -> list[TargetView]:
        """Every target a test goes to: reachable, each channel and address once, in order."""
        seen: dict[tuple[int, str | None], TargetView] = {}
        for found in self.routes:
            for level in found.levels:
                for target in level.targets:
                    if target.problem is None:
                        seen.setdefault(target.key, target)
        return list(seen.values())


def _levels(
    conn: Connection, policy: Policy, channels: dict[int, channel_store.ChannelRow]
) -> list[LevelView]:
    levels = []
    for number, level in enumerate(policy.levels, start=1):
        targets = []
        for target, resolved in zip(level.targets, resolve_targets(conn, level.targets), strict=True):
            channel = channels.get(target.channel_id)
            problem = resolved.reason if isinstance(resolved, Unreachable) else None
            if channel is None:
                problem = f"channel {target.channel_id} no longer exists"
            targets.append(
                TargetView(
                    channel_id=target.channel_id,
                    channel=channel.name if channel else f"channel {target.channel_id}",
                    kind=channel.kind if channel else "",
                    enabled=channel.enabled if channel else False,
                    user_id=target.user_id,
                    contact=target.contact.value if target.user_id is not None else None,
                    address=None if isinstance(resolved, Unreachable) else resolved.address,
                    problem=problem,
                )
            )
        levels.append(LevelView(number, level.timeout_ms // 1000, tuple(targets)))
    return levels


def routing_of(conn: Connection, rule: StoredRule, now: int) -> RoutingView:
    labels = rule_labels(rule)
    channels = {c.id: c for c in channel_store.list_channels(conn)}
    routes = []
    for match, policy in routes_taken(conn, labels, now):
        routes.append(
            RouteView(
                route_id=match.route_id,
                receiver=match.receiver,
                group_by=match.group_by,
                policy_id=policy.id if policy else None,
                policy=policy.name if policy else None,
                repeat=policy.repeat if policy else 0,
                levels=tuple(_levels(conn, policy, channels)) if policy else (),
            )
        )
    return RoutingView(labels, tuple(routes))


@dataclass(frozen=True, slots=True)
class SentTest:
    target: TargetView
    outbox_id: int | None
    problem: str | None = None


def send_tests(
    conn: Connection, rule: StoredRule, actor: str, now: int, public_url: str
) -> tuple[RoutingView, list[SentTest]]:
    """Queue one test notification per reachable target of the rule's routes, each in a
    savepoint (a channel the outbox refuses is reported, the others still go), with an
    audit row for the rule besides each channel's own. Nothing reachable: nothing written."""
    routing = routing_of(conn, rule, now)
    sent: list[SentTest] = []
    if not routing.reachable():
        return routing, sent
    purpose = f"to check where alerts of rule {rule.name!r} ({rule.spec.severity.value}, {rule.project}) go"
    for target in routing.reachable():
        try:
            with conn.begin_nested():
                outbox_id = enqueue_test(
                    conn,
                    target.channel_id,
                    actor,
                    now,
                    public_url,
                    target.address,
                    title=f"Test notification for alert rule {rule.name}",
                    purpose=purpose,
                )
            sent.append(SentTest(target, outbox_id))
        except (OutboxError, ChannelConfigError, channel_store.ChannelNotFound) as exc:
            sent.append(SentTest(target, None, str(exc)))
    accounts.record_audit(
        conn,
        now,
        actor,
        "alert_rule.test",
        str(rule.id),
        {"outbox_ids": [s.outbox_id for s in sent if s.outbox_id is not None]},
    )
    return routing, sent
