"""The `syncmon` command: serve, migrate, projects, API tokens, detector configuration and
the settings reference.

Every command reads the same settings as `serve` (flags, SYNCMON_* variables,
syncmon.toml), so `--data-dir` or `SYNCMON_DATABASE_URL` point them all at one store.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
import orjson
from sqlalchemy.engine import Engine

from syncmon.bootstrap import prepare_store
from syncmon.clock import SystemClock
from syncmon.security import config_store
from syncmon.security.detector_config import ConfigError, RuleConfig, describe, parse_assignment, validate
from syncmon.security.registry import RULES
from syncmon.settings import (
    Settings,
    SettingsError,
    default_value,
    load_settings,
    setting_fields,
    setting_type,
    settings_reference_markdown,
)
from syncmon.store import accounts, migrate, projects
from syncmon.store.accounts import AccountError
from syncmon.store.projects import ProjectError


def _say(message: str) -> None:
    click.echo(message, err=True)


class Context:
    def __init__(self, overrides: dict[str, Any], config: str | None) -> None:
        self.overrides = overrides
        self.config = config

    def settings(self, extra: dict[str, Any] | None = None) -> Settings:
        try:
            return load_settings({**self.overrides, **(extra or {})}, config_file=self.config)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None

    def store(self) -> tuple[Settings, Engine]:
        settings = self.settings()
        return settings, prepare_store(settings, SystemClock(), _say)


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option("--data-dir", default=None, help="Directory of the embedded SQLite store.")
@click.option("--database-url", default=None, help="Store URL (postgresql://… or sqlite:///…).")
@click.option("--config", "config", default=None, help="TOML settings file (default ./syncmon.toml).")
@click.version_option(package_name="syncmon")
@click.pass_context
def main(ctx: click.Context, data_dir: str | None, database_url: str | None, config: str | None) -> None:
    """SyncScript Monitor: self-hosted production monitoring for web applications."""
    ctx.obj = Context({"data_dir": data_dir, "database_url": database_url}, config)


def _setting_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """One flag per setting, generated from the settings table."""
    for f in reversed(setting_fields()):
        if f.name in ("data_dir", "database_url"):
            continue
        kind = setting_type(f)
        flag = "--" + f.name.replace("_", "-")
        click_type: Any = {int: int, float: float, bool: bool}.get(kind, str)
        help_text = f"{f.metadata['help']} [default: {default_value(f)!s}]"
        command = click.option(flag, f.name, type=click_type, default=None, help=help_text)(command)
    return command


@main.command()
@_setting_options
@pass_context
def serve(obj: Context, /, **flags: Any) -> None:
    """Run the server (SQLite in --data-dir unless SYNCMON_DATABASE_URL is set)."""
    import uvicorn

    from syncmon.app import create_app

    settings = obj.settings(flags)
    engine = prepare_store(settings, SystemClock(), _say)
    app = create_app(settings, engine)
    _say(f"SyncScript Monitor listening on http://{settings.host}:{settings.port}")
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,  # the app resolves client IPs itself, from trusted proxies only
        server_header=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=10,
    )


@main.command("migrate")
@pass_context
def migrate_command(obj: Context) -> None:
    """Upgrade the store's schema to this version (also done on every start)."""
    settings = obj.settings()
    engine = prepare_store(settings, SystemClock(), _say)
    click.echo(f"schema at revision {migrate.current_revision(engine)}")


@main.command("settings")
@click.option("--markdown", is_flag=True, help="Print the settings reference as Markdown.")
@pass_context
def settings_command(obj: Context, markdown: bool) -> None:
    """Show the effective settings (secrets hidden), or the reference with --markdown."""
    if markdown:
        click.echo(settings_reference_markdown(), nl=False)
        return
    settings = obj.settings()
    for f in setting_fields():
        value = getattr(settings, f.name)
        shown = "(set)" if f.metadata.get("secret") and value else value
        click.echo(f"{f.name} = {shown}")


@main.group()
def project() -> None:
    """Create, list and re-key projects."""


