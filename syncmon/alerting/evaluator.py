"""The alerting core without I/O: rules, their windows, and the state of every alert.

`observe` gives committed events (and `observe_detections` new detections) to the rules of
their project that read their kind, and returns which rules took something; `evaluate`
asks those rules (or all, on a tick) for their samples, runs each series through the
state machine (`state.advance`) and returns the transitions. Everything the engine must
persist is collected for `take_changes`. The engine (engine.py) adds the feed, the clock,
the store and the hand-over to routing around it; tests drive this core directly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from syncmon.alerting.model import AlertState, Transition, fingerprint
from syncmon.alerting.rule_store import StoredRule
from syncmon.alerting.rules.base import MAX_SERIES, Context, RemovedRule, RuleLogic, Sample
from syncmon.alerting.rules.build import build_logic
from syncmon.alerting.spec import format_duration
from syncmon.alerting.state import AlertRecord, advance, expired
from syncmon.alerting.templates import DEFAULT_SUMMARY, render
from syncmon.events import Event, Kind
from syncmon.metrics.sketch_rollups import metric_name, route_name
from syncmon.security.detection import Detection

log = logging.getLogger(__name__)
COALESCE_MS = 1000  # batch evaluations of a non-immediate rule are at least this far apart


@dataclass(slots=True)
class Dispatch:
    """The rules of one (project, kind): those that read any event, and those that read
    only some names or one request route (most per-route and per-name rules)."""

    any: list[CompiledRule] = field(default_factory=list)
    by_name: dict[str, list[CompiledRule]] = field(default_factory=dict)
    by_route: dict[str, list[CompiledRule]] = field(default_factory=dict)

    def add(self, compiled: CompiledRule, kind: str) -> None:
        logic = compiled.logic
        if logic.names is not None:
            for name in logic.names:
                key = metric_name(name) if kind == Kind.PERFORMANCE else name
                self.by_name.setdefault(key, []).append(compiled)
        elif logic.route is not None:
            self.by_route.setdefault(logic.route, []).append(compiled)
        else:
            self.any.append(compiled)


def name_key(event: Event) -> str:
    """An event's name as rules index it: metrics by their canonical name."""
    return metric_name(event.name) if event.kind == Kind.PERFORMANCE else event.name


@dataclass(slots=True)
class CompiledRule:
    rule: StoredRule
    logic: RuleLogic
    signature: bytes
    base_labels: dict[str, str]
    records: dict[str, AlertRecord] = field(default_factory=dict)
    contexts: dict[str, Context] = field(default_factory=dict)
    identities: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], str]] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.rule.id

    def identity(self, series: dict[str, str]) -> tuple[dict[str, str], str]:
        """(labels, fingerprint) of one series, hashed once and remembered."""
        key = tuple(series.items())
        found = self.identities.get(key)
        if found is None:
            labels = {**self.base_labels, **series}
            found = (labels, fingerprint(labels))
            if len(self.identities) < 4 * MAX_SERIES:
                self.identities[key] = found
        return found


def rule_labels(rule: StoredRule) -> dict[str, str]:
    """The labels every alert of the rule has (its series add theirs, such as `route`)."""
    spec = rule.spec
    return {
        "alertname": spec.name,
        "severity": spec.severity.value,
        "project": rule.project,
        "rule_id": str(rule.id),
        **spec.labels,
    }


def compile_rule(rule: StoredRule) -> CompiledRule:
    return CompiledRule(rule, build_logic(rule.spec, rule.created_ms), rule.signature(), rule_labels(rule))


