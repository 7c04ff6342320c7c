"""The `syncmon` command, run in-process with click's CliRunner against a store in tmp_path."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.engine import Engine

import syncmon.cli
from syncmon.bootstrap import DEFAULT_PROJECT, prepare_store
from syncmon.cli import main
from syncmon.settings import Settings, settings_reference_markdown
from syncmon.store import accounts, eventlog, login_throttle, migrate, projects
from syncmon.store import users as user_store
from syncmon.store.engine import create_store_engine
from syncmon.store.login_throttle import Counter
from syncmon.store.schema import audit_log, users

PASSWORD = "cli-test-password"
OWN_PROJECT = Settings().monitor_project  # the monitor's own project, created with the store


class Cli:
    """Runs `syncmon ...` with SYNCMON_* variables of its own and disposes the engines it opened."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.data_dir = tmp_path / "data"
        self.env: dict[str, str | None] = {
            "SYNCMON_DATA_DIR": str(self.data_dir),
            "SYNCMON_ADMIN_PASSWORD": PASSWORD,
        }
        self.engines: list[Engine] = []

        def recording_prepare(*args: Any, **kwargs: Any) -> Engine:
            engine = prepare_store(*args, **kwargs)
            self.engines.append(engine)
            return engine

        monkeypatch.setattr(syncmon.cli, "prepare_store", recording_prepare)

    def run(
        self, *args: str, ok: bool = True, env: dict[str, str | None] | None = None, input: str | None = None
    ) -> Result:
        result = CliRunner().invoke(main, list(args), env={**self.env, **(env or {})}, input=input)
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return orjson.loads(self.run(*args).stdout)

    def engine(self, url: str | None = None) -> Engine:
        engine = create_store_engine(url or f"sqlite:///{self.data_dir.resolve() / 'syncmon.db'}")
        self.engines.append(engine)
        return engine

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    monkeypatch.chdir(tmp_path)  # no ./syncmon.toml of the developer
    for name in list(os.environ):
        if name.startswith("SYNCMON_"):
            monkeypatch.delenv(name)
    runner = Cli(tmp_path, monkeypatch)
    yield runner
    runner.close()


def by_slug(items: list[dict[str, Any]], slug: str) -> dict[str, Any]:
    return next(item for item in items if item["slug"] == slug)


def test_migrate_creates_store_default_project_and_admin(cli: Cli) -> None:
    first = cli.run("migrate")
    assert first.stdout.strip() == f"schema at revision {migrate.head_revision()}"
    assert "store migrated from empty to" in first.stderr
    assert f"created project {DEFAULT_PROJECT!r}" in first.stderr
    assert f"created project {OWN_PROJECT!r}" in first.stderr
    assert "with the password from SYNCMON_ADMIN_PASSWORD" in first.stderr
    assert PASSWORD not in first.output

    second = cli.run("migrate")
    assert second.stdout.strip() == f"schema at revision {migrate.head_revision()}"
    assert "migrated" not in second.stderr
    assert "created" not in second.stderr

    with cli.engine().connect() as conn:
        row = conn.execute(sa.select(users)).one()
        assert [p.slug for p in projects.list_projects(conn)] == [DEFAULT_PROJECT, OWN_PROJECT]
    assert row.email == "admin@localhost"
    assert row.role == "admin"
    assert accounts.verify_password(row.password_hash, PASSWORD)


def test_generated_admin_password_is_printed_once(cli: Cli) -> None:
    cli.env["SYNCMON_ADMIN_PASSWORD"] = None
    first = cli.run("project", "list")
    match = re.search(r"created admin admin@localhost with password: (\S+)", first.stderr)
    assert match is not None, first.stderr
    password = match.group(1)
    assert "shown only once" in first.stderr
    assert password not in first.stdout

    second = cli.run("project", "list")
    assert "password" not in second.output
    assert password not in second.output

    with cli.engine().connect() as conn:
        stored = conn.execute(sa.select(users.c.password_hash)).scalar_one()
    assert accounts.verify_password(stored, password)
    assert not accounts.verify_password(stored, password + "x")


