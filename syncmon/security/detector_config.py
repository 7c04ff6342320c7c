"""Per-project detector configuration: which rules run, and with which parameters.

Every rule's defaults come from its sources (the comments beside each `*Params` field);
a project may switch a rule off or override some of its numbers and severities. What may
be overridden is read from the rule's own parameter dataclass: a number declared with
`params.param` / `params.bounded` (a bucket's `capacity`, `leak_per_second`, `quiet_ms`,
`max_distinct` through `<bucket>.<field>`, windows, thresholds, confidence levels) and
every `Severity`. Curated lists (patterns, signal names, statuses) are not per-project.

Pure: validation and building only; `config_store` keeps configurations, the engine
applies them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from syncmon.security.buckets import BucketSpec
from syncmon.security.detection import Detector, Severity
from syncmon.security.detector_set import DetectorSet
from syncmon.security.params import bounds_of
from syncmon.security.registry import RULES

KINDS = {"int": "integer", "float": "number"}
Value = int | float | str


class ConfigError(ValueError):
    """A configuration that cannot be applied; the message names what is wrong."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """One rule's configuration in one project: on or off, and validated overrides."""

    enabled: bool = True
    overrides: Mapping[str, Value] = field(default_factory=dict)

    @property
    def is_default(self) -> bool:
        return self.enabled and not self.overrides


DEFAULT = RuleConfig()
ProjectConfig = Mapping[str, RuleConfig]  # rule -> configuration; a missing rule runs its defaults


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str  # "window_ms", or "<bucket>.<field>" for a bucket's fields
    kind: str  # "integer", "number" or "severity"
    default: Value
    low: float | None = None
    high: float | None = None

    def check(self, value: object) -> Value:
        """The value as stored, or ConfigError naming the parameter and what it must be."""
        where = f"parameters.{self.name}"
        if self.kind == "severity":
            choices = [s.value for s in Severity]
            if not isinstance(value, str) or value not in choices:
                raise ConfigError(f"{where}: must be one of {', '.join(choices)}", where)
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = "an integer" if self.kind == "integer" else "a number"
            raise ConfigError(f"{where}: must be {kind}", where)
        if self.kind == "integer":
            if isinstance(value, float) and not value.is_integer():
                raise ConfigError(f"{where}: must be an integer", where)
            value = int(value)
        elif not math.isfinite(value):
            raise ConfigError(f"{where}: must be a finite number", where)
        assert self.low is not None and self.high is not None
        if not self.low <= value <= self.high:
            raise ConfigError(f"{where}: must be between {_plain(self.low)} and {_plain(self.high)}", where)
        return value

    def describe(self) -> dict[str, Any]:
        if self.kind == "severity":
            return {"type": "severity", "choices": [s.value for s in Severity]}
        return {"type": self.kind, "min": _plain(self.low), "max": _plain(self.high)}


def _plain(number: float | None) -> float | int | None:
    return int(number) if isinstance(number, float) and number.is_integer() else number


def _scalar(name: str, declared: dataclasses.Field[Any], value: object) -> Parameter | None:
    if isinstance(value, Severity):
        return Parameter(name, "severity", value.value)
    bounds = bounds_of(declared)
    if bounds is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return Parameter(name, KINDS.get(str(declared.type), "number"), value, bounds[0], bounds[1])


@cache
def parameters(rule: str) -> dict[str, Parameter]:
    """The parameters of a rule a project may override, by name, in declaration order."""
    defaults = RULES[rule].defaults
    found: dict[str, Parameter] = {}
    for declared in dataclasses.fields(defaults):
        value = getattr(defaults, declared.name)
        if isinstance(value, BucketSpec):
            for inner in dataclasses.fields(value):
                nested = _scalar(f"{declared.name}.{inner.name}", inner, getattr(value, inner.name))
                if nested is not None:
                    found[nested.name] = nested
            continue
        parameter = _scalar(declared.name, declared, value)
        if parameter is not None:
            found[parameter.name] = parameter
    return found


def effective_params(rule: str, overrides: Mapping[str, Value]) -> Any:
    """The rule's parameter dataclass with the (validated) overrides applied."""
    defaults = RULES[rule].defaults
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in overrides.items():
        typed: Any = Severity(str(value)) if parameters(rule)[name].kind == "severity" else value
        outer, _, inner = name.partition(".")
        if inner:
            nested.setdefault(outer, {})[inner] = typed
        else:
            top[outer] = typed
    for outer, changes in nested.items():
        top[outer] = dataclasses.replace(getattr(defaults, outer), **changes)
    return dataclasses.replace(defaults, **top) if top else defaults


