"""The `syncmon` command: serve, migrate, projects, users, API tokens, detector configuration and
the settings reference.

Every command reads the same settings as `serve` (flags, SYNCMON_* variables,
syncmon.toml), so `--data-dir` or `SYNCMON_DATABASE_URL` point them all at one store.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from typing import Any

import click
import orjson
from sqlalchemy.engine import Connection, Engine

from syncmon.alerting import rule_store
from syncmon.alerting.provisioning import apply_file
from syncmon.alerting.spec import RuleError
from syncmon.bootstrap import prepare_store, provision_rules
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
from syncmon.store import accounts, login_throttle, migrate, projects, users
from syncmon.store import sessions as session_store
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
    # What is loaded by now (modules, classes, functions: about 100,000 objects) lives as
    # long as the process; frozen, full garbage collections stop walking it, which took
    # 45-60 ms each and showed in the pages' p95 (the 30-day Security page: 97 -> 50 ms).
    gc.collect()
    gc.freeze()
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


@main.group()
def user() -> None:
    """Dashboard users: create, list, change roles, disable; recovery (second factor, lockout).

    Every change is written to the audit log (actor "cli") and recorded as a security event
    of the monitor's own project, like the same change made in the dashboard.
    """


def _record_own_event(
    settings: Settings, engine: Engine, name: str, message: str, details: dict[str, Any]
) -> None:
    """Store a security event of the monitor's own project through a writer with every hook,
    as the server would (a running server's detectors see it when they next replay)."""
    import asyncio

    from syncmon.app import new_writer
    from syncmon.events import Level
    from syncmon.web.auth.recorder import Origin, own_event

    now = SystemClock().now_ms()
    with engine.begin() as conn:
        own = projects.ensure_project(conn, settings.monitor_project, now)
    event = own_event(
        own.id,
        name,
        Origin(client_ip=None, user_agent=None, path="cli"),
        "cli",
        now,
        level=Level.WARNING,
        message=message,
        details={"source": "cli", "actor": "cli", **details},
    )
    writer = new_writer(engine, settings)
    writer.start()
    try:
        asyncio.run(writer.write([event]))
    finally:
        writer.stop()


def _new_password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated): one line of standard input, or a generated one."""
    if not from_stdin:
        return accounts.generate_password(), True
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        users.check_password(password)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    return password, False


def _user_change(
    obj: Context,
    email: str,
    apply: Callable[[Connection, users.User, int], dict[str, Any]],
    action: str,
    event_name: str,
    describe: str,
) -> users.User:
    """Apply a change to one user with its audit row in one transaction, then record the event."""
    settings, engine = obj.store()
    now = SystemClock().now_ms()
    try:
        with engine.begin() as conn:
            target = users.require_user(conn, email)
            details = apply(conn, target, now)
            accounts.record_audit(conn, now, "cli", action, target.email, details)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    _record_own_event(
        settings,
        engine,
        event_name,
        f"dashboard user {target.email}: {describe} (cli)",
        {"target": target.email, "change": action.removeprefix("user."), **details},
    )
    return target


@user.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(accounts.ROLES), default="viewer", show_default=True)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (else one is generated)."
)
@pass_context
def user_create(obj: Context, email: str, role: str, password_stdin: bool) -> None:
    """Create a dashboard user; a generated password is printed once."""
    settings, engine = obj.store()
    password, generated = _new_password(password_stdin)
    now = SystemClock().now_ms()
    try:
        with engine.begin() as conn:
            user_id = accounts.create_user(conn, email, password, role, now)
            created = users.require_user(conn, user_id)
            accounts.record_audit(conn, now, "cli", "user.create", created.email, {"role": role})
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    _record_own_event(
        settings,
        engine,
        "user_created",
        f"dashboard user {created.email} ({role}) created (cli)",
        {"target": created.email, "account_id": created.id, "role": role},
    )
    if generated:
        _say(f"user {created.email} ({role}) created; the password is shown only this once:")
        click.echo(password)
    else:
        _say(f"user {created.email} ({role}) created")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def user_list(obj: Context, as_json: bool) -> None:
    """List dashboard users with role, status and second factor (never passwords)."""
    _, engine = obj.store()
    now = SystemClock().now_ms()
    with engine.connect() as conn:
        found = users.list_users(conn)
        locks = login_throttle.locked_accounts(conn, now)
    rows = [
        {
            "id": u.id,
            "email": u.email,
            "role": u.role,
            "disabled": u.disabled,
            "locked_until_ms": locks.get(login_throttle.account_subject(u.email)),
            "totp": u.totp_enabled,
            "created_ms": u.created_ms,
            "last_login_ms": u.last_login_ms,
        }
        for u in found
    ]
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    for row in rows:
        state = "disabled" if row["disabled"] else "locked" if row["locked_until_ms"] else "active"
        second = "2fa" if row["totp"] else "-"
        click.echo(f"{row['id']}  {row['email']}  {row['role']}  {state}  {second}")


@user.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(accounts.ROLES))
@pass_context
def user_set_role(obj: Context, email: str, role: str) -> None:
    """Make a user an admin or a viewer (the last active admin stays an admin)."""

    def apply(conn: Connection, target: users.User, now: int) -> dict[str, Any]:
        users.set_role(conn, target.id, role)
        return {"from": target.role, "to": role}

    target = _user_change(obj, email, apply, "user.set_role", "authz_change", f"role set to {role}")
    click.echo(f"{target.email} is now {role}")


@user.command("disable")
@click.argument("email")
@pass_context
def user_disable(obj: Context, email: str) -> None:
    """Disable a user: their sessions end and they cannot log in (the last active admin stays)."""

    def apply(conn: Connection, target: users.User, now: int) -> dict[str, Any]:
        users.set_disabled(conn, target.id, True)
        return {"sessions_ended": session_store.delete_user_sessions(conn, target.id)}

    target = _user_change(obj, email, apply, "user.disable", "user_updated", "disabled")
    click.echo(f"{target.email} disabled")


@user.command("enable")
@click.argument("email")
@pass_context
def user_enable(obj: Context, email: str) -> None:
    """Enable a disabled user again."""

    def apply(conn: Connection, target: users.User, now: int) -> dict[str, Any]:
        users.set_disabled(conn, target.id, False)
        return {}

    target = _user_change(obj, email, apply, "user.enable", "user_updated", "enabled")
    click.echo(f"{target.email} enabled")


@user.command("disable-totp")
@click.argument("email")
@pass_context
def user_disable_totp(obj: Context, email: str) -> None:
    """Turn a user's second factor off (a lost device); they log in with the password alone."""

    def apply(conn: Connection, target: users.User, now: int) -> dict[str, Any]:
        if not users.disable_totp(conn, target.id):
            raise AccountError(f"{target.email} has no second factor")
        return {"sessions_ended": session_store.delete_user_sessions(conn, target.id)}

    target = _user_change(obj, email, apply, "user.totp_disable", "user_updated", "second factor turned off")
    click.echo(f"two-factor authentication of {target.email} turned off")


