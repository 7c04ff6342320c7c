"""Leaky buckets, CrowdSec-style: per-subject counters that drain at a fixed rate.

A bucket fills by one per event (or by one per *new distinct value*, for rules like
"many accounts from one IP") and leaks `leak_per_second`. It overflows on the event that
takes it past `capacity`; then its subject is silent for `quiet_ms` (CrowdSec's
blackhole), so one attack yields one detection, not one per request. Buckets that have
drained are evicted, which bounds memory by the number of currently active subjects.

A run (the events since the bucket was last empty) also tallies how many of its events
were `marked` (e.g. spoofable) and keeps a few sample `tag`s (e.g. the IPs involved), so a
detector can weigh and explain an overflow without state of its own. `BucketGroup` holds
several bucket sets of one rule (a fast and a slow variant, or one per signal source)
that share one quiet period per subject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from syncmon.security.params import DAY_MS, bounded, param


@dataclass(frozen=True, slots=True)
class BucketSpec:
    capacity: float = bounded(0, 1_000_000)  # 0: a trigger, the first event overflows
    leak_per_second: float = bounded(1e-6, 1_000_000)  # > 0, so every bucket drains and goes
    quiet_ms: int = param(300_000, 0, 30 * DAY_MS)
    max_distinct: int = param(256, 1, 100_000)  # distinct values remembered per bucket


@dataclass(slots=True)
class _Bucket:
    """One subject's bucket. The distinct values and tags are made when first needed: most
    rules use neither, and a botnet makes one bucket per IP."""

    level: float = 0.0
    last_ms: int = 0
    first_ms: int = 0
    count: int = 0
    quiet_until_ms: int = 0
    seen: dict[str, None] | None = None  # distinct values, least recently seen first
    evidence: list[str] = field(default_factory=list)
    marked: int = 0
    tags: dict[str, None] | None = None

    def restart(self) -> None:
        self.count, self.marked = 0, 0
        self.seen = self.tags = None
        self.evidence.clear()


@dataclass(frozen=True, slots=True)
class Overflow:
    subject: str
    first_ms: int
    last_ms: int
    count: int
    distinct: int
    evidence: tuple[str, ...]
    marked: int = 0  # events of the run poured with marked=True
    tags: tuple[str, ...] = ()  # first distinct tags of the run (at most max_evidence)


class Buckets:
    """All buckets of one rule, keyed by subject."""

    def __init__(self, spec: BucketSpec, max_evidence: int = 10) -> None:
        self.spec = spec
        self._buckets: dict[str, _Bucket] = {}
        self._max_evidence = max_evidence

    def __len__(self) -> int:
        return len(self._buckets)

    def _drained(self, bucket: _Bucket, now_ms: int) -> float:
        elapsed = max(0, now_ms - bucket.last_ms) / 1000.0
        return max(0.0, bucket.level - elapsed * self.spec.leak_per_second)

    def pour(
        self,
        subject: str,
        now_ms: int,
        evidence: str,
        distinct: str | None = None,
        *,
        marked: bool = False,
        tag: str | None = None,
    ) -> Overflow | None:
        """Add one event for `subject`; the overflow when this one takes it past capacity."""
        bucket = self._buckets.get(subject)
        if bucket is None:
            bucket = self._buckets[subject] = _Bucket(last_ms=now_ms, first_ms=now_ms)
        if now_ms < bucket.quiet_until_ms:
            return None
        level = self._drained(bucket, now_ms)
        if level == 0.0:
            bucket.restart()
            bucket.first_ms = now_ms
        bucket.level, bucket.last_ms = level, now_ms
        if distinct is not None:
            seen = bucket.seen
            if seen is None:
                seen = bucket.seen = {}
            elif distinct in seen:
                del seen[distinct]  # now the most recently seen
                seen[distinct] = None
                return None
            seen[distinct] = None
            if len(seen) > self.spec.max_distinct:
                del seen[next(iter(seen))]
        bucket.level += 1.0
        bucket.count += 1
        bucket.marked += marked
        if len(bucket.evidence) < self._max_evidence:
            bucket.evidence.append(evidence)
        if tag is not None:
            tags = bucket.tags
            if tags is None:
                bucket.tags = {tag: None}
            elif len(tags) < self._max_evidence:
                tags[tag] = None
        if bucket.level <= self.spec.capacity:
            return None
        overflow = Overflow(
            subject,
            bucket.first_ms,
            now_ms,
            bucket.count,
            len(bucket.seen) if bucket.seen else 0,
            tuple(bucket.evidence),
            bucket.marked,
            tuple(bucket.tags) if bucket.tags else (),
        )
        bucket.level = 0.0
        bucket.restart()
        bucket.quiet_until_ms = now_ms + self.spec.quiet_ms
        return overflow

    def reset(self, subject: str) -> None:
        """Forget a subject (e.g. a successful login ends a run of failures)."""
        self._buckets.pop(subject, None)

    def quiet(self, subject: str, now_ms: int) -> bool:
        """Whether the subject is in its quiet period (it overflowed less than quiet_ms ago)."""
        bucket = self._buckets.get(subject)
        return bucket is not None and now_ms < bucket.quiet_until_ms

    def peek(self, subject: str, now_ms: int) -> tuple[float, int]:
        """(current level, events counted) for a subject, without pouring."""
        bucket = self._buckets.get(subject)
        if bucket is None:
            return 0.0, 0
        return self._drained(bucket, now_ms), bucket.count

    def evict(self, now_ms: int) -> int:
        """Drop buckets that have drained and are not in a quiet period; returns how many."""
        gone = [
            subject
            for subject, bucket in self._buckets.items()
            if now_ms >= bucket.quiet_until_ms and self._drained(bucket, now_ms) == 0.0
        ]
        for subject in gone:
            del self._buckets[subject]
        return len(gone)


class BucketGroup:
    """Several bucket sets of one rule, by name, sharing one quiet period per subject.

    Whichever set overflows first speaks for the subject: every set forgets the subject and
    the subject is silent for that set's `quiet_ms`, so a fast and a slow variant of a rule
    (or the same rule fed from two sources) yield one detection per attack, not one each.
    """

    def __init__(self, specs: Mapping[str, BucketSpec], max_evidence: int = 10) -> None:
        self._sets = {name: Buckets(spec, max_evidence) for name, spec in specs.items()}
        self._quiet_until: dict[str, int] = {}

    def __len__(self) -> int:
        """Subjects held: buckets of every set plus subjects in a quiet period."""
        return sum(len(b) for b in self._sets.values()) + len(self._quiet_until)

    def pour(
        self,
        name: str,
        subject: str,
        now_ms: int,
        evidence: str,
        distinct: str | None = None,
        *,
        marked: bool = False,
        tag: str | None = None,
    ) -> Overflow | None:
        """Pour into set `name`; nothing is counted while the subject is quiet."""
        if now_ms < self._quiet_until.get(subject, 0):
            return None
        buckets = self._sets[name]
        overflow = buckets.pour(subject, now_ms, evidence, distinct, marked=marked, tag=tag)
        if overflow is not None:
            for other in self._sets.values():
                other.reset(subject)
            self._quiet_until[subject] = now_ms + buckets.spec.quiet_ms
        return overflow

    def evict(self, now_ms: int) -> int:
        """Drop drained buckets and ended quiet periods; returns how many entries went."""
        gone = [subject for subject, until in self._quiet_until.items() if now_ms >= until]
        for subject in gone:
            del self._quiet_until[subject]
        return len(gone) + sum(b.evict(now_ms) for b in self._sets.values())