def test_project_create_and_list_json(cli: Cli) -> None:
    created = cli.json("project", "create", "My Shop", "--origin", "https://shop.example", "--json")
    assert [item["slug"] for item in created] == ["my-shop"]

    listed = cli.json("project", "list", "--json")
    assert [item["slug"] for item in listed] == [DEFAULT_PROJECT, OWN_PROJECT, "my-shop"]
    shop = by_slug(listed, "my-shop")
    assert shop == created[0]
    assert set(shop) >= {"id", "slug", "public_key", "secret_key", "dsn", "allowed_origins"}
    assert shop["name"] == "My Shop"
    assert re.fullmatch(r"[0-9a-f]{32}", shop["public_key"])
    assert shop["secret_key"].startswith("sk_")
    assert shop["dsn"] == f"http://{shop['public_key']}@127.0.0.1:8000/{shop['id']}"
    assert shop["allowed_origins"] == ["https://shop.example"]
    assert by_slug(listed, DEFAULT_PROJECT)["allowed_origins"] == ["*"]
    assert by_slug(listed, OWN_PROJECT)["allowed_origins"] == []
    assert len({item["id"] for item in listed}) == 3

    with cli.engine().connect() as conn:
        actions = [row.action for row in conn.execute(sa.select(audit_log.c.action))]
    assert "project.create" in actions


def test_project_list_text_and_public_url(cli: Cli) -> None:
    result = cli.run("project", "list", env={"SYNCMON_PUBLIC_URL": "https://mon.example.com/"})
    listed = cli.json("project", "list", "--json")
    key, pid = listed[0]["public_key"], listed[0]["id"]
    assert f"{pid}  {DEFAULT_PROJECT}" in result.stdout
    assert f"dsn: https://{key}@mon.example.com/{pid}" in result.stdout
    assert f"secret_key: {listed[0]['secret_key']}" in result.stdout


def test_duplicate_project_name_is_refused(cli: Cli) -> None:
    cli.run("project", "create", "Shop")
    again = cli.run("project", "create", "  shop ", ok=False)
    assert again.exit_code == 1
    assert "a project with slug 'shop' already exists" in again.stderr
    assert [item["slug"] for item in cli.json("project", "list", "--json")] == [
        DEFAULT_PROJECT,
        OWN_PROJECT,
        "shop",
    ]


def test_project_name_without_slug_is_refused(cli: Cli) -> None:
    result = cli.run("project", "create", "!!!", ok=False)
    assert result.exit_code == 1
    assert "gives no usable slug" in result.stderr


def test_rotate_key_changes_both_keys(cli: Cli) -> None:
    before = cli.json("project", "create", "rot", "--json")[0]
    rotated = cli.json("project", "rotate-key", "rot", "--json")[0]
    assert rotated["id"] == before["id"]
    assert rotated["public_key"] != before["public_key"]
    assert rotated["secret_key"] != before["secret_key"]
    assert by_slug(cli.json("project", "list", "--json"), "rot") == rotated
    with cli.engine().connect() as conn:
        assert projects.project_for_key(conn, before["public_key"]) is None
        assert projects.project_for_key(conn, before["secret_key"]) is None
        found = projects.project_for_key(conn, rotated["secret_key"])
    assert found is not None and found[0].slug == "rot" and found[1] is True


def test_rotate_unknown_project_fails(cli: Cli) -> None:
    result = cli.run("project", "rotate-key", "ghost", ok=False)
    assert result.exit_code == 1
    assert "no project 'ghost'" in result.stderr


