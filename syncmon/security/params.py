"""Bounds on detector parameters, declared next to their defaults.

A detector's parameters are a frozen dataclass (its `defaults`). A number a project may
override is declared with `param(default, low, high)` (or `bounded(low, high)` when it has
no default), so the range an override must fall in sits beside the default and the source
note that justifies it. `syncmon.security.detector_config` reads these bounds to describe
and validate per-project overrides; a number declared without them cannot be overridden.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T", int, float)

BOUNDS = "syncmon.bounds"
DAY_MS = 86_400_000


def param(default: T, low: T, high: T) -> T:
    """A dataclass field with a default that projects may override within [low, high]."""
    field: Any = dataclasses.field(default=default, metadata={BOUNDS: (low, high)})
    return field  # type: ignore[no-any-return]


def bounded(low: float, high: float) -> Any:
    """A required dataclass field that projects may override within [low, high]."""
    return dataclasses.field(metadata={BOUNDS: (low, high)})


def bounds_of(field: dataclasses.Field[Any]) -> tuple[float, float] | None:
    """(low, high) of a field declared with `param` or `bounded`; None for the others."""
    found = field.metadata.get(BOUNDS)
    return (found[0], found[1]) if found is not None else None
