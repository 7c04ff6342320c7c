"""The seed's payloads as validation models: what `/api/monitoring/*` accepts.

Models are lenient where the seed's clients are loose (extra fields are kept, long
strings are clipped rather than refused) and strict where a wrong type would store
nonsense (a non-numeric metric value, a line number that is text).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

Timestamp = str | int | float | None
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _clip(limit: int) -> BeforeValidator:
    def clip(value: Any) -> Any:
        return value[:limit] if isinstance(value, str) else value

    return BeforeValidator(clip)


ShortText = Annotated[str | None, _clip(2048)]
LongText = Annotated[str | None, _clip(65_536)]
Message = Annotated[str | None, _clip(8192)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=False, allow_inf_nan=False)

    event_id: UUID | None = None
    timestamp: Timestamp = None
    url: ShortText = None
    user_id: Annotated[str | None, _clip(200)] = None
    session_id: Annotated[str | None, _clip(200)] = None
    client_ip: Annotated[str | None, _clip(64)] = None
    user_agent: Annotated[str | None, _clip(512)] = None
    release: Annotated[str | None, _clip(200)] = None
    environment: Annotated[str | None, _clip(64)] = None


class ErrorPayload(_Payload):
    """ErrorMonitoring.trackError in the seed: window errors, rejections, CSP violations."""

    type: Name = "javascript_error"
    message: Message = None
    filename: ShortText = None
    lineno: int | None = Field(default=None, ge=0)
    colno: int | None = Field(default=None, ge=0)
    stack: LongText = None
    violated_directive: ShortText = None
    blocked_uri: ShortText = None
    level: str | None = None
    fingerprint: list[Annotated[str, _clip(200)]] | None = Field(default=None, max_length=20)


class SecurityPayload(_Payload):
    """SecurityAnalytics.trackSecurityEvent in the seed, plus the subject of the event."""

    event_type: Name
    severity: str | None = None
    auth_event: ShortText = None
    authz_event: ShortText = None
    data_event: ShortText = None
    api_event: ShortText = None
    category: Annotated[str | None, _clip(64)] = None
    target: ShortText = None


class PageViewPayload(_Payload):
    """VercelAnalytics.trackPageView: a page and where the visitor came from."""

    url: Annotated[str, _clip(2048), StringConstraints(min_length=1)]
    referrer: ShortText = None
    title: ShortText = None


class CustomPayload(_Payload):
    """VercelAnalytics.trackCustomEvent: any named event with properties."""

    name: Name


class RequestPayload(_Payload):
    """One HTTP request a server handled (the Python SDK's middleware): API timings and
    the 401/403/404s that security detection reads."""

    method: Annotated[
        str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=16)
    ]
    route: Annotated[str | None, _clip(512)] = None
    status: int = Field(ge=100, le=599)
    duration_ms: float = Field(ge=0)


class PerformancePayload(_Payload):
    """VercelAnalytics.trackPerformance / PerformanceMonitoring: one named measurement."""

    metric: Name
    value: float = Field(ge=0)
    unit: Annotated[str | None, _clip(16)] = None