def test_project_update_origins_and_scrub_fields(cli: Cli) -> None:
    cli.run("project", "create", "web")
    result = cli.run(
        "project",
        "update",
        "web",
        "--origin",
        "https://a.example/",
        "--origin",
        "https://b.example",
        "--scrub-field",
        " Card_Number ",
        "--scrub-field",
        "ssn",
    )
    assert "allowed_origins: ['https://a.example', 'https://b.example']" in result.stdout
    web = by_slug(cli.json("project", "list", "--json"), "web")
    assert web["allowed_origins"] == ["https://a.example", "https://b.example"]
    assert web["scrub_fields"] == ["card_number", "ssn"]

    cli.run("project", "update", "web", "--origin", "*")
    web = by_slug(cli.json("project", "list", "--json"), "web")
    assert web["allowed_origins"] == ["*"]
    assert web["scrub_fields"] == ["card_number", "ssn"]  # not given: unchanged

    missing = cli.run("project", "update", "nope", "--origin", "*", ok=False)
    assert missing.exit_code == 1
    assert "no project 'nope'" in missing.stderr


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_token_create_prints_a_working_token(cli: Cli, role: str) -> None:
    result = cli.run("token", "create", "--role", role, "--name", "grafana")
    plain = result.stdout.strip()
    assert plain.startswith(accounts.TOKEN_PREFIX)
    assert "\n" not in plain
    assert "shown only this once" in result.stderr
    with cli.engine().connect() as conn:
        assert accounts.role_for_token(conn, plain) == role
        assert accounts.role_for_token(conn, plain + "x") is None


def test_token_create_refuses_unknown_role(cli: Cli) -> None:
    result = cli.run("token", "create", "--role", "owner", ok=False)
    assert result.exit_code == 2
    assert "owner" in result.stderr


def test_token_list_and_revoke(cli: Cli) -> None:
    viewer = cli.run("token", "create", "--role", "viewer", "--name", "dash").stdout.strip()
    admin = cli.run("token", "create", "--role", "admin").stdout.strip()

    listed = cli.json("token", "list", "--json")
    assert [(t["name"], t["role"], t["revoked"]) for t in listed] == [
        ("dash", "viewer", False),
        ("admin", "admin", False),
    ]
    assert set(listed[0]) == {"id", "name", "role", "prefix", "created_ms", "revoked"}
    assert viewer.startswith(listed[0]["prefix"])
    listing = cli.run("token", "list").stdout + cli.run("token", "list", "--json").stdout
    assert viewer not in listing and admin not in listing

    viewer_id = str(listed[0]["id"])
    result = cli.run("token", "revoke", viewer_id)
    assert result.stdout.strip() == f"token {viewer_id} revoked"

    after = cli.json("token", "list", "--json")
    assert [t["revoked"] for t in after] == [True, False]
    assert "revoked" in cli.run("token", "list").stdout
    with cli.engine().connect() as conn:
        assert accounts.role_for_token(conn, viewer) is None
        assert accounts.role_for_token(conn, admin) == "admin"

    twice = cli.run("token", "revoke", viewer_id, ok=False)
    assert twice.exit_code == 1
    assert f"no active token with id {viewer_id}" in twice.stderr


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (("token", "revoke", "999"), 1, "no active token with id 999"),
        (("token", "revoke", "abc"), 2, "'abc' is not a valid integer"),
    ],
)
def test_revoke_unknown_token_fails(cli: Cli, args: tuple[str, ...], exit_code: int, message: str) -> None:
    result = cli.run(*args, ok=False)
    assert result.exit_code == exit_code
    assert message in result.stderr


def test_settings_markdown(cli: Cli) -> None:
    result = cli.run("settings", "--markdown")
    assert result.stdout == settings_reference_markdown()


def test_settings_shows_effective_values_and_hides_secrets(cli: Cli) -> None:
    result = cli.run("settings", env={"SYNCMON_PORT": "9123", "SYNCMON_DATABASE_URL": "sqlite:////tmp/x.db"})
    lines = result.stdout.splitlines()
    assert "port = 9123" in lines
    assert f"data_dir = {cli.data_dir}" in lines
    assert "admin_password = (set)" in lines
    assert "database_url = (set)" in lines
    assert PASSWORD not in result.stdout
    assert "/tmp/x.db" not in result.stdout
    assert not cli.data_dir.exists()  # showing settings does not open the store


