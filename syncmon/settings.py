"""One table of settings feeding env vars, the TOML file, CLI flags and the docs.

Each field of `Settings` is a row: its name, its type (the annotation), its default and
its help text. `load_settings` layers the sources: defaults < `syncmon.toml` <
`SYNCMON_*` environment variables < CLI flags, and a bad value fails with the
setting's name in the message.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from limits import parse as parse_rate_limit

ENV_PREFIX = "SYNCMON_"
DEFAULT_CONFIG_FILE = "syncmon.toml"


class SettingsError(ValueError):
    """A setting has a value it cannot take; the message names the setting."""


def _row(default: Any, help_text: str, *, choices: tuple[str, ...] = (), secret: bool = False) -> Any:
    meta = {"help": help_text, "choices": choices, "secret": secret}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    host: str = _row("127.0.0.1", "Address the HTTP server listens on.")
    port: int = _row(8000, "TCP port the HTTP server listens on.")
    data_dir: str = _row("./syncmon-data", "Directory for the embedded SQLite database.")
    database_url: str = _row(
        "",
        "SQLAlchemy-style URL of the store; empty means SQLite at <data_dir>/syncmon.db. "
        "Use postgresql://user@host:port/db for PostgreSQL.",
        secret=True,
    )
    public_url: str = _row(
        "", "Base URL users reach the server at (for DSNs and links); empty means http://host:port."
    )
    admin_email: str = _row("admin@localhost", "Email of the admin account created on first start.")
    admin_password: str = _row(
        "",
        "Password of the first admin; empty means one is generated and printed once.",
        secret=True,
    )
    retention_days: int = _row(30, "Raw events older than this many days are deleted.")
    rollup_retention_days: int = _row(
        400,
        "Daily rollups older than this are deleted (hourly ones after at most 90 days, per-minute ones 7).",
    )
    retention_interval_seconds: float = _row(60.0, "Pause between background retention passes.")
    retention_batch_size: int = _row(1000, "Rows deleted per retention step (small steps keep ingest fast).")
    trusted_proxies: list[str] = _row(
        [],
        "Comma-separated IPs or CIDR networks of reverse proxies whose X-Forwarded-For / "
        "Forwarded headers are believed.",
    )
    proxy_header: str = _row(
        "x-forwarded-for",
        "The one header trusted proxies set and the server reads: x-forwarded-for, or forwarded "
        "(RFC 7239). The other is ignored, so a client cannot smuggle its own.",
        choices=("x-forwarded-for", "forwarded"),
    )
    max_body_bytes: int = _row(
        5_242_880, "Largest request body accepted as sent (compressed); SDK batches reach 5 MB."
    )
    max_decompressed_bytes: int = _row(
        20_971_520, "Largest request body accepted after decompression; larger gets 413."
    )
    max_batch_events: int = _row(1000, "Most events accepted in one batch request.")
    rate_limit_per_key: str = _row(
        "5000/second", "Ingest requests allowed per project key (limits notation, e.g. 100/minute)."
    )
    rate_limit_per_ip: str = _row(
        "300/second",
        "Ingest requests allowed per client IP with a public key (secret-key callers are servers "
        "and are limited per key only).",
    )
    commit_max_batch: int = _row(2000, "Most events the writer commits in one transaction.")
    sqlite_synchronous: str = _row(
        "FULL",
        "SQLite synchronous pragma: FULL survives power loss, NORMAL survives process crashes only.",
        choices=("FULL", "NORMAL"),
    )
    future_timestamp_tolerance_seconds: float = _row(
        300.0, "Client timestamps further than this in the future are replaced by the receive time."
    )
    feed_queue_batches: int = _row(
        256, "Committed batches buffered per live subscriber before it falls back to the store."
    )
    threat_window_seconds: int = _row(
        3600, "Detections whose last event is this recent count towards the threat level."
    )
    security_replay_seconds: int = _row(
        3600, "On start, events this recent are replayed through the detectors to rebuild their windows."
    )
    alert_eval_interval_seconds: float = _row(
        5.0,
        "Every rule is evaluated this often (sliding windows, `for`, heartbeats); rules are also "
        "evaluated on every committed batch that touches them.",
    )
    alert_replay_seconds: int = _row(
        3600, "On start, events this recent are replayed through the alert rules to rebuild their windows."
    )
    alert_history_days: int = _row(90, "Alert state changes older than this are deleted from the history.")
    rules_file: str = _row(
        "",
        "A rules.yaml applied by `syncmon serve` at start: its rules replace the previous file's "
        "(API-created and default rules stay).",
    )
    alert_link_secret: str = _row(
        "",
        "Secret that signs the acknowledge/resolve links in notifications; empty means one is "
        "generated on first start and kept in the database.",
        secret=True,
    )
    alert_link_ttl_seconds: int = _row(
        86_400, "How long the acknowledge/resolve links in a notification stay valid."
    )
    alerting_tick_seconds: float = _row(
        1.0,
        "Pause between alerting passes (group timers, escalation steps, silence and maintenance "
        "changes); alert state changes are handled at once.",
    )
    incident_retention_days: int = _row(
        400,
        "Resolved incidents (with their timelines), expired silences and past maintenance windows "
        "older than this are deleted.",
    )
    security_config_poll_seconds: float = _row(
        10.0,
        "How often the detectors re-read their per-project configuration from the store, for "
        "changes made by `syncmon detector` or another instance (API changes apply at once).",
    )
    log_level: str = _row("info", "Log level.", choices=("debug", "info", "warning", "error"))
    monitor_project: str = _row(
        "syncmon",
        "Slug of the monitor's own project: dashboard logins, lockouts and admin changes are recorded "
        "there as security events, so the detectors watch the dashboard too. Created at start if missing.",
    )
    session_cookie_name: str = _row(
        "syncmon_session",
        "Name of the dashboard's session cookie (behind TLS, __Host-syncmon_session pins it to the host).",
    )
    session_lifetime_minutes: int = _row(720, "A dashboard session ends this long after login, used or not.")
    session_idle_minutes: int = _row(120, "A dashboard session unused for this long ends.")
    session_cookie_secure: str = _row(
        "auto",
        "Secure flag of the session cookie: auto sets it when the request came over HTTPS (directly, or "
        "per X-Forwarded-Proto / Forwarded proto= from a trusted proxy); always sets it on every response.",
        choices=("auto", "always"),
    )
    session_cookie_samesite: str = _row(
        "lax",
        "SameSite attribute of the session cookie: lax lets links from mail and chat open the dashboard "
        "logged in; strict does not. State-changing requests need the CSRF token either way.",
        choices=("lax", "strict"),
    )
    login_max_failures: int = _row(
        5, "Failed logins (password or second factor) on one account within the window that lock it."
    )
    login_max_failures_per_ip: int = _row(
        20, "Failed logins from one client IP within the window that block that IP from logging in."
    )
    login_failure_window_minutes: int = _row(15, "Window in which failed logins are counted.")
    login_lockout_minutes: int = _row(15, "How long a locked account or blocked IP stays refused.")
    live_heartbeat_seconds: float = _row(
        15.0, "Pause after which the live-update stream sends a heartbeat when nothing was committed."
    )
    live_stream_max_seconds: float = _row(
        300.0, "A live-update stream ends after this long and the browser reconnects (bounds shutdown)."
    )
    outbox_max_attempts: int = _row(
        8, "Attempts to deliver a notification through one channel before it is marked failed."
    )
    outbox_backoff_initial_seconds: float = _row(
        5.0, "Wait after the first failed delivery attempt; it doubles with each further failure."
    )
    outbox_backoff_max_seconds: float = _row(300.0, "Longest wait between two delivery attempts.")
    outbox_fallback_after_attempts: int = _row(
        3,
        "Failed attempts after which a notification moves to the channel's fallback channel "
        "(at once when the receiver refuses it outright).",
    )
    outbox_send_timeout_seconds: float = _row(30.0, "Longest one delivery attempt may take.")
    outbox_poll_seconds: float = _row(
        5.0, "How often the delivery worker looks for due notifications when nothing wakes it."
    )
    outbox_retention_days: int = _row(
        30, "Delivered and failed notifications and their log are kept this long."
    )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'syncmon.db'}"

    @property
    def effective_public_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"


def setting_fields() -> tuple[Field[Any], ...]:
    return fields(Settings)


def setting_type(f: Field[Any]) -> Any:
    return typing.get_type_hints(Settings)[f.name]


def default_value(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    factory = typing.cast(typing.Callable[[], Any], f.default_factory)
    return factory()


def cast_value(f: Field[Any], raw: Any) -> Any:
    """Turn a raw value (string from env/CLI, or TOML value) into the setting's type."""
    kind = setting_type(f)
    try:
        value = _cast(kind, raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {f.name!r}: {raw!r} is not a valid {_type_name(kind)}: {exc}") from None
    choices = f.metadata.get("choices") or ()
    if choices:
        value = value.upper() if choices[0].isupper() else value.lower()
        if value not in choices:
            raise SettingsError(f"setting {f.name!r}: {raw!r} is not one of {', '.join(choices)}")
    _check(f.name, value)
    return value


def _cast(kind: Any, raw: Any) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true or false")
    if kind is int:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError("expected a whole number")
        if isinstance(raw, float):
            return int(raw)
        return int(str(raw).strip().replace("_", ""))
    if kind is float:
        if isinstance(raw, bool):
            raise ValueError("expected a number")
        return float(str(raw).strip())
    if kind == list[str]:
        items = raw if isinstance(raw, list) else str(raw).split(",")
        return [str(item).strip() for item in items if str(item).strip()]
    if not isinstance(raw, str | int | float):
        raise ValueError("expected a string")
    return str(raw)


def _type_name(kind: Any) -> str:
    return "comma-separated list" if kind == list[str] else getattr(kind, "__name__", str(kind))


def _check(name: str, value: Any) -> None:
    """Range checks for individual settings, so a bad value fails at start."""
    positive = {
        "port",
        "retention_days",
        "rollup_retention_days",
        "retention_batch_size",
        "max_body_bytes",
        "max_decompressed_bytes",
        "max_batch_events",
        "commit_max_batch",
        "feed_queue_batches",
        "outbox_max_attempts",
        "outbox_backoff_initial_seconds",
        "outbox_backoff_max_seconds",
        "outbox_fallback_after_attempts",
        "outbox_send_timeout_seconds",
        "outbox_poll_seconds",
        "outbox_retention_days",
        "alert_eval_interval_seconds",
        "alert_replay_seconds",
        "alert_history_days",
        "alert_link_ttl_seconds",
        "alerting_tick_seconds",
        "incident_retention_days",
        "session_lifetime_minutes",
        "session_idle_minutes",
        "login_max_failures",
        "login_max_failures_per_ip",
        "login_failure_window_minutes",
        "login_lockout_minutes",
        "live_heartbeat_seconds",
        "live_stream_max_seconds",
    }
    if name in positive and value <= 0:
        raise SettingsError(f"setting {name!r}: must be greater than 0, got {value}")
    if name == "port" and value > 65535:
        raise SettingsError(f"setting 'port': {value} is not a TCP port")
    if name in ("rate_limit_per_key", "rate_limit_per_ip"):
        try:
            parse_rate_limit(value)
        except ValueError:
            raise SettingsError(
                f"setting {name!r}: {value!r} is not a rate like '100/second' or '5000/minute'"
            ) from None
    if name == "trusted_proxies":
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise SettingsError(f"setting 'trusted_proxies': {item!r} is not an IP or CIDR") from None
    if name == "monitor_project" and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", value):
        raise SettingsError(f"setting 'monitor_project': {value!r} is not a project slug (a-z, 0-9, dashes)")
    if name == "session_cookie_name" and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        raise SettingsError(f"setting 'session_cookie_name': {value!r} is not a cookie name (A-Z, 0-9, _ -)")
    if name == "database_url" and value and not value.startswith(("sqlite", "postgresql", "postgres")):
        raise SettingsError("setting 'database_url': only sqlite:// and postgresql:// URLs are supported")


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Settings:
    """Build Settings from defaults, the TOML file, the environment and explicit overrides."""
    env = os.environ if environ is None else environ
    known = {f.name: f for f in setting_fields()}
    values: dict[str, Any] = {}

    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path is None and Path(DEFAULT_CONFIG_FILE).is_file():
        path = DEFAULT_CONFIG_FILE
    if path:
        try:
            with open(path, "rb") as handle:
                table = tomllib.load(handle)
        except FileNotFoundError:
            raise SettingsError(f"config file {path!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {path!r} is not valid TOML: {exc}") from None
        for key, raw in table.items():
            if key not in known:
                raise SettingsError(f"config file {path!r}: unknown setting {key!r}")
            values[key] = cast_value(known[key], raw)

    for name, f in known.items():
        raw_env = env.get(ENV_PREFIX + name.upper())
        if raw_env is not None:
            values[name] = cast_value(f, raw_env)

    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        if name not in known:
            raise SettingsError(f"unknown setting {name!r}")
        values[name] = cast_value(known[name], raw)

    for name, f in known.items():
        if name not in values:
            _check(name, default_value(f))
    return Settings(**values)


def settings_reference_markdown() -> str:
    """The generated settings reference (docs/settings.md)."""
    lines = [
        "# Settings reference",
        "",
        "Generated from `syncmon/settings.py` by `syncmon settings --markdown`; do not edit by hand.",
        "",
        "Every setting can be given as an environment variable (`SYNCMON_<NAME>`), as a key in",
        "`syncmon.toml` (in the working directory, or the file named by `SYNCMON_CONFIG` or",
        "`--config`), or as a flag of `syncmon serve` (`--name-with-dashes`). Later sources win:",
        "defaults < file < environment < flags.",
        "",
        "| name | environment variable | type | default | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in setting_fields():
        kind = _type_name(setting_type(f))
        choices = f.metadata.get("choices") or ()
        if choices:
            kind = " \\| ".join(choices)
        default = default_value(f)
        shown = ",".join(default) if isinstance(default, list) else str(default)
        shown = f"`{shown}`" if shown else "(empty)"
        env_name = ENV_PREFIX + f.name.upper()
        lines.append(f"| `{f.name}` | `{env_name}` | {kind} | {shown} | {f.metadata['help']} |")
    return "\n".join(lines) + "\n"
