"""Heartbeat (dead man's switch): no event of a kind / name for `absent_for`.

The rule remembers when it last saw a matching event, per name with `group_by: [name]`
(one heartbeat per listed name) or for the selection as a whole. When no event was ever
seen the rule counts from its own creation, so a new rule for a job that never reported
fires once `absent_for` has passed, not at once; a job whose last event is older than
the rule counts from that event. After a restart the engine
tells the rule the latest matching event in the store (`seen`). The value is the number
of seconds since the last event.
"""

from __future__ import annotations

from syncmon.alerting.rules.base import RuleLogic, Sample, event_context
from syncmon.alerting.selectors import compile_selector, exact_names
from syncmon.alerting.spec import HeartbeatRule
from syncmon.events import Event


class HeartbeatLogic(RuleLogic):
    def __init__(self, rule: HeartbeatRule, created_ms: int) -> None:
        self.rule = rule
        self.kinds = frozenset({rule.select.kind.value})
        self.horizon_ms = rule.absent_for
        self._accepts = compile_selector(rule.select, rule.filter)
        self.names = exact_names(rule.select.names)
        self._by_name = bool(rule.group_by)
        keys = list(rule.select.names) if self._by_name else [""]
        self._created_ms = created_ms
        self._last: dict[str, int | None] = dict.fromkeys(keys)
        self._event: dict[str, Event] = {}

    def observe(self, event: Event) -> bool:
        if not self._accepts(event):
            return False
        self.seen(event.name if self._by_name else "", event.received_ms, event)
        return True

    def seen(self, name: str, at_ms: int, event: Event | None = None) -> None:
        if name not in self._last:
            return
        last = self._last[name]
        if last is None or at_ms >= last:
            self._last[name] = at_ms
            if event is not None:
                self._event[name] = event

    def samples(self, now_ms: int) -> list[Sample]:
        found = []
        for name, seen_ms in self._last.items():
            last_ms = seen_ms if seen_ms is not None else self._created_ms
            quiet_ms = max(0, now_ms - last_ms)
            absent = quiet_ms >= self.rule.absent_for
            labels = {"name": name} if self._by_name else {}
            event = self._event.get(name)
            context = event_context(event, last_seen_ms=last_ms)
            found.append(Sample(labels, quiet_ms / 1000, absent, absent, context))
        return found
