"""Rule logics directly: burn-rate rows, heartbeats, the security classes, selectors, templates."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from syncmon.alerting.rules.burn_rate import BurnRateLogic, budget_of, burn_rate
from syncmon.alerting.rules.heartbeat import HeartbeatLogic
from syncmon.alerting.rules.security import DETECTOR_CLASSES
from syncmon.alerting.selectors import compile_selector, platform_of, route_matcher, status_of
from syncmon.alerting.spec import EventFilter, EventSelector, parse_rule
from syncmon.alerting.templates import render
from syncmon.events import Event, Kind
from syncmon.metrics.sketches import Accumulator
from syncmon.security.registry import DETECTOR_CLASSES as DETECTORS

T0 = 1_767_225_600_000
MIN = 60_000


def request(at_ms: int, status: int = 200, name: str = "GET /", value: float = 10.0, **kw: Any) -> Event:
    return Event(1, Kind.REQUEST.value, name, at_ms, at_ms, value=value, data={"status": status}, **kw)


def figures(sample: Any) -> dict[str, Any]:
    return sample.context() if callable(sample.context) else dict(sample.context)


def burn(**changes: Any) -> BurnRateLogic:
    raw = {"kind": "burn_rate", "name": "slo", "sli": "requests", "objective": "99.9", **changes}
    return BurnRateLogic(parse_rule(raw))


def test_budget_and_burn_are_exact() -> None:
    assert budget_of(Fraction("99.9")) == Fraction(1, 1000)
    assert burn_rate(15, 1000, Fraction(1, 1000)) == 15
    assert burn_rate(9, 6250, budget_of(Fraction("99.99"))) == Fraction(72, 5)  # 14.4, not above it


def test_every_row_of_the_workbook() -> None:
    """Per row, a burst filling exactly its windows: the row's factor decides."""
    logic = burn()
    # 4 bad in 1000 over three days (4x), one of them in the last 6 hours (12x there) but none
    # in the last 30 minutes or hour: only the 3d/6h row at 1x is breached.
    for i in range(1000):
        at = T0 + i * (3 * 1440 * MIN // 1000)
        logic.observe(request(at, 500 if i in (100, 350, 600, 950) else 200))
    now = T0 + 3 * 1440 * MIN - 1
    samples = {s.labels["severity"]: s for s in logic.samples(now)}
    assert samples["warning"].firing and not samples["critical"].firing
    assert figures(samples["warning"])["long"] == "3d"
    assert samples["warning"].value == 4.0
    assert figures(samples["critical"])["long"] == "6h"  # the nearest miss is shown


def test_fast_row_needs_the_short_window_too() -> None:
    logic = burn(windows=[{"long": "1h", "short": "5m", "factor": "14.4"}])
    for i in range(60):
        logic.observe(request(T0 + i * MIN, 200))
    for _ in range(20):
        logic.observe(request(T0 + 10 * MIN, 500))
    (early,) = logic.samples(T0 + 10 * MIN)
    assert early.firing
    (late,) = logic.samples(T0 + 59 * MIN)
    assert not late.firing  # the 5m window holds no error; the 1h window still burns 25x
    assert figures(late)["burn_long"] == 20 / 80 * 1000


def test_burn_rate_minutes_from_rollups() -> None:
    logic = burn(
        sli="latency", threshold_ms=500, objective="99", windows=[{"long": "1h", "short": "5m", "factor": 6}]
    )
    accumulator = Accumulator()
    for value in [100.0] * 90 + [900.0] * 10:
        accumulator.add(value)
    bad, total = logic.good_in_sketch(accumulator.to_bytes())
    assert (bad, total) == (10, 100)
    logic.seed_minute(T0, bad, total)
    (sample,) = logic.samples(T0 + MIN)
    assert sample.firing and sample.value == 10.0


def test_heartbeat_counts_from_creation_then_from_the_last_event() -> None:
    spec = parse_rule(
        {"kind": "heartbeat", "name": "hb", "select": {"kind": "check_in", "names": ["job"]},
         "absent_for": "10m", "group_by": ["name"]}
    )  # fmt: skip
    logic = HeartbeatLogic(spec, T0)
    (quiet,) = logic.samples(T0 + 10 * MIN - 1)
    assert not quiet.firing
    (silent,) = logic.samples(T0 + 10 * MIN)
    assert silent.firing and silent.labels == {"name": "job"} and silent.value == 600
    check = Event(1, Kind.CHECK_IN.value, "job", T0, T0 + 12 * MIN, data={"status": "ok"})
    assert logic.observe(check)
    assert not logic.observe(Event(1, Kind.CHECK_IN.value, "other", T0, T0 + 13 * MIN))
    logic.seen("job", T0 + 5 * MIN)  # an older sighting (from the store) changes nothing
    (back,) = logic.samples(T0 + 13 * MIN)
    assert not back.firing and back.value == 60


def test_every_detector_belongs_to_a_seed_security_alert() -> None:
    assert {cls.rule for cls in DETECTORS} == set(DETECTOR_CLASSES)


def test_selectors() -> None:
    ok = request(T0, 200, "GET /api/users/42")
    failed = request(T0, 503, "POST /api/checkout", environment="production")
    select = compile_selector(EventSelector(kind=Kind.REQUEST, min_status=500))
    assert not select(ok) and select(failed)
    named = compile_selector(EventSelector(kind=Kind.REQUEST, names=["GET /api/*"]))
    assert named(ok) and not named(failed)
    env = compile_selector(EventSelector(kind=Kind.REQUEST), EventFilter(environment="production"))
    assert env(failed) and not env(ok)
    assert route_matcher("/api/users/*")("GET /api/users/{id}")
    assert route_matcher("GET /api/*")("GET /api/users/{id}") and not route_matcher("POST /api/*")(
        "GET /api/x"
    )
    assert status_of(Event(1, "request", "GET /", T0, T0, data={"status": 404.0})) == 404
    assert status_of(Event(1, "request", "GET /", T0, T0, data={"status": True})) is None
    assert platform_of(Event(1, "error", "javascript_error", T0, T0)) == "javascript"
    assert platform_of(Event(1, "error", "ValueError", T0, T0, data={"platform": "Python"})) == "python"
    assert platform_of(Event(1, "error", "ValueError", T0, T0)) is None


def test_template_filters_and_failures() -> None:
    context = {"value": 0.0534, "threshold": 2500.0, "labels": {"route": "GET /"}}
    assert render("{{ value | percent }} / {{ threshold | duration }}", context) == "5.3 % / 2.5 s"
    assert render("{{ 12.3456789 | number }} {{ 12.0 | number }}", {}) == "12.35 12"
    assert (
        render("{{ 90000 | duration }} {{ 7200000 | duration }} {{ 200 | duration }}", {})
        == "1.5 m 2 h 200 ms"
    )
    assert render("{{ labels.missing }}|{{ nothing.at.all }}", context).startswith("|")
    assert render("{{ ''.__class__.__mro__ }}", {}) == ""  # the sandbox hides internals
    assert "template error: SecurityError" in render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})
    assert len(render("{% for i in range(100000) %}xxxxxxxx{% endfor %}", {})) == 4000
