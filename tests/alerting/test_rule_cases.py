"""The rule tests in tests/alerting/cases/*.yaml (format: tests/alerting/cases.py)."""

from __future__ import annotations

import pytest

from tests.alerting.cases import Case, load_cases, run_case

CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_rule_case(case: Case) -> None:
    failures = run_case(case)
    assert not failures, "\n".join(failures)


def test_a_wrong_expectation_fails() -> None:
    """The runner is not a rubber stamp: the first case with its expected alerts dropped fails."""
    case = next(c for c in CASES if any(e.get("alerts") for e in c.expect))
    broken = Case(
        case.file,
        case.name,
        case.rules,
        case.interval_ms,
        case.events,
        case.detections,
        [{**e, "alerts": []} for e in case.expect],
    )
    assert run_case(broken)