def _print_projects(found: list[projects.Project], settings: Settings, as_json: bool) -> None:
    described = [p.describe(settings.effective_public_url) for p in found]
    if as_json:
        click.echo(orjson.dumps(described, option=orjson.OPT_INDENT_2).decode())
        return
    for item in described:
        click.echo(f"{item['id']}  {item['slug']}")
        for key in ("public_key", "secret_key", "dsn", "allowed_origins", "scrub_fields"):
            click.echo(f"    {key}: {item[key]}")


@project.command("create")
@click.argument("name")
@click.option("--origin", "origins", multiple=True, help="Allowed browser origin (repeatable; default any).")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def project_create(obj: Context, name: str, origins: tuple[str, ...], as_json: bool) -> None:
    """Create a project with fresh keys."""
    settings, engine = obj.store()
    try:
        with engine.begin() as conn:
            created = projects.create_project(conn, name, SystemClock().now_ms(), list(origins) or None)
            accounts.record_audit(conn, SystemClock().now_ms(), "cli", "project.create", created.slug)
    except ProjectError as exc:
        raise click.ClickException(str(exc)) from None
    _print_projects([created], settings, as_json)


@project.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def project_list(obj: Context, as_json: bool) -> None:
    """List projects with their keys, DSN and allowed origins."""
    settings, engine = obj.store()
    with engine.connect() as conn:
        _print_projects(projects.list_projects(conn), settings, as_json)


@project.command("rotate-key")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def project_rotate(obj: Context, name: str, as_json: bool) -> None:
    """Replace a project's public and secret keys; the old ones stop working."""
    settings, engine = obj.store()
    try:
        with engine.begin() as conn:
            rotated = projects.rotate_keys(conn, name)
            accounts.record_audit(conn, SystemClock().now_ms(), "cli", "project.rotate_key", rotated.slug)
    except ProjectError as exc:
        raise click.ClickException(str(exc)) from None
    _print_projects([rotated], settings, as_json)


@project.command("update")
@click.argument("name")
@click.option("--origin", "origins", multiple=True, help="Allowed origin; replaces the list ('*' for any).")
@click.option("--scrub-field", "scrub_fields", multiple=True, help="Extra key to scrub; replaces the list.")
@pass_context
def project_update(obj: Context, name: str, origins: tuple[str, ...], scrub_fields: tuple[str, ...]) -> None:
    """Change a project's allowed origins or extra scrubbed fields."""
    settings, engine = obj.store()
    try:
        with engine.begin() as conn:
            updated = projects.update_project(
                conn, name, origins=list(origins) or None, scrub_fields=list(scrub_fields) or None
            )
            accounts.record_audit(conn, SystemClock().now_ms(), "cli", "project.update", updated.slug)
    except ProjectError as exc:
        raise click.ClickException(str(exc)) from None
    _print_projects([updated], settings, False)


@main.group()
def token() -> None:
    """API tokens for the read API."""


@token.command("create")
@click.option("--role", type=click.Choice(accounts.ROLES), required=True)
@click.option("--name", default="", help="What the token is for.")
@pass_context
def token_create(obj: Context, role: str, name: str) -> None:
    """Create a token; it is printed once and only its hash is stored."""
    _, engine = obj.store()
    with engine.begin() as conn:
        created, plain = accounts.create_token(conn, role, name, SystemClock().now_ms())
        accounts.record_audit(
            conn, SystemClock().now_ms(), "cli", "token.create", str(created.id), {"role": role}
        )
    _say(f"token {created.id} ({role}) created; it is shown only this once:")
    click.echo(plain)


@token.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def token_list(obj: Context, as_json: bool) -> None:
    """List tokens (never their values)."""
    _, engine = obj.store()
    with engine.connect() as conn:
        found = accounts.list_tokens(conn)
    rows = [
        {
            "id": t.id,
            "name": t.name,
            "role": t.role,
            "prefix": t.prefix,
            "created_ms": t.created_ms,
            "revoked": t.revoked_ms is not None,
        }
        for t in found
    ]
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    for row in rows:
        state = "revoked" if row["revoked"] else "active"
        click.echo(f"{row['id']}  {row['prefix']}…  {row['role']}  {state}  {row['name']}")