@user.command("unlock")
@click.argument("email")
@pass_context
def user_unlock(obj: Context, email: str) -> None:
    """Clear a login lockout of an account."""

    def apply(conn: Connection, target: users.User, now: int) -> dict[str, Any]:
        return {"was_locked": login_throttle.clear(conn, login_throttle.account_subject(target.email))}

    target = _user_change(obj, email, apply, "user.unlock", "user_updated", "login lock cleared")
    click.echo(f"{target.email} unlocked")


@user.command("set-password")
@click.argument("email")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (else one is generated)."
)
@pass_context
def user_set_password(obj: Context, email: str, password_stdin: bool) -> None:
    """Set a user's password (recovery); their sessions end. A generated one is printed once."""
    password, generated = _new_password(password_stdin)
    password_hash = accounts.hash_password(password)

    def apply(conn: Connection, target: users.User, now: int) -> dict[str, Any]:
        users.set_password_hash(conn, target.id, password_hash, now)
        return {"sessions_ended": session_store.delete_user_sessions(conn, target.id)}

    target = _user_change(obj, email, apply, "user.set_password", "user_updated", "password set")
    if generated:
        _say(f"password of {target.email} set; it is shown only this once:")
        click.echo(password)
    else:
        _say(f"password of {target.email} set")


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
