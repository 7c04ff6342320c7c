"""Per-project detector configuration, the pure part: which parameters each rule exposes,
validation of overrides with messages that name the problem, and building detectors with
them. Storage, the engine, the API and the CLI are tested in their own files."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from syncmon.security.buckets import BucketSpec
from syncmon.security.detection import Severity
from syncmon.security.detector_config import (
    ConfigError,
    RuleConfig,
    build,
    build_set,
    describe,
    effective_params,
    from_stored,
    parameters,
    parse_assignment,
    validate,
)
from syncmon.security.detectors.auth import BruteForce
from syncmon.security.detectors.injection import SqlInjection
from syncmon.security.params import bounds_of
from syncmon.security.registry import RULES, default_detectors
from syncmon.security.signals import Signal
from tests.security.support import T0, run


def test_every_rule_exposes_its_numbers_and_severities() -> None:
    for rule, cls in RULES.items():
        exposed = parameters(rule)
        assert exposed, rule
        for declared in dataclasses.fields(cls.defaults):
            value = getattr(cls.defaults, declared.name)
            if isinstance(value, BucketSpec):
                for inner in ("capacity", "leak_per_second", "quiet_ms", "max_distinct"):
                    assert f"{declared.name}.{inner}" in exposed, (rule, declared.name)
            elif isinstance(value, Severity):
                assert exposed[declared.name].kind == "severity"
            elif isinstance(value, int | float) and not isinstance(value, bool):
                # A number nobody can override would be a default nobody can tune.
                assert bounds_of(declared) is not None, (rule, declared.name)
                low, high = bounds_of(declared) or (0, 0)
                assert low <= value <= high, (rule, declared.name)
                assert declared.name in exposed
            else:
                # Curated lists (patterns, names, statuses) are not per-project parameters.
                assert not any(name.split(".")[0] == declared.name for name in exposed), (rule, declared.name)


def test_parameters_describe_type_default_and_range() -> None:
    brute = parameters("brute_force")
    assert brute["fast.capacity"].default == 5
    assert brute["fast.capacity"].describe() == {"type": "number", "min": 0, "max": 1_000_000}
    assert brute["fast.quiet_ms"].describe()["type"] == "integer"
    assert parameters("http_probing")["severity"].describe() == {
        "type": "severity",
        "choices": ["low", "medium", "high", "critical"],
    }
    assert parameters("sql_injection")["confidence_level"].describe() == {
        "type": "integer",
        "min": 1,
        "max": 3,
    }


BAD: list[tuple[str, str, Any, Any, str]] = [
    # (id, rule, enabled, parameters, message fragment)
    ("unknown-rule", "brute_farce", True, {}, "unknown rule 'brute_farce'; rules are: brute_force,"),
    ("unknown-parameter", "brute_force", True, {"capacity": 3}, "parameters.capacity: unknown parameter"),
    ("nested-object", "brute_force", True, {"fast": {"capacity": 3}}, "parameters.fast: unknown parameter"),
    ("string-for-number", "brute_force", True, {"fast.capacity": "3"}, "fast.capacity: must be a number"),
    ("bool-for-number", "brute_force", True, {"fast.capacity": True}, "fast.capacity: must be a number"),
    (
        "float-for-integer",
        "credential_stuffing",
        True,
        {"min_accounts": 2.5},
        "min_accounts: must be an integer",
    ),
    ("below-range", "brute_force", True, {"fast.leak_per_second": 0}, "must be between 1e-06 and 1000000"),
    ("above-range", "credential_stuffing", True, {"confidence": 4}, "confidence: must be between 1 and 3"),
    ("negative-window", "user_enumeration", True, {"window_ms": -1}, "window_ms: must be between 1000 and"),
    ("not-a-severity", "http_probing", True, {"severity": "severe"}, "severity: must be one of low, medium"),
    ("infinite", "impossible_travel", True, {"max_speed_kmh": float("inf")}, "must be a finite number"),
    ("enabled-not-bool", "brute_force", "yes", {}, "enabled: must be true or false"),
    ("parameters-not-object", "brute_force", True, [1], "parameters: must be an object"),
]


@pytest.mark.parametrize(
    ("rule", "enabled", "overrides", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_configuration_is_refused_naming_the_problem(
    rule: str, enabled: Any, overrides: Any, message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        validate(rule, enabled, overrides)
    assert message in str(refused.value)


def test_valid_configuration_is_normalised() -> None:
    config = validate("brute_force", True, {"fast.quiet_ms": 60_000.0, "fast.capacity": 2})
    assert config == RuleConfig(True, {"fast.capacity": 2, "fast.quiet_ms": 60_000})
    assert isinstance(config.overrides["fast.quiet_ms"], int)
    assert validate("brute_force", False, {}) == RuleConfig(False, {})
    assert RuleConfig().is_default and not RuleConfig(False).is_default


def test_overrides_reach_the_detector_and_change_what_fires() -> None:
    params = effective_params("brute_force", {"fast.capacity": 2, "confidence": 2})
    assert params.fast == BucketSpec(capacity=2, leak_per_second=0.1, quiet_ms=600_000)
    assert params.slow == BruteForce.defaults.slow  # untouched
    assert params.confidence == 2
    failures = [_failure(T0 + i * 1_000) for i in range(3)]
    assert run(BruteForce(), failures) == []
    lowered = build("brute_force", RuleConfig(True, {"fast.capacity": 2}))
    assert lowered is not None
    found = run(lowered, failures)
    assert [(d.rule, d.count) for d in found] == [("brute_force", 3)]
    assert build("brute_force", RuleConfig(False)) is None


def test_severity_override() -> None:
    detector = build("sql_injection", RuleConfig(True, {"certain_severity": "critical"}))
    assert isinstance(detector, SqlInjection)
    assert detector.params.certain_severity is Severity.CRITICAL


def test_build_set_skips_disabled_rules_and_keeps_registry_order() -> None:
    running = build_set({"xss_probe": RuleConfig(False), "brute_force": RuleConfig(True, {"confidence": 1})})
    rules = [d.rule for d in running]
    assert rules == [d.rule for d in default_detectors(1) if d.rule != "xss_probe"]


def test_stored_configuration_keeps_what_is_still_valid() -> None:
    config, problems = from_stored("brute_force", True, {"fast.capacity": 3, "gone": 1, "confidence": 9})
    assert config == RuleConfig(True, {"fast.capacity": 3})
    assert problems == [
        "brute_force: parameters.gone: unknown parameter, ignored",
        "brute_force: parameters.confidence: must be between 1 and 3, ignored",
    ]


def test_command_line_assignments_are_read_by_type() -> None:
    assert parse_assignment("brute_force", "fast.capacity=2.5") == ("fast.capacity", 2.5)
    assert parse_assignment("brute_force", "fast.capacity=2") == ("fast.capacity", 2)
    assert parse_assignment("brute_force", "fast.quiet_ms = 60000") == ("fast.quiet_ms", 60_000)
    assert parse_assignment("http_probing", "severity=high") == ("severity", "high")
    for text, message in [
        ("fast.capacity", "write NAME=VALUE"),
        ("fast.quiet_ms=1.5", "fast.quiet_ms: must be an integer, not '1.5'"),
        ("fast.capacity=lots", "fast.capacity: must be a number, not 'lots'"),
        ("nope=1", "parameters.nope: unknown parameter of brute_force"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_assignment("brute_force", text)


def test_describe_lists_defaults_overrides_and_effective_values() -> None:
    item = describe("brute_force", RuleConfig(True, {"fast.capacity": 2}))
    assert item["rule"] == "brute_force"
    assert item["enabled"] is True and item["customized"] is True
    assert item["defaults"]["fast.capacity"] == 5
    assert item["overrides"] == {"fast.capacity": 2}
    assert item["effective"]["fast.capacity"] == 2
    assert item["effective"]["slow.capacity"] == 10
    assert set(item["parameters"]) == set(item["defaults"])
    assert item["description"].startswith("Many failed logins for one account")
    assert describe("brute_force")["customized"] is False


def _failure(at_ms: int) -> Signal:
    return Signal(
        at_ms=at_ms,
        project_id=1,
        event_id=f"f{at_ms}",
        category="authentication",
        name="authn_login_fail",
        client_ip="203.0.113.5",
        user_id="alice",
    )