def test_global_flags_and_config_file(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "custom.toml"
    config.write_text("port = 9555\n")
    result = cli.run("--config", str(config), "--data-dir", str(tmp_path / "other"), "settings")
    assert "port = 9555" in result.stdout.splitlines()
    assert f"data_dir = {tmp_path / 'other'}" in result.stdout.splitlines()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("migrate",), {"SYNCMON_PORT": "abc"}, "setting 'port': 'abc' is not a valid int"),
        (("settings",), {"SYNCMON_LOG_LEVEL": "loud"}, "setting 'log_level'"),
        (("project", "list"), {"SYNCMON_RATE_LIMIT_PER_IP": "5 per sec"}, "setting 'rate_limit_per_ip'"),
        (("migrate",), {"SYNCMON_DATABASE_URL": "mysql://x@y/z"}, "setting 'database_url'"),
        (("token", "list"), {"SYNCMON_TRUSTED_PROXIES": "nope"}, "setting 'trusted_proxies'"),
        (("serve", "--port", "0"), {}, "setting 'port'"),
        (("serve", "--retention-days", "-1"), {}, "setting 'retention_days'"),
        (("--config", "missing.toml", "migrate"), {}, "'missing.toml' does not exist"),
    ],
)
def test_bad_setting_exits_non_zero_naming_it(
    cli: Cli, args: tuple[str, ...], env: dict[str, str | None], message: str
) -> None:
    result = cli.run(*args, env=env, ok=False)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not cli.data_dir.exists()  # refused before the store was touched


def test_version(cli: Cli) -> None:
    result = cli.run("--version")
    assert "0.1.0" in result.stdout


def test_cli_against_postgresql(cli: Cli, pg_database: str) -> None:
    """The same commands on a PostgreSQL store (the session database, so names are unique)."""
    name = f"cli-pg-{secrets.token_hex(4)}"
    cli.env["SYNCMON_DATA_DIR"] = None
    url_flag = ("--database-url", pg_database)

    created = cli.json(*url_flag, "project", "create", name, "--json")[0]
    assert created["slug"] == name
    listed = cli.json(*url_flag, "project", "list", "--json")
    assert by_slug(listed, name) == created
    assert created["dsn"] == f"http://{created['public_key']}@127.0.0.1:8000/{created['id']}"

    duplicate = cli.run(*url_flag, "project", "create", name, ok=False)
    assert duplicate.exit_code == 1
    assert "already exists" in duplicate.stderr

    rotated = cli.json(*url_flag, "project", "rotate-key", name, "--json")[0]
    assert rotated["public_key"] != created["public_key"]

    plain = cli.run("token", "create", "--role", "viewer", env={"SYNCMON_DATABASE_URL": pg_database})
    token = plain.stdout.strip()
    engine = cli.engine(pg_database)
    with engine.connect() as conn:
        assert accounts.role_for_token(conn, token) == "viewer"
        ids = [t.id for t in accounts.list_tokens(conn) if token.startswith(t.prefix)]
    cli.run(*url_flag, "token", "revoke", str(ids[-1]))
    with engine.connect() as conn:
        assert accounts.role_for_token(conn, token) is None
    assert not cli.data_dir.exists()  # nothing went to SQLite


# `syncmon user ...`: audited, and recorded as security events of the monitor's own project.


def own_events(cli: Cli) -> list[tuple[str, str, str]]:
    with cli.engine().connect() as conn:
        own = projects.find_project(conn, OWN_PROJECT)
        assert own is not None
        found = eventlog.list_events(conn, eventlog.EventQuery(project_id=own.id))
    return [(e.name, e.data["target"], e.data.get("change", "")) for e in reversed(found)]


