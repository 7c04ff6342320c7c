"""`syncmon user ...`: dashboard users from the command line, audited and recorded as security
events of the monitor's own project."""

from __future__ import annotations

import sqlalchemy as sa

from syncmon.store import accounts, eventlog, login_throttle, projects, users
from syncmon.store.login_throttle import Counter
from syncmon.store.schema import audit_log
from tests.test_cli import OWN_PROJECT, Cli, cli  # noqa: F401  (cli is the fixture)


def own_events(cli: Cli) -> list[tuple[str, str, str]]:
    with cli.engine().connect() as conn:
        own = projects.find_project(conn, OWN_PROJECT)
        assert own is not None
        found = eventlog.list_events(conn, eventlog.EventQuery(project_id=own.id))
    return [
        (e.name, e.data["target"], e.data["change"] if "change" in e.data else "") for e in reversed(found)
    ]


def test_create_with_a_generated_or_given_password(cli: Cli) -> None:
    created = cli.run("user", "create", "Ann@Example.com")
    password = created.stdout.strip()
    assert "shown only this once" in created.stderr and password not in created.stderr
    given = cli.run(
        "user", "create", "bo@example.com", "--role", "admin", "--password-stdin", input="bo-password\n"
    )
    assert given.stdout == "" and "bo@example.com (admin) created" in given.stderr
    with cli.engine().connect() as conn:
        ann = users.require_user(conn, "ann@example.com")
        bo = users.require_user(conn, "bo@example.com")
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
        admin = users.require_user(conn, "admin@localhost")
        users.start_totp(conn, admin.id, "A" * 32)
        users.enable_totp(conn, admin.id, "A" * 32, 1, 1)
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
        stored = users.require_user(conn, "admin@localhost")
    assert accounts.verify_password(stored.password_hash, new_password)
    assert [change for _, _, change in own_events(cli)] == ["totp_disable", "unlock", "set_password"]
