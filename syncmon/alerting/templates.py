"""Summary and description templates of alert rules, rendered with Jinja2's sandbox.

Rule templates are written by any admin (API, rules.yaml), so they run in a
`SandboxedEnvironment`: no attribute access to Python internals, ranges bounded, and the
output clipped. A template that fails at render time never stops an alert: the
annotation says what went wrong instead. Syntax errors are refused when the rule is
saved (`check_template`).

Every template sees `value`, `threshold`, `labels`, `rule` (name, kind, window, severity),
`project` and, where the rule has one, `sample` (the latest event or detection behind
the value: name, message, url, level, route …) and the rule kind's own figures (burn
rates, windows); a missing variable renders as nothing. Filters beyond Jinja's own:
`percent` (0.053 → "5.3 %"), `duration` (milliseconds → "2.5 s", "3 m"), `number` (at
most 4 significant digits).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from jinja2 import TemplateError
from jinja2.nodes import Template as TemplateNode
from jinja2.runtime import ChainableUndefined
from jinja2.sandbox import SandboxedEnvironment

MAX_OUTPUT = 4000

DEFAULT_SUMMARY = {
    "count": "{{ rule.name }}: {{ value | number }} {{ rule.per_text }} in {{ project }}"
    " (threshold {{ rule.op }} {{ threshold | number }})",
    "ratio": "{{ rule.name }}: {{ value | percent }} over {{ rule.window }} in {{ project }}"
    " (threshold {{ rule.op }} {{ threshold | percent }})",
    "percentile": "{{ rule.name }}: p{{ rule.percentile | number }} is {{ value | duration }}"
    " over {{ rule.window }} in {{ project }} (threshold {{ rule.op }} {{ threshold | duration }})",
    "availability": "{{ rule.name }}: availability {{ value | percent }} over {{ rule.window }}"
    " in {{ project }} (threshold {{ rule.op }} {{ threshold | percent }})",
    "security": "{{ rule.name }}: {{ value | number }} security detections"
    "{% if labels.detection_rule %} ({{ labels.detection_rule }}){% endif %}"
    " in {{ rule.window }} in {{ project }}",
    "new_issue": "New issue in {{ project }}: {{ sample.title }}",
    "regression": "Regression in {{ project }}: {{ sample.title }}",
    "issue_frequency": "Issue {{ labels.issue_id }} in {{ project }}: {{ value | number }} events"
    " in {{ rule.window }}: {{ sample.title }}",
    "burn_rate": "{{ rule.name }}: error budget of {{ slo.objective }} % burning {{ burn_long | number }}x"
    " ({{ long }}) and {{ burn_short | number }}x ({{ short }}) in {{ project }}",
    "heartbeat": "{{ rule.name }}: no {{ labels.name or rule.selects }} event in {{ project }}"
    " for {{ (value * 1000) | duration }}",
}


def _percent(value: Any, digits: int = 1) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return str(value)
    return f"{value * 100:.{digits}f} %"


def _number(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    if not math.isfinite(value) or value == int(value):
        return str(int(value)) if math.isfinite(value) else str(value)
    return f"{value:.4g}"


def _duration(value: Any) -> str:
    """Milliseconds as a short human duration."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return str(value)
    if value < 1000:
        return f"{value:.0f} ms"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value / 1000:.3g} s"


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False, undefined=ChainableUndefined)
    env.filters["percent"] = _percent
    env.filters["number"] = _number
    env.filters["duration"] = _duration
    return env


_ENV = _environment()


def check_template(source: str) -> None:
    """Raise ValueError with Jinja's message when `source` is not a valid template."""
    if len(source) > MAX_OUTPUT:
        raise ValueError(f"at most {MAX_OUTPUT} characters")
    try:
        _parse(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise ValueError(f"template error{where}: {exc.message or exc}") from None


@functools.lru_cache(maxsize=4096)
def _parse(source: str) -> TemplateNode:
    return _ENV.parse(source)


@functools.lru_cache(maxsize=4096)
def _compiled(source: str) -> Any:
    return _ENV.from_string(source)


def render(source: str, context: dict[str, Any]) -> str:
    """The rendered template, clipped; a failure is reported in the text, never raised."""
    try:
        text = str(_compiled(source).render(context))
    except Exception as exc:  # a sandbox refusal, an undefined operation, a bad filter argument
        return f"{source[:200]} [template error: {type(exc).__name__}: {str(exc)[:200]}]"
    return text[:MAX_OUTPUT]