@token.command("revoke")
@click.argument("token_id", type=int)
@pass_context
def token_revoke(obj: Context, token_id: int) -> None:
    """Revoke a token by id; requests with it get 401 from then on."""
    _, engine = obj.store()
    try:
        with engine.begin() as conn:
            accounts.revoke_token(conn, token_id, SystemClock().now_ms())
            accounts.record_audit(conn, SystemClock().now_ms(), "cli", "token.revoke", str(token_id))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"token {token_id} revoked")


@main.group()
def detector() -> None:
    """Per-project detector configuration: which rules run, with which parameters.

    A running server picks changes up within security_config_poll_seconds.
    """


def _project(engine: Engine, ref: str) -> projects.Project:
    with engine.connect() as conn:
        found = projects.find_project(conn, ref)
    if found is None:
        raise click.ClickException(f"project {ref!r} not found")
    return found


def _rule(rule: str) -> str:
    if rule not in RULES:
        raise click.ClickException(f"unknown rule {rule!r}; rules are: {', '.join(RULES)}")
    return rule


def _show_rule(item: dict[str, Any]) -> None:
    state = "on " if item["enabled"] else "off"
    changed = ", ".join(
        f"{name}={value} (default {item['defaults'][name]})" for name, value in item["overrides"].items()
    )
    click.echo(f"{item['rule']:<30} {state}  {changed or 'defaults'}")


@detector.command("list")
@click.option("--project", "project_ref", required=True, help="Project slug or id.")
@click.option("--json", "as_json", is_flag=True, help="Defaults, overrides and effective values.")
@pass_context
def detector_list(obj: Context, project_ref: str, as_json: bool) -> None:
    """List the rules of a project: on or off, and the parameters it overrides."""
    _, engine = obj.store()
    found = _project(engine, project_ref)
    with engine.connect() as conn:
        stored = config_store.load_project(conn, found.id)
    items = [describe(rule, stored[rule].config if rule in stored else RuleConfig()) for rule in RULES]
    if as_json:
        listing = {"project": found.slug, "detectors": items}
        click.echo(orjson.dumps(listing, option=orjson.OPT_INDENT_2).decode())
        return
    for item in items:
        _show_rule(item)


@detector.command("set")
@click.argument("rule")
@click.option("--project", "project_ref", required=True, help="Project slug or id.")
@click.option("--enable/--disable", "enabled", default=None, help="Run the rule, or not.")
@click.option("--param", "assignments", multiple=True, metavar="NAME=VALUE", help="Override (repeatable).")
@click.option("--unset", "unset", multiple=True, metavar="NAME", help="Drop an override (repeatable).")
@pass_context
def detector_set(
    obj: Context,
    rule: str,
    project_ref: str,
    enabled: bool | None,
    assignments: tuple[str, ...],
    unset: tuple[str, ...],
) -> None:
    """Change a rule in a project; other overrides of the rule are kept.

    Example: syncmon detector set brute_force --project web --param fast.capacity=3
    """
    _, engine = obj.store()
    found = _project(engine, project_ref)
    _rule(rule)
    with engine.begin() as conn:
        current = config_store.load_project(conn, found.id).get(rule)
        config = current.config if current else RuleConfig()
        overrides = {k: v for k, v in config.overrides.items() if k not in unset}
        try:
            overrides.update(parse_assignment(rule, text) for text in assignments)
            updated = validate(rule, config.enabled if enabled is None else enabled, overrides)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        config_store.save(conn, found.id, found.slug, rule, updated, "cli", SystemClock().now_ms())
    _show_rule(describe(rule, updated))


@detector.command("reset")
@click.argument("rule")
@click.option("--project", "project_ref", required=True, help="Project slug or id.")
@pass_context
def detector_reset(obj: Context, rule: str, project_ref: str) -> None:
    """Put a rule of a project back to its defaults (on, no overrides)."""
    _, engine = obj.store()
    found = _project(engine, project_ref)
    _rule(rule)
    with engine.begin() as conn:
        changed = config_store.reset(conn, found.id, found.slug, rule, "cli", SystemClock().now_ms())
    click.echo(f"{rule}: {'reset to its defaults' if changed else 'already runs its defaults'}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