class Evaluator:
    def __init__(self, generator_url: str = "") -> None:
        self._generator_url = generator_url  # a format string with {rule_id}
        self._rules: dict[int, CompiledRule] = {}
        self._by_input: dict[tuple[int, str], Dispatch] = {}
        self._by_detection: dict[int, list[CompiledRule]] = {}
        self._changed: dict[tuple[int, str], AlertRecord] = {}  # state changes: persist now
        self._dirty: set[tuple[int, str]] = set()  # value updates: persist on the tick
        self._gone: set[tuple[int, str]] = set()
        self._projects: dict[int, int] = {}  # rule id → project id, also of rules since removed
        self._batch_evaluated: dict[int, int] = {}  # rule id → when a batch last evaluated it
        self.deferred: set[int] = set()  # touched by a batch, waiting for their next evaluation
        self.last_seq = 0

    # --- rules -------------------------------------------------------------------------

    @property
    def rules(self) -> dict[int, CompiledRule]:
        return self._rules

    def set_rules(self, rules: Sequence[StoredRule], now_ms: int) -> tuple[list[int], list[Transition]]:
        """Install the enabled rules. Unchanged rules keep their windows and alerts; new or
        changed ones start empty (returned, for the engine to seed); alerts of rules that
        are gone or disabled are resolved (returned as transitions)."""
        installed: dict[int, CompiledRule] = {}
        fresh: list[int] = []
        for rule in rules:
            self._projects[rule.id] = rule.project_id
            if not rule.enabled:
                continue
            old = self._rules.get(rule.id)
            signature = rule.signature()
            if old is not None and old.signature == signature:
                installed[rule.id] = old
                continue
            try:
                compiled = compile_rule(rule)
            except Exception:
                log.exception("alert rule %s (%s) cannot be evaluated; skipped", rule.id, rule.name)
                continue
            if old is not None:
                compiled.records, compiled.contexts = old.records, old.contexts
            installed[rule.id] = compiled
            fresh.append(rule.id)
        transitions: list[Transition] = []
        for rule_id in set(self._rules) - set(installed):
            transitions.extend(self._retire(self._rules[rule_id], now_ms))
        self._rules = installed
        self._index()
        return fresh, transitions

    def _index(self) -> None:
        self._by_input = {}
        self._by_detection = {}
        for compiled in self._rules.values():
            for kind in compiled.logic.kinds:
                self._by_input.setdefault((compiled.rule.project_id, kind), Dispatch()).add(compiled, kind)
            if compiled.logic.reads_detections:
                self._by_detection.setdefault(compiled.rule.project_id, []).append(compiled)

    def _retire(self, compiled: CompiledRule, now_ms: int) -> list[Transition]:
        transitions = []
        for fp, record in list(compiled.records.items()):
            if record.state is AlertState.FIRING:
                transitions.append(
                    self._set(
                        compiled,
                        fp,
                        replace(record, state=AlertState.RESOLVED, resolved_ms=now_ms),
                        AlertState.FIRING,
                        now_ms,
                    )
                )
            elif record.state is AlertState.PENDING:
                transitions.append(
                    self._set(
                        compiled, fp, replace(record, state=AlertState.INACTIVE), AlertState.PENDING, now_ms
                    )
                )
            self._gone.add(record.key)
            self._changed.pop(record.key, None)
        return transitions

    def restore(self, records: Iterable[AlertRecord], now_ms: int) -> list[Transition]:
        """Alert states read back from the store after a restart. Those of rules that no
        longer exist are resolved (returned)."""
        orphans: dict[int, CompiledRule] = {}
        for record in records:
            compiled = self._rules.get(record.rule_id)
            if compiled is None:
                orphan = orphans.get(record.rule_id)
                if orphan is None:
                    orphan = orphans[record.rule_id] = CompiledRule(
                        StoredRule(record.rule_id, 0, "", "", None, None, 0, 0), RemovedRule(), b"", {}
                    )
                orphan.records[record.fingerprint] = record
                continue
            compiled.records[record.fingerprint] = record
        transitions: list[Transition] = []
        for orphan in orphans.values():
            transitions.extend(self._retire(orphan, now_ms))
        return transitions

    # --- input -----------------------------------------------------------------------------

    def observe(self, events: Iterable[Event]) -> set[int]:
        touched: set[int] = set()
        routes = self._by_input
        for event in events:
            if event.seq is not None and event.seq > self.last_seq:
                self.last_seq = event.seq
            dispatch = routes.get((event.project_id, event.kind))
            if dispatch is None:
                continue
            for compiled in dispatch.any:
                if compiled.logic.observe(event):
                    touched.add(compiled.rule.id)
            if dispatch.by_name:
                for compiled in dispatch.by_name.get(name_key(event), ()):
                    if compiled.logic.observe(event):
                        touched.add(compiled.rule.id)
            if dispatch.by_route and event.kind == Kind.REQUEST:
                for compiled in dispatch.by_route.get(route_name(event.name), ()):
                    if compiled.logic.observe(event):
                        touched.add(compiled.rule.id)
        return touched

    def observe_for(self, rule_ids: set[int], events: Iterable[Event]) -> None:
        """Events for some rules only (seeding new rules from the store)."""
        for event in events:
            for rule_id in rule_ids:
                compiled = self._rules.get(rule_id)
                if (
                    compiled is not None
                    and event.project_id == compiled.rule.project_id
                    and event.kind in compiled.logic.kinds
                ):
                    compiled.logic.observe(event)

    def observe_detections(
        self, detections: Iterable[Detection], rule_ids: set[int] | None = None
    ) -> set[int]:
        touched: set[int] = set()
        for detection in detections:
            for compiled in self._by_detection.get(detection.project_id, ()):
                if rule_ids is not None and compiled.rule.id not in rule_ids:
                    continue
                if compiled.logic.observe_detection(detection):
                    touched.add(compiled.rule.id)
        return touched

    # --- evaluation ------------------------------------------------------------------------

    def evaluate_batch(self, now_ms: int, touched: Iterable[int]) -> list[Transition]:
        """The rules a batch touched: immediate ones now (a count crossing its threshold fires
        in the batch that crossed it); the others now unless a batch evaluated them less than
        COALESCE_MS ago, else they wait in `deferred` (the engine evaluates those a moment
        later), so a stream of small batches costs them one evaluation a second, not one
        a batch."""
        ready: list[int] = []
        for rule_id in touched:
            compiled = self._rules.get(rule_id)
            if compiled is None:
                continue
            if not compiled.logic.immediate:
                last = self._batch_evaluated.get(rule_id)
                if last is not None and now_ms - last < COALESCE_MS:
                    self.deferred.add(rule_id)
                    continue
                self._batch_evaluated[rule_id] = now_ms
                self.deferred.discard(rule_id)
            ready.append(rule_id)
        return self.evaluate(now_ms, ready)

    def evaluate_deferred(self, now_ms: int) -> list[Transition]:
        ids, self.deferred = self.deferred, set()
        for rule_id in ids:
            self._batch_evaluated[rule_id] = now_ms
        return self.evaluate(now_ms, ids)

    def evaluate(self, now_ms: int, rule_ids: Iterable[int] | None = None) -> list[Transition]:
        if rule_ids is None:
            self.deferred.clear()  # every rule is evaluated now
        transitions: list[Transition] = []
        targets = (
            self._rules.values()
            if rule_ids is None
            else [self._rules[i] for i in rule_ids if i in self._rules]
        )
        for compiled in targets:
            try:
                transitions.extend(self._evaluate(compiled, now_ms))
            except Exception:
                log.exception("alert rule %s (%s) failed to evaluate", compiled.id, compiled.rule.name)
        return transitions

    def _evaluate(self, compiled: CompiledRule, now_ms: int) -> list[Transition]:
        spec = compiled.rule.spec
        samples = compiled.logic.samples(now_ms)
        seen: set[str] = set()
        transitions: list[Transition] = []
        records = compiled.records
        for sample in samples:
            labels, fp = compiled.identity(sample.labels)
            if fp in seen:
                continue
            seen.add(fp)
            record = records.get(fp)
            if record is None and not sample.firing:
                continue  # the common case: nothing active, nothing to start
            condition = sample.holding if record is not None and record.active else sample.firing
            compiled.contexts[fp] = sample.context
            new, previous = advance(
                record,
                condition,
                now_ms,
                spec.for_,
                spec.keep_firing_for,
                rule_id=compiled.id,
                fingerprint=fp,
                labels=labels,
                value=sample.value,
            )
            transitions.extend(self._after(compiled, fp, record, new, previous, now_ms, sample))
        if len(seen) >= len(records):
            return transitions  # every record had its sample
        for fp, record in list(records.items()):
            if fp in seen or not record.active:
                continue
            new, previous = advance(
                record, False, now_ms, spec.for_, spec.keep_firing_for, value=record.value
            )
            transitions.extend(self._after(compiled, fp, record, new, previous, now_ms, None))
        return transitions

    def _after(
        self,
        compiled: CompiledRule,
        fp: str,
        old: AlertRecord | None,
        new: AlertRecord | None,
        previous: AlertState | None,
        now_ms: int,
        sample: Sample | None,
    ) -> list[Transition]:
        if new is None:
            return []
        if previous is not None:
            return [self._set(compiled, fp, new, previous, now_ms)]
        compiled.records[fp] = new
        if old is None or new.value != old.value or new.last_true_ms != old.last_true_ms:
            self._dirty.add(new.key)
        return []

    def _set(
        self, compiled: CompiledRule, fp: str, record: AlertRecord, previous: AlertState, now_ms: int
    ) -> Transition:
        record = replace(record, annotations=self.annotations(compiled, record), last_eval_ms=now_ms)
        if record.state is AlertState.INACTIVE:
            compiled.records.pop(fp, None)
            compiled.contexts.pop(fp, None)
            self._gone.add(record.key)
            self._changed.pop(record.key, None)
        else:
            compiled.records[fp] = record
            self._changed[record.key] = record
            self._gone.discard(record.key)
        self._dirty.discard(record.key)
        return Transition(alert=record.as_alert(self._url(compiled.id)), previous=previous, at_ms=now_ms)

    def _url(self, rule_id: int) -> str:
        return self._generator_url.format(rule_id=rule_id) if self._generator_url else ""

    def annotations(self, compiled: CompiledRule, record: AlertRecord) -> dict[str, str]:
        spec = compiled.rule.spec
        if spec is None:
            return dict(record.annotations)
        context = self.template_context(compiled, record)
        found = {"summary": render(spec.summary or DEFAULT_SUMMARY[spec.kind], context)}
        if spec.description:
            found["description"] = render(spec.description, context)
        return found

    def template_context(self, compiled: CompiledRule, record: AlertRecord) -> dict[str, Any]:
        spec = compiled.rule.spec
        extra = compiled.logic.template_context()
        rule: dict[str, Any] = {
            "id": compiled.id,
            "name": spec.name,
            "kind": spec.kind,
            "severity": record.labels.get("severity", spec.severity.value),
            "for": format_duration(spec.for_),
            "keep_firing_for": format_duration(spec.keep_firing_for),
            **extra,
        }
        for name in ("window", "absent_for"):
            if hasattr(spec, name):
                rule[name] = format_duration(getattr(spec, name))
        for name in ("op", "per", "percentile"):
            if hasattr(spec, name):
                rule[name] = getattr(spec, name)
        found = compiled.contexts.get(record.fingerprint, {})
        sample_context = found() if callable(found) else found
        return {
            "sample": {},
            **extra,
            **sample_context,
            "value": record.value,
            "threshold": getattr(spec, "threshold", None),
            "labels": dict(record.labels),
            "project": compiled.rule.project,
            "state": record.state.value,
            "rule": rule,
        }

    # --- upkeep and reading ------------------------------------------------------------

    def refresh_annotations(self) -> None:
        """Re-render the annotations of active alerts whose value moved (on the tick)."""
        for compiled in self._rules.values():
            for fp, record in list(compiled.records.items()):
                if record.active and record.key in self._dirty:
                    compiled.records[fp] = replace(record, annotations=self.annotations(compiled, record))

    def expire(self, now_ms: int) -> int:
        dropped = 0
        for compiled in self._rules.values():
            for fp, record in list(compiled.records.items()):
                if expired(record, now_ms):
                    del compiled.records[fp]
                    compiled.contexts.pop(fp, None)
                    self._gone.add(record.key)
                    self._changed.pop(record.key, None)
                    self._dirty.discard(record.key)
                    dropped += 1
        return dropped

    def take_changes(self, *, with_values: bool) -> tuple[list[AlertRecord], list[tuple[int, str]]]:
        """(records to save, keys to delete) since the last call; value-only updates are
        included when `with_values` (the tick), else left for it."""
        records = dict(self._changed)
        if with_values:
            for key in self._dirty:
                compiled = self._rules.get(key[0])
                record = compiled.records.get(key[1]) if compiled else None
                if record is not None:
                    records[key] = record
            self._dirty.clear()
        gone = list(self._gone)
        self._changed.clear()
        self._gone.clear()
        return list(records.values()), gone

    def alerts(self) -> list[tuple[CompiledRule, AlertRecord]]:
        return [
            (compiled, record) for compiled in self._rules.values() for record in compiled.records.values()
        ]

    def project_of(self, rule_id: int) -> int | None:
        return self._projects.get(rule_id)

    def horizon_ms(self, rule_ids: Iterable[int]) -> int:
        return max((self._rules[i].logic.horizon_ms for i in rule_ids if i in self._rules), default=0)

    def kinds(self, rule_ids: Iterable[int]) -> set[str]:
        return {kind for i in rule_ids if i in self._rules for kind in self._rules[i].logic.kinds}
