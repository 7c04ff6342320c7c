"""The rule-test format (promtool's `test rules`, for syncmon's events) and its runner.

A case file under tests/alerting/cases/ holds `tests:`; each test gives

- `rules`: rule definitions as in rules.yaml (all of the test project `shop`);
- `interval`: how often the engine ticks (default 5s, the setting's default);
- `events`: input events at receive times after the start, `{at, kind, name, ...}`, with
  `repeat: N` and `every: 1s` for a run of them; fields are the Event's (level, value,
  environment, release, url, user_id, client_ip, data);
- `detections`: security detections at times, `{at, rule, severity, subject, ...}`;
- `expect`: at a time, for one alertname, the exact list of its pending and firing alerts
  (`alerts`, each with `state`, and the labels, annotations, `annotations_contain` and
  `value` (with a relative `tolerance`) to check) and, when given, of its resolved ones
  (`resolved`).

The runner drives the pure core (syncmon.alerting.evaluator.Evaluator) with a ManualClock:
events go in at their times and evaluate the rules they touch, as committed batches do
(rules a batch defers are evaluated a second later, as the engine's timer does); every
`interval` all rules are evaluated, as the tick does. An expectation
reads the state after everything up to its time happened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from syncmon.alerting.evaluator import COALESCE_MS, Evaluator
from syncmon.alerting.model import AlertState
from syncmon.alerting.rule_store import StoredRule
from syncmon.alerting.spec import parse_duration, parse_rule
from syncmon.clock import ManualClock
from syncmon.events import Event
from syncmon.security.detection import Detection, Severity

CASES = Path(__file__).parent / "cases"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
PROJECT_ID = 1
PROJECT = "shop"
EVENT_FIELDS = {
    "level",
    "value",
    "environment",
    "release",
    "url",
    "user_id",
    "client_ip",
    "data",
    "message",
    "is_bot",
}


@dataclass
class Case:
    file: str
    name: str
    rules: list[dict[str, Any]]
    interval_ms: int
    events: list[tuple[int, Event]]
    detections: list[tuple[int, Detection]]
    expect: list[dict[str, Any]]

    @property
    def id(self) -> str:
        return f"{self.file}: {self.name}"


@dataclass
class Outcome:
    failures: list[str] = field(default_factory=list)


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(CASES.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        for raw in document["tests"]:
            cases.append(_case(path.stem, raw))
    return cases


def _ms(raw: Any) -> int:
    return parse_duration(raw)


def _case(file: str, raw: dict[str, Any]) -> Case:
    events: list[tuple[int, Event]] = []
    for item in raw.get("events", []):
        item = dict(item)
        at = _ms(item.pop("at"))
        repeat = int(item.pop("repeat", 1))
        every = _ms(item.pop("every", 0))
        kind, name = item.pop("kind"), item.pop("name")
        unknown = set(item) - EVENT_FIELDS
        assert not unknown, f"{file}: unknown event fields {unknown}"
        for i in range(repeat):
            when = at + i * every
            event = Event(
                project_id=PROJECT_ID,
                kind=kind,
                name=name,
                timestamp_ms=T0 + when,
                received_ms=T0 + when,
                **{k: (dict(v) if isinstance(v, dict) else v) for k, v in item.items()},
            )
            events.append((when, event))
    detections = []
    for item in raw.get("detections", []):
        at = _ms(item["at"])
        detections.append(
            (
                at,
                Detection(
                    rule=item["rule"],
                    project_id=PROJECT_ID,
                    subject_type=item.get("subject_type", "ip"),
                    subject=str(item.get("subject", "203.0.113.9")),
                    severity=Severity(item.get("severity", "high")),
                    confidence=1.0,
                    count=int(item.get("count", 10)),
                    first_ms=T0 + at - 60_000,
                    last_ms=T0 + at,
                    title=item.get("title", f"{item['rule']} detected"),
                ),
            )
        )
    events.sort(key=lambda pair: pair[0])
    return Case(
        file=file,
        name=raw["name"],
        rules=raw["rules"],
        interval_ms=_ms(raw.get("interval", "5s")),
        events=events,
        detections=sorted(detections, key=lambda pair: pair[0]),
        expect=sorted(raw["expect"], key=lambda e: _ms(e["at"])),
    )


def stored_rules(case: Case) -> list[StoredRule]:
    return [
        StoredRule(
            id=index + 1,
            project_id=PROJECT_ID,
            project=PROJECT,
            source="file",
            key=None,
            spec=parse_rule(dict(raw)),
            created_ms=T0,
            updated_ms=T0,
        )
        for index, raw in enumerate(case.rules)
    ]


def run_case(case: Case) -> list[str]:
    """Drive the case; returns what did not match (empty: it passed)."""
    clock = ManualClock(T0)
    evaluator = Evaluator()
    evaluator.set_rules(stored_rules(case), T0)
    end = max(_ms(e["at"]) for e in case.expect)
    moments: dict[int, list[str]] = {}
    for t in range(0, end + 1, case.interval_ms):
        moments.setdefault(t, []).append("tick")
    for at, _ in case.events:
        moments.setdefault(at, []).append("events")
    for at, _ in case.detections:
        moments.setdefault(at, []).append("detections")
    checks: dict[int, list[dict[str, Any]]] = {}
    for expectation in case.expect:
        checks.setdefault(_ms(expectation["at"]), []).append(expectation)
        moments.setdefault(_ms(expectation["at"]), [])
    failures: list[str] = []
    while moments:
        t = min(moments)
        clock.ms = T0 + t
        what = moments.pop(t)
        if "deferred" in what:
            evaluator.evaluate_deferred(clock.now_ms())
        if "events" in what:
            batch = [e for at, e in case.events if at == t]
            evaluator.evaluate_batch(clock.now_ms(), evaluator.observe(batch))
        if "detections" in what:
            found = [d for at, d in case.detections if at == t]
            evaluator.evaluate_batch(clock.now_ms(), evaluator.observe_detections(found))
        if evaluator.deferred and t + COALESCE_MS <= end:  # as the engine's timer does
            moments.setdefault(t + COALESCE_MS, []).append("deferred")
        if "tick" in what:
            evaluator.evaluate(clock.now_ms())
            evaluator.refresh_annotations()
            evaluator.expire(clock.now_ms())
        evaluator.take_changes(with_values=True)
        for expectation in checks.get(t, []):
            failures.extend(_check(evaluator, expectation, t))
    return failures


def _check(evaluator: Evaluator, expectation: dict[str, Any], t: int) -> list[str]:
    name = expectation["alertname"]
    records = [r for _, r in evaluator.alerts() if r.labels.get("alertname") == name]
    active = [r for r in records if r.state in (AlertState.PENDING, AlertState.FIRING)]
    where = f"at {expectation['at']} {name}"
    problems = _match_list(active, expectation.get("alerts", []), where + " (pending/firing)")
    if "resolved" in expectation:
        resolved = [r for r in records if r.state is AlertState.RESOLVED]
        problems += _match_list(resolved, expectation["resolved"], where + " (resolved)")
    return problems


def _match_list(records: list[Any], wanted: list[dict[str, Any]], where: str) -> list[str]:
    if len(records) != len(wanted):
        shown = [(r.state.value, r.labels, r.value, r.annotations) for r in records]
        return [f"{where}: expected {len(wanted)} alerts, got {len(records)}: {shown}"]
    remaining = list(records)
    problems = []
    for want in wanted:
        hit = next((r for r in remaining if _matches(r, want)), None)
        if hit is None:
            shown = [(r.state.value, r.labels, r.value, r.annotations) for r in remaining]
            problems.append(f"{where}: no alert matches {want}; have {shown}")
        else:
            remaining.remove(hit)
    return problems


def _matches(record: Any, want: dict[str, Any]) -> bool:
    if "state" in want and record.state.value != want["state"]:
        return False
    for key, value in (want.get("labels") or {}).items():
        if record.labels.get(key) != str(value):
            return False
    for key, value in (want.get("annotations") or {}).items():
        if record.annotations.get(key) != value:
            return False
    for key, part in (want.get("annotations_contain") or {}).items():
        if part not in record.annotations.get(key, ""):
            return False
    if "value" in want:
        tolerance = float(want.get("tolerance", 1e-9))
        if record.value is None or not math.isclose(
            record.value, float(want["value"]), rel_tol=tolerance, abs_tol=1e-9
        ):
            return False
    return True
