"""Channel kinds: the config model each takes, whether it takes a recipient, how it is built.

The API validates configs here (a clear message naming the field), the store keeps the
stored form, and the delivery worker builds Channel instances from stored configs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from syncmon.channels.apprise_channel import AppriseChannel, AppriseConfig
from syncmon.channels.base import Channel
from syncmon.channels.config import ChannelConfig, e164, email_address, merge_patch, shown_form, stored_form
from syncmon.channels.email import EmailChannel, EmailConfig
from syncmon.channels.pagerduty import PagerDutyChannel, PagerDutyConfig
from syncmon.channels.slack import SlackChannel, SlackConfig
from syncmon.channels.sms import SmsChannel, SmsConfig
from syncmon.channels.webhook import WebhookChannel, WebhookConfig
from syncmon.clock import Clock


class ChannelConfigError(ValueError):
    """A channel config (or recipient) is not valid; the message names the field."""

    def __init__(self, message: str, field: str = "config") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What a channel may need besides its config: shared HTTP client, clock, recipient."""

    http: httpx.AsyncClient
    clock: Clock
    recipient: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelKind:
    name: str
    config: type[ChannelConfig]
    build: Callable[[Any, BuildContext], Channel]
    recipient: Callable[[str], str] | None = None  # validates a recipient override, if the kind takes one


KINDS: dict[str, ChannelKind] = {
    kind.name: kind
    for kind in (
        ChannelKind("slack", SlackConfig, lambda c, ctx: SlackChannel(c, ctx.http)),
        ChannelKind("pagerduty", PagerDutyConfig, lambda c, ctx: PagerDutyChannel(c, ctx.http)),
        ChannelKind(
            "email", EmailConfig, lambda c, ctx: EmailChannel(c, ctx.clock, ctx.recipient), email_address
        ),
        ChannelKind("webhook", WebhookConfig, lambda c, ctx: WebhookChannel(c, ctx.http, ctx.clock)),
        ChannelKind("sms", SmsConfig, lambda c, ctx: SmsChannel(c, ctx.http, ctx.recipient), e164),
        ChannelKind("apprise", AppriseConfig, lambda c, ctx: AppriseChannel(c)),
    )
}


def kind_of(name: str) -> ChannelKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ChannelConfigError(f"kind: must be one of {', '.join(sorted(KINDS))}", "kind") from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors()[:3]:
        where = ".".join(str(part) for part in ("config", *error["loc"]))
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    if exc.error_count() > 3:
        problems.append(f"and {exc.error_count() - 3} more")
    return "; ".join(problems)


def parse_config(kind: str, raw: Any) -> ChannelConfig:
    if not isinstance(raw, dict):
        raise ChannelConfigError("config: expected a JSON object")
    try:
        return kind_of(kind).config.model_validate(raw)
    except ValidationError as exc:
        raise ChannelConfigError(_describe(exc)) from None


def store_config(kind: str, raw: Any) -> dict[str, Any]:
    """Validate `raw` and return what the store keeps."""
    return stored_form(parse_config(kind, raw))


def show_config(kind: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The stored config with its secrets masked."""
    return shown_form(kind_of(kind).config.model_validate(stored))


def patch_config(kind: str, stored: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply a partial update (masked secrets sent back unchanged keep their values)."""
    if not isinstance(patch, dict):
        raise ChannelConfigError("config: expected a JSON object")
    return store_config(kind, merge_patch(stored, show_config(kind, stored), patch))


def check_recipient(kind: str, recipient: str) -> str:
    validate = kind_of(kind).recipient
    if validate is None:
        raise ChannelConfigError(f"recipient: a {kind} channel has a fixed destination", "recipient")
    try:
        return validate(recipient)
    except ValueError as exc:
        raise ChannelConfigError(f"recipient: {exc}", "recipient") from None


def build_channel(kind: str, stored: dict[str, Any], context: BuildContext) -> Channel:
    entry = kind_of(kind)
    return entry.build(entry.config.model_validate(stored), context)