def test_create_with_a_generated_or_given_password(cli: Cli) -> None:
    created = cli.run("user", "create", "Ann@Example.com")
    password = created.stdout.strip()
    assert "shown only this once" in created.stderr and password not in created.stderr
    given = cli.run(
        "user", "create", "bo@example.com", "--role", "admin", "--password-stdin", input="bo-password\n"
    )
    assert given.stdout == "" and "bo@example.com (admin) created" in given.stderr
    with cli.engine().connect() as conn:
        ann = user_store.require_user(conn, "ann@example.com")
        bo = user_store.require_user(conn, "bo@example.com")
    assert ann.role == "viewer" and accounts.verify_password(ann.password_hash, password)
    assert bo.role == "admin" and accounts.verify_password(bo.password_hash, "bo-password")
    short = cli.run("user", "create", "cy@example.com", "--password-stdin", input="short\n", ok=False)
    assert short.exit_code == 1 and "at least 8 characters" in short.stderr
    again = cli.run("user", "create", "ann@example.com", ok=False)
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert [name for name, _, _ in own_events(cli)] == ["user_created", "user_created"]


def test_list_set_role_disable_enable(cli: Cli) -> None:
    cli.run("user", "create", "dee@example.com")
    assert (
        cli.run("user", "set-role", "dee@example.com", "admin").stdout.strip()
        == "dee@example.com is now admin"
    )
    cli.run("user", "disable", "admin@localhost")
    listed = {row["email"]: row for row in cli.json("user", "list", "--json")}
    assert listed["admin@localhost"]["disabled"] is True and listed["dee@example.com"]["role"] == "admin"
    assert set(listed["dee@example.com"]) == {
        "id", "email", "role", "disabled", "locked_until_ms", "totp", "created_ms", "last_login_ms"
    }  # fmt: skip
    last = cli.run("user", "set-role", "dee@example.com", "viewer", ok=False)
    assert last.exit_code == 1 and "last active admin" in last.stderr
    assert cli.run("user", "disable", "dee@example.com", ok=False).exit_code == 1
    cli.run("user", "enable", "admin@localhost")
    text = cli.run("user", "list").stdout.splitlines()
    assert text[0].split() == ["1", "admin@localhost", "admin", "active", "-"]
    missing = cli.run("user", "disable", "nobody@example.com", ok=False)
    assert missing.exit_code == 1 and "no user 'nobody@example.com'" in missing.stderr
    bad_role = cli.run("user", "set-role", "dee@example.com", "owner", ok=False)
    assert bad_role.exit_code == 2
    assert own_events(cli)[1:] == [
        ("authz_change", "dee@example.com", "set_role"),
        ("user_updated", "admin@localhost", "disable"),
        ("user_updated", "admin@localhost", "enable"),
    ]
    with cli.engine().connect() as conn:
        rows = conn.execute(sa.select(audit_log.c.actor, audit_log.c.action, audit_log.c.target)).all()
    assert [tuple(r) for r in rows][-4:] == [
        ("cli", "user.create", "dee@example.com"),
        ("cli", "user.set_role", "dee@example.com"),
        ("cli", "user.disable", "admin@localhost"),
        ("cli", "user.enable", "admin@localhost"),
    ]


def test_recovery_second_factor_lockout_and_password(cli: Cli) -> None:
    cli.run("user", "list")  # creates the store
    engine = cli.engine()
    with engine.begin() as conn:
        admin = user_store.require_user(conn, "admin@localhost")
        user_store.start_totp(conn, admin.id, "A" * 32)
        user_store.enable_totp(conn, admin.id, "A" * 32, 1, 1)
        login_throttle.save(conn, Counter(login_throttle.account_subject(admin.email), 5, 1, 2**62))
    assert cli.json("user", "list", "--json")[0]["totp"] is True
    assert "locked" in cli.run("user", "list").stdout
    cli.run("user", "disable-totp", "admin@localhost")
    none_left = cli.run("user", "disable-totp", "admin@localhost", ok=False)
    assert none_left.exit_code == 1 and "has no second factor" in none_left.stderr
    cli.run("user", "unlock", "admin@localhost")
    reset = cli.run("user", "set-password", "admin@localhost")
    new_password = reset.stdout.strip()
    listed = cli.json("user", "list", "--json")[0]
    assert listed["totp"] is False and listed["locked_until_ms"] is None
    with engine.connect() as conn:
        stored = user_store.require_user(conn, "admin@localhost")
    assert accounts.verify_password(stored.password_hash, new_password)
    assert [change for _, _, change in own_events(cli)] == ["totp_disable", "unlock", "set_password"]


