"""The `syncmon` command: serve, migrate, projects, API tokens and the settings reference.

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

from syncmon.alerting import rule_store
from syncmon.alerting.provisioning import apply_file
from syncmon.alerting.spec import RuleError
from syncmon.bootstrap import prepare_store, provision_rules
from syncmon.clock import SystemClock
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
    try:
        applied = provision_rules(settings, engine, SystemClock())
    except RuleError as exc:
        raise click.ClickException(f"rules file {settings.rules_file}: {exc}") from None
    if applied is not None:
        _say(f"rules file {settings.rules_file}: {applied.summary()}")
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
def rules() -> None:
    """Alert rules: apply a rules.yaml, list the rules."""


@rules.command("apply")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Validate and show what would change; write nothing.")
@pass_context
def rules_apply(obj: Context, path: str, dry_run: bool) -> None:
    """Make the file's rules the store's file rules (API and default rules stay)."""
    _, engine = obj.store()
    now = SystemClock().now_ms()
    try:
        with engine.begin() as conn:
            result = apply_file(conn, path, now, dry_run=dry_run)
            if not dry_run:
                accounts.record_audit(
                    conn, now, "cli", "alert_rules.apply", path, {"summary": result.summary()}
                )
    except RuleError as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    for verb, names in (("create", result.created), ("update", result.updated), ("delete", result.deleted)):
        for name in names:
            click.echo(f"{verb}  {name}")
    click.echo(("would be: " if dry_run else "") + result.summary())


@rules.command("list")
@click.option("--project", default=None, help="Only this project's rules (slug or id).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def rules_list(obj: Context, project: str | None, as_json: bool) -> None:
    """List alert rules with their kind, severity and source."""
    _, engine = obj.store()
    with engine.connect() as conn:
        project_id = None
        if project is not None:
            found = projects.find_project(conn, project)
            if found is None:
                raise click.ClickException(f"no project {project!r}")
            project_id = found.id
        listed = rule_store.list_rules(conn, project_id)
    if as_json:
        click.echo(orjson.dumps([r.describe() for r in listed], option=orjson.OPT_INDENT_2).decode())
        return
    for rule in listed:
        state = "" if rule.enabled else "  (disabled)"
        kind, severity = rule.spec.kind, rule.spec.severity.value
        click.echo(f"{rule.id}  {rule.project}  {rule.name}  {kind}  {severity}  {rule.source}{state}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
