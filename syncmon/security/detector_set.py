"""One project's running detectors, with each signal routed to the rules that read it.

Most signals concern a few rules only: a failed login means nothing to the CSP or upload
rules, a page request nothing to the login rules. Each detector names the signals it
reads (`Detector.names`), and the set keeps, per signal name, the tuple of `observe`
methods to call, in registry order, so detections come out in the same order as if every
rule had seen every signal. Rules can be swapped one at a time (a project's configuration
changed) without touching the state of the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from syncmon.security.detection import Detection, Detector
from syncmon.security.signals import Signal

Observe = Callable[[Signal], list[Detection]]
MAX_ROUTES = 4096  # signal names are open-ended (authn_<anything>); the route cache is bounded


class DetectorSet:
    def __init__(self, detectors: Iterable[Detector] = ()) -> None:
        self._detectors: list[Detector] = list(detectors)
        self._routes: dict[str, tuple[Observe, ...]] = {}

    def __iter__(self) -> Iterator[Detector]:
        return iter(self._detectors)

    def __len__(self) -> int:
        return len(self._detectors)

    def get(self, rule: str) -> Detector | None:
        return next((d for d in self._detectors if d.rule == rule), None)

    def replace(self, rule: str, detector: Detector | None, order: Iterable[str]) -> None:
        """Put `detector` in place of the rule's current one (None: the rule stops running);
        `order` is the registry order of rules, which the set keeps."""
        kept = [d for d in self._detectors if d.rule != rule]
        if detector is not None:
            kept.append(detector)
        rank = {name: index for index, name in enumerate(order)}
        kept.sort(key=lambda d: rank.get(d.rule, len(rank)))
        self._detectors = kept
        self._routes.clear()

    def _route(self, name: str) -> tuple[Observe, ...]:
        route = tuple(d.observe for d in self._detectors if d.names is None or name in d.names)
        if len(self._routes) >= MAX_ROUTES:
            self._routes.clear()
        self._routes[name] = route
        return route

    def observe(self, signal: Signal) -> list[Detection]:
        """Every detection the signal completes, in rule order."""
        route = self._routes.get(signal.name)
        if route is None:
            route = self._route(signal.name)
        found: list[Detection] = []
        for observe in route:
            detections = observe(signal)
            if detections:
                found.extend(detections)
        return found

    def evict(self, now_ms: int) -> int:
        return sum(d.evict(now_ms) for d in self._detectors)
