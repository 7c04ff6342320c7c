"""What every rule logic is: events in, per-series samples out.

A `RuleLogic` is built from one validated rule definition. The engine hands it the events
(and detections) of its project it may read, in log order; `samples(now)` then says, per
series (a set of labels such as the route or the issue), the current value and whether
the condition holds. Logics are pure state machines over their windows: no I/O, time only
from the events and from `now`, so the same input gives the same alerts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from syncmon.events import Event
from syncmon.security.detection import Detection

MAX_SERIES = 1000  # per rule: a group_by on a high-cardinality field must not eat the memory
# Template variables of a sample, or a function giving them: most samples are never shown,
# so rules whose figures cost something to assemble hand over the function.
Context = dict[str, Any] | Callable[[], dict[str, Any]]


@dataclass(slots=True)
class Sample:
    """One series of a rule now. `firing` is the condition against the threshold; `holding`
    is the condition an already active alert must keep meeting (the resolve threshold, for
    hysteresis) — the same as `firing` for rules without one."""

    labels: dict[str, str]
    value: float | None
    firing: bool
    holding: bool
    context: Context = field(default_factory=dict)


def compare(value: float, op: str, threshold: float) -> bool:
    if op == ">":
        return value > threshold
    if op == ">=":
        return value >= threshold
    if op == "<":
        return value < threshold
    return value <= threshold


def threshold_sample(
    labels: dict[str, str],
    value: float,
    op: str,
    threshold: float,
    resolve_threshold: float | None,
    context: Context | None = None,
) -> Sample:
    firing = compare(value, op, threshold)
    holding = firing if resolve_threshold is None else compare(value, op, resolve_threshold)
    return Sample(labels, value, firing, holding, context if context is not None else {})


class RuleLogic(ABC):
    """Base of every rule family; subclasses override what they read and say what they
    measure."""

    kinds: frozenset[str] = frozenset()  # event kinds the rule reads
    reads_detections = False
    # Evaluated on every batch it reads (counts: their crossing event fires at once); the
    # others (ratios, percentiles, burn rates over minutes to days) at most once a second.
    immediate = True
    # Index hints: the only event names (canonical metric names for metrics) or the only
    # request route the rule can take, so the engine hands it nothing else. None: any.
    names: frozenset[str] | None = None
    route: str | None = None
    horizon_ms = 0  # how far back its windows reach (what a restart must replay)
    dropped_series = 0

    def observe(self, event: Event) -> bool:
        """Take one event of the rule's project and kinds; True when it changed anything."""
        return False

    def observe_detection(self, detection: Detection) -> bool:
        return False

    @abstractmethod
    def samples(self, now_ms: int) -> list[Sample]:
        """What the rule measures now, one sample per series."""

    def template_context(self) -> dict[str, Any]:
        """Rule-level template variables (beyond value, threshold and labels)."""
        return {}


class RemovedRule(RuleLogic):
    """Stands in for a rule deleted while alerts of it were stored: it reads nothing and
    measures nothing, so those alerts resolve."""

    def samples(self, now_ms: int) -> list[Sample]:
        return []


def event_context(event: Event | None, **figures: Any) -> Context:
    """Template variables of a sample: `figures` and the event behind it, built when asked."""
    return lambda: {**figures, "sample": sample_of(event) if event is not None else {}}


def sample_of(event: Event) -> dict[str, Any]:
    """What templates may show of the event behind a value."""
    return {
        "name": event.name,
        "message": event.message,
        "url": event.url,
        "level": event.level,
        "environment": event.environment,
        "release": event.release,
        "received_ms": event.received_ms,
    }
