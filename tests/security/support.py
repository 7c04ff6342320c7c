"""Helpers every detector test uses: feeding signals and comparing detections compactly."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from syncmon.security.detection import Detection, Detector, Severity

T0 = 1_700_000_000_000  # the tests' epoch, in ms


@dataclass(frozen=True)
class Seen:
    """The parts of a detection a table row asserts, times relative to T0."""

    rule: str
    subject_type: str
    subject: str
    severity: Severity
    count: int
    first: int  # ms after T0
    last: int


def seen(d: Detection) -> Seen:
    return Seen(d.rule, d.subject_type, d.subject, d.severity, d.count, d.first_ms - T0, d.last_ms - T0)


def run(detector: Detector, signals: Iterable[object]) -> list[Detection]:
    """Every detection a detector returns for the signals, in order."""
    found: list[Detection] = []
    for signal in signals:
        found.extend(detector.observe(signal))  # type: ignore[arg-type]
    return found


def ip(i: int) -> str:
    """The i-th distinct documentation-range address."""
    return f"198.51.{i // 250}.{i % 250 + 1}"