def build(rule: str, config: RuleConfig = DEFAULT) -> Detector | None:
    """A fresh detector for the rule with its configuration applied; None when it is off."""
    if not config.enabled:
        return None
    cls = RULES[rule]
    if not config.overrides:
        return cls()  # type: ignore[no-any-return]
    return cls(effective_params(rule, config.overrides))  # type: ignore[no-any-return]


def build_set(config: ProjectConfig) -> DetectorSet:
    """Every enabled rule of a project, in registry order."""
    built = (build(rule, config.get(rule, DEFAULT)) for rule in RULES)
    return DetectorSet(d for d in built if d is not None)


def check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ConfigError(f"unknown rule {rule[:64]!r}; rules are: {', '.join(RULES)}", "rule")


def validate(rule: str, enabled: object, overrides: object) -> RuleConfig:
    """A rule's configuration from untrusted input (API body, CLI), or ConfigError."""
    check_rule(rule)
    if not isinstance(enabled, bool):
        raise ConfigError("enabled: must be true or false", "enabled")
    if not isinstance(overrides, Mapping):
        raise ConfigError("parameters: must be an object of parameter names and values", "parameters")
    known = parameters(rule)
    checked: dict[str, Value] = {}
    for name, value in overrides.items():
        parameter = known.get(str(name))
        if parameter is None:
            raise ConfigError(
                f"parameters.{str(name)[:64]}: unknown parameter of {rule}; it has: {', '.join(known)}",
                f"parameters.{str(name)[:64]}",
            )
        checked[parameter.name] = parameter.check(value)
    config = RuleConfig(enabled, dict(sorted(checked.items())))
    try:
        build(rule, dataclasses.replace(config, enabled=True))
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ConfigError(f"parameters: {rule} cannot run with these values: {exc}", "parameters") from None
    return config


def parse_assignment(rule: str, text: str) -> tuple[str, Value]:
    """`NAME=VALUE` as typed on a command line, the value read by the parameter's type."""
    check_rule(rule)
    name, sep, raw = text.partition("=")
    name, raw = name.strip(), raw.strip()
    if not sep or not name:
        raise ConfigError(f"{text[:64]!r}: write NAME=VALUE, e.g. window_ms=300000")
    known = parameters(rule)
    parameter = known.get(name)
    if parameter is None:
        raise ConfigError(f"parameters.{name[:64]}: unknown parameter of {rule}; it has: {', '.join(known)}")
    value: object = raw
    try:
        if parameter.kind == "integer":
            value = int(raw)
        elif parameter.kind == "number":
            value = int(raw) if raw.lstrip("+-").isdigit() else float(raw)
    except ValueError:
        kind = "an integer" if parameter.kind == "integer" else "a number"
        raise ConfigError(f"parameters.{name}: must be {kind}, not {raw[:32]!r}") from None
    return name, parameter.check(value)


def from_stored(rule: str, enabled: bool, overrides: Mapping[str, Any]) -> tuple[RuleConfig, list[str]]:
    """A stored configuration, keeping what is still valid (a later version may have renamed
    a parameter or narrowed its range); the problems found, for the log."""
    known = parameters(rule)
    kept: dict[str, Value] = {}
    problems: list[str] = []
    for name, value in overrides.items():
        parameter = known.get(name)
        if parameter is None:
            problems.append(f"{rule}: parameters.{name}: unknown parameter, ignored")
            continue
        try:
            kept[name] = parameter.check(value)
        except ConfigError as exc:
            problems.append(f"{rule}: {exc}, ignored")
    return RuleConfig(bool(enabled), dict(sorted(kept.items()))), problems


def describe(rule: str, config: RuleConfig = DEFAULT) -> dict[str, Any]:
    """A rule as the API lists it: defaults, overrides and effective values, and what each
    parameter accepts."""
    known = parameters(rule)
    defaults = {name: p.default for name, p in known.items()}
    doc = (RULES[rule].__doc__ or "").strip().split("\n\n", 1)[0]
    return {
        "rule": rule,
        "description": " ".join(doc.split()),
        "enabled": config.enabled,
        "customized": not config.is_default,
        "defaults": defaults,
        "overrides": dict(config.overrides),
        "effective": {**defaults, **config.overrides},
        "parameters": {name: p.describe() for name, p in known.items()},
    }
