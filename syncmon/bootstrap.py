"""First start: migrate the store, create the `syncscript` project, the monitor's own project
(`monitor_project`, where the dashboard's security events go) and the first admin.

Every start also gives each project the default alert rules it does not have yet
(syncmon.alerting.defaults), and `syncmon serve` applies the `rules_file` setting.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine

from syncmon.alerting.defaults import seed_all_projects
from syncmon.alerting.provisioning import ApplyResult, apply_file
from syncmon.clock import Clock
from syncmon.settings import Settings
from syncmon.store import accounts, migrate, projects
from syncmon.store.engine import create_store_engine

DEFAULT_PROJECT = "syncscript"


def open_store(settings: Settings) -> Engine:
    return create_store_engine(
        settings.effective_database_url, sqlite_synchronous=settings.sqlite_synchronous
    )


def prepare_store(settings: Settings, clock: Clock, say: Callable[[str], None]) -> Engine:
    """Bring the store to the current schema and seed an empty one; safe to run every start."""
    engine = open_store(settings)
    before, after = migrate.upgrade(engine)
    if before != after:
        say(f"store migrated from {before or 'empty'} to {after}")
    with engine.begin() as conn:
        if not projects.list_projects(conn):
            project = projects.create_project(conn, DEFAULT_PROJECT, clock.now_ms())
            say(f"created project {project.slug!r} (public key {project.public_key})")
        if settings.monitor_project not in {p.slug for p in projects.list_projects(conn)}:
            own = projects.ensure_project(conn, settings.monitor_project, clock.now_ms())
            say(
                f"created project {own.slug!r}: this server's own logins and admin changes are recorded there"
            )
        if accounts.count_users(conn) == 0:
            password = settings.admin_password or accounts.generate_password()
            accounts.create_user(conn, settings.admin_email, password, "admin", clock.now_ms())
            accounts.record_audit(conn, clock.now_ms(), "system", "user.create", settings.admin_email)
            if settings.admin_password:
                say(f"created admin {settings.admin_email} with the password from SYNCMON_ADMIN_PASSWORD")
            else:
                say(f"created admin {settings.admin_email} with password: {password}")
                say("this password is shown only once; change it after logging in")
        seeded = seed_all_projects(conn, clock.now_ms())
        if seeded:
            say(f"created {seeded} default alert rules")
    return engine


def provision_rules(settings: Settings, engine: Engine, clock: Clock) -> ApplyResult | None:
    """Apply the `rules_file` setting, if any (raises RuleError naming what is wrong)."""
    if not settings.rules_file:
        return None
    with engine.begin() as conn:
        return apply_file(conn, settings.rules_file, clock.now_ms())