def test_detector_list_set_and_reset(cli: Cli) -> None:
    listed = cli.json("detector", "list", "--project", DEFAULT_PROJECT, "--json")
    assert listed["project"] == DEFAULT_PROJECT
    assert [d["rule"] for d in listed["detectors"]][:2] == ["brute_force", "credential_stuffing"]
    assert not any(d["customized"] for d in listed["detectors"])
    text = cli.run("detector", "list", "--project", DEFAULT_PROJECT).stdout
    assert re.search(r"^brute_force\s+on\s+defaults$", text, re.MULTILINE)

    changed = cli.run(
        "detector", "set", "brute_force", "--project", DEFAULT_PROJECT,
        "--param", "fast.capacity=2", "--param", "confidence=2",
    )  # fmt: skip
    assert "fast.capacity=2 (default 5)" in changed.stdout
    # A second `set` keeps the other overrides: here one is dropped and the rule switched off.
    cli.run(
        "detector", "set", "brute_force", "--project", DEFAULT_PROJECT, "--unset", "confidence", "--disable"
    )
    rule = cli.json("detector", "list", "--project", DEFAULT_PROJECT, "--json")["detectors"][0]
    assert (rule["enabled"], rule["overrides"], rule["effective"]["fast.capacity"]) == (
        False,
        {"fast.capacity": 2},
        2,
    )
    text = cli.run("detector", "list", "--project", DEFAULT_PROJECT).stdout
    assert re.search(r"^brute_force\s+off\s+fast.capacity=2 \(default 5\)$", text, re.MULTILINE)

    assert "reset to its defaults" in cli.run("detector", "reset", "brute_force", "--project", "1").stdout
    assert "already runs its defaults" in cli.run("detector", "reset", "brute_force", "--project", "1").stdout
    rule = cli.json("detector", "list", "--project", DEFAULT_PROJECT, "--json")["detectors"][0]
    assert (rule["enabled"], rule["customized"]) == (True, False)
    with cli.engine().connect() as conn:
        actions = conn.execute(
            sa.select(audit_log.c.actor, audit_log.c.action, audit_log.c.target)
            .where(audit_log.c.action.like("detector.%"))
            .order_by(audit_log.c.id)
        ).all()
    target = f"{DEFAULT_PROJECT}:brute_force"
    assert [tuple(a) for a in actions] == [
        ("cli", "detector.configure", target),
        ("cli", "detector.configure", target),
        ("cli", "detector.reset", target),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "brute_farce", "--project", DEFAULT_PROJECT), "unknown rule 'brute_farce'"),
        (("set", "brute_force", "--project", "nope"), "project 'nope' not found"),
        (("set", "brute_force", "--project", DEFAULT_PROJECT, "--param", "cap=1"), "parameters.cap: unknown"),
        (
            ("set", "brute_force", "--project", DEFAULT_PROJECT, "--param", "confidence=high"),
            "must be an integer",
        ),
        (("set", "brute_force", "--project", DEFAULT_PROJECT, "--param", "confidence=7"), "between 1 and 3"),
        (("set", "brute_force", "--project", DEFAULT_PROJECT, "--param", "confidence"), "write NAME=VALUE"),
        (("reset", "nope", "--project", DEFAULT_PROJECT), "unknown rule 'nope'"),
        (("list", "--project", "nope"), "project 'nope' not found"),
    ],
)
def test_detector_commands_refuse_bad_input(cli: Cli, args: tuple[str, ...], message: str) -> None:
    result = cli.run("detector", *args, ok=False)
    assert result.exit_code == 1
    assert message in result.stderr
    listed = cli.json("detector", "list", "--project", DEFAULT_PROJECT, "--json")
    assert not any(d["customized"] for d in listed["detectors"])
