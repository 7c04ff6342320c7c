"""Rule definitions: durations, validation messages naming the field, round trips."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from syncmon.alerting.defaults import DEFAULT_RULES, default_rules
from syncmon.alerting.spec import RuleError, format_duration, parse_duration, parse_rule, rule_document

COUNT = {"kind": "count", "name": "errors", "select": {"kind": "error"}, "window": "5m", "threshold": 3}


def rule(**changes: Any) -> dict[str, Any]:
    return {**COUNT, **changes}


@pytest.mark.parametrize(
    ("raw", "ms"),
    [("90s", 90_000), ("5m", 300_000), ("1h30m", 5_400_000), ("3d", 259_200_000), ("1w", 604_800_000),
     ("250ms", 250), (30, 30_000), (0.5, 500), ("0s", 0)],
)  # fmt: skip
def test_durations(raw: Any, ms: int) -> None:
    assert parse_duration(raw) == ms


@pytest.mark.parametrize("raw", ["5 minutes", "5", "-1m", "", "1y", True, None, -3])
def test_bad_durations(raw: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(raw)


@pytest.mark.parametrize(
    ("ms", "text"), [(0, "0s"), (90_000, "90s"), (300_000, "5m"), (86_400_000, "1d"), (1500, "1500ms")]
)
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    ("raw", "field", "says"),
    [
        ({"name": "x"}, "kind", "required"),
        (rule(kind="gauge"), "kind", "'gauge' is not one of count, ratio"),
        (rule(window="5 minutes"), "window", "not a duration"),
        (rule(window="0s"), "window", "at least 1s"),
        (rule(window="8d"), "window", "at most 7d"),
        (rule(name="9lives"), "name", "must start with a letter"),
        (rule(threshold="many"), "threshold", "valid number"),
        (rule(op="=="), "op", "'>', '>=', '<' or '<='"),
        (rule(colour="red"), "colour", "not a field of this rule kind"),
        (rule(select={"kind": "tweet"}), "select.kind", "Input should be"),
        (rule(select={"kind": "error", "min_status": 500}), "select", "request events only"),
        (
            rule(select={"kind": "request", "min_status": 99}),
            "select.min_status",
            "greater than or equal to 100",
        ),
        (rule(resolve_threshold=5), "rule", "resolve_threshold must not be above threshold"),
        (rule(op="<", resolve_threshold=1), "rule", "resolve_threshold must not be below threshold"),
        (rule(labels={"severity": "x"}), "labels", "set by the rule itself"),
        (rule(labels={"bad-name": "x"}), "labels", "label name 'bad-name'"),
        (rule(summary="{{ value "), "summary", "template error"),
        (rule(**{"for": "1 hour"}), "for", "not a duration"),
        (rule(severity="page"), "severity", "'info', 'warning' or 'critical'"),
        (
            {
                "kind": "percentile",
                "name": "p",
                "source": "metric",
                "percentile": 75,
                "window": "5m",
                "threshold": 1,
            },
            "rule",
            "metric is required",
        ),
        (
            {
                "kind": "percentile",
                "name": "p",
                "source": "request",
                "percentile": 100,
                "window": "5m",
                "threshold": 1,
            },
            "percentile",
            "less than 100",
        ),
        (
            {"kind": "availability", "name": "a", "window": "1h", "threshold": 99},
            "threshold",
            "fraction from 0 to 1",
        ),
        (
            {"kind": "burn_rate", "name": "b", "sli": "latency", "objective": 99},
            "rule",
            "threshold_ms is required",
        ),
        (
            {"kind": "burn_rate", "name": "b", "sli": "requests", "objective": 100},
            "objective",
            "less than 100",
        ),
        (
            {
                "kind": "burn_rate",
                "name": "b",
                "sli": "requests",
                "objective": 99,
                "windows": [{"long": "5m", "short": "1h", "factor": 2}],
            },
            "windows.0",
            "shorter than the long",
        ),
        (
            {
                "kind": "heartbeat",
                "name": "h",
                "select": {"kind": "custom", "names": ["job_*"]},
                "absent_for": "10m",
                "group_by": ["name"],
            },
            "rule",
            "exact names",
        ),
        (
            {"kind": "security", "name": "s", "window": "15m", "min_severity": "urgent"},
            "min_severity",
            "Input should be",
        ),
    ],
)
def test_validation_names_the_field(raw: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(raw, "rules[2].")
    where = "rules[2]" if field == "rule" else f"rules[2].{field}"  # "rule": the rule as a whole
    assert caught.value.field == where
    assert str(caught.value).startswith(f"{where}: ")
    assert says in str(caught.value)


def test_not_a_mapping() -> None:
    with pytest.raises(RuleError, match="expected a mapping"):
        parse_rule(["count"])


def test_documents_round_trip() -> None:
    for key, spec in default_rules():
        document = rule_document(spec)
        assert parse_rule(document) == spec, key
        assert "for_" not in document and document["for"].endswith(("s", "m", "h", "d", "w"))


def test_objectives_and_factors_stay_exact_decimals() -> None:
    spec = parse_rule({"kind": "burn_rate", "name": "b", "sli": "requests", "objective": 99.9})
    assert spec.objective == Decimal("99.9")
    assert spec.windows[0].factor == Decimal("14.4")
    assert rule_document(spec)["objective"] == "99.9"


def test_burn_rate_severity_defaults_to_its_most_severe_row() -> None:
    workbook = parse_rule({"kind": "burn_rate", "name": "b", "sli": "requests", "objective": 99})
    assert workbook.severity.value == "critical"
    slow = parse_rule(
        {"kind": "burn_rate", "name": "b", "sli": "requests", "objective": 99,
         "windows": [{"long": "3d", "short": "6h", "factor": 1, "severity": "warning"}]}
    )  # fmt: skip
    assert slow.severity.value == "warning"


def test_the_seed_thresholds_are_all_there() -> None:
    by_name = {raw["name"]: raw for raw in DEFAULT_RULES}
    assert {"authentication_failure", "authorization_failure", "suspicious_activity", "data_breach_attempt",
            "malware_detection"} <= set(by_name)  # fmt: skip
    assert by_name["page_load_time"]["threshold"] == 5000
    assert by_name["api_response_time"]["threshold"] == 2000
    assert by_name["error_rate"]["threshold"] == 0.05
    assert by_name["availability"]["threshold"] == 0.99
    assert (by_name["javascript_errors"]["threshold"], by_name["javascript_errors"]["window"]) == (10, "1m")
    assert (by_name["api_errors"]["threshold"], by_name["api_errors"]["window"]) == (20, "1m")
    assert (by_name["security_errors"]["threshold"], by_name["security_errors"]["window"]) == (5, "1m")
    assert by_name["slo_page_load"]["threshold_ms"] == 2000
    assert by_name["slo_api_latency"]["threshold_ms"] == 500
    assert by_name["slo_error_rate"]["objective"] == "99"
    assert by_name["slo_uptime"]["objective"] == "99.9"
