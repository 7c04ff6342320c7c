"""Request bodies of the alerting configuration API, validated by pydantic into a 400 naming the field.

Matchers are written as `name=value` strings or Alertmanager-style objects; times as ISO
8601 or epoch numbers; durations as whole seconds. Anything unknown is refused, so a typo
in a field name is an error instead of a silently ignored setting.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from syncmon.alerting.matcher_codec import LABEL_NAME, MAX_VALUE, matchers_to_json, parse_matcher
from syncmon.alerting.routing import GROUP_BY_ALL
from syncmon.http_errors import ClientError

MAX_BODY_BYTES = 65_536
MAX_LABEL_VALUE = MAX_VALUE
WEEK_S = 7 * 86_400
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
TimeValue = str | int | float
M = TypeVar("M", bound=BaseModel)


def _matchers(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise ValueError('expected a list of matchers like ["alertname=HighErrorRate"]')
    if len(raw) > 50:
        raise ValueError("at most 50 matchers")
    parsed = []
    for index, item in enumerate(raw):
        try:
            parsed.append(parse_matcher(item))
        except ValueError as exc:
            raise ValueError(f"[{index}] {exc}") from None
    return matchers_to_json(parsed)


Matchers = Annotated[list[dict[str, Any]], BeforeValidator(_matchers)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


def _label_names(raw: list[str], allow_all: bool) -> list[str]:
    for name in raw:
        if not (LABEL_NAME.match(name) or (allow_all and name == GROUP_BY_ALL)):
            raise ValueError(f"{name[:40]!r} is not a label name")
    if len(set(raw)) != len(raw):
        raise ValueError("a label is named twice")
    return raw


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class SilenceIn(_Strict):
    matchers: Annotated[Matchers, Field(min_length=1)]
    starts_at: TimeValue | None = None
    ends_at: TimeValue | None = None
    duration_seconds: int | None = Field(default=None, ge=1, le=366 * 86_400)
    created_by: str | None = Field(default=None, max_length=320)
    comment: str = Field(min_length=1, max_length=2000)
    expire_on_resolve: bool = False

    @model_validator(mode="after")
    def _one_end(self) -> SilenceIn:
        if (self.ends_at is None) == (self.duration_seconds is None):
            raise ValueError("ends_at: give either ends_at or duration_seconds")
        return self


class TargetIn(_Strict):
    channel_id: int = Field(ge=1, le=2**31 - 1)
    user_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    contact: Literal["email", "phone"] | None = None

    @model_validator(mode="after")
    def _contact_for_users(self) -> TargetIn:
        if self.user_id is None and self.contact is not None:
            raise ValueError("contact: only a user target (one with user_id) has a contact")
        return self


class LevelIn(_Strict):
    timeout_seconds: int = Field(ge=1, le=WEEK_S)
    targets: list[TargetIn] = Field(min_length=1, max_length=50)


class PolicyIn(_Strict):
    name: Name
    project: str | None = Field(default=None, max_length=64)
    default: bool = False
    repeat: int = Field(default=0, ge=0, le=9)
    levels: list[LevelIn] = Field(min_length=1, max_length=20)


class RouteIn(_Strict):
    name: Name
    parent_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    position: int | None = Field(default=None, ge=0, le=10_000)
    matchers: Matchers = Field(default_factory=list)
    continue_matching: bool = Field(default=False, alias="continue")
    group_by: list[str] | None = Field(default=None, max_length=20)
    group_wait_seconds: int | None = Field(default=None, ge=0, le=86_400)
    group_interval_seconds: int | None = Field(default=None, ge=1, le=86_400)
    repeat_interval_seconds: int | None = Field(default=None, ge=1, le=30 * 86_400)
    policy_id: int | None = Field(default=None, ge=1, le=2**31 - 1)

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _label_names(value, allow_all=True)


class MaintenanceIn(_Strict):
    project: str = Field(min_length=1, max_length=64)
    name: Name
    matchers: Matchers = Field(default_factory=list)
    starts_at: TimeValue
    ends_at: TimeValue
    weekly: bool = False
    timezone: str = Field(default="UTC", max_length=64)
    until: TimeValue | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value[:64]!r} is not a time zone name like Europe/Berlin or UTC") from None
        return value


class InhibitRuleIn(_Strict):
    source_matchers: Annotated[Matchers, Field(min_length=1)]
    target_matchers: Annotated[Matchers, Field(min_length=1)]
    equal: list[str] = Field(default_factory=list, max_length=20)
    comment: str = Field(default="", max_length=2000)

    @field_validator("equal")
    @classmethod
    def _equal(cls, value: list[str]) -> list[str]:
        return _label_names(value, allow_all=False)


class ContactIn(_Strict):
    user_id: int = Field(ge=1, le=2**31 - 1)
    kind: Literal["phone"] = "phone"
    value: str = Field(max_length=32)

    @field_validator("value")
    @classmethod
    def _phone(cls, value: str) -> str:
        compact = re.sub(r"[\s()-]", "", value)
        if not E164.match(compact):
            raise ValueError("a phone number in international form, like +4915112345678")
        return compact


class RouteTestIn(_Strict):
    labels: dict[str, Annotated[str, Field(max_length=MAX_LABEL_VALUE)]] = Field(max_length=100)


def parse_body(raw: bytes, model: type[M]) -> M:
    """The request body as `model`, or a ClientError 400/413 naming the field."""
    if len(raw) > MAX_BODY_BYTES:
        raise ClientError(413, f"body: larger than {MAX_BODY_BYTES} bytes")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ClientError(400, "body: not valid JSON") from None
    if not isinstance(payload, dict):
        raise ClientError(400, "body: expected a JSON object")
    return validate_model(payload, model)


def validate_model(payload: dict[str, Any], model: type[M]) -> M:
    """`payload` as `model`, or a ClientError 400 naming the first bad field (`levels.0.targets`);
    the dashboard's forms build such payloads and are checked here like the API's bodies."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        if not location:  # a check across fields names its field at the start of its message
            return_field = message.split(":", 1)[0] if ":" in message else None
            raise ClientError(400, message, field=return_field) from None
        raise ClientError(400, f"{location}: {message}", field=location) from None
