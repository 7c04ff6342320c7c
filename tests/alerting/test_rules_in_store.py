"""Default rules per project and rules.yaml provisioning, on both engines, through the store
functions and through `syncmon rules apply / list`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.engine import Engine

import syncmon.cli
from syncmon.alerting import rule_store
from syncmon.alerting.defaults import DEFAULT_RULES, seed_all_projects, seed_default_rules
from syncmon.alerting.provisioning import apply_document, apply_file
from syncmon.alerting.spec import RuleError, parse_rule
from syncmon.bootstrap import prepare_store, provision_rules
from syncmon.cli import main
from syncmon.clock import ManualClock
from syncmon.store import projects
from syncmon.store.schema import alert_rules
from tests.conftest import ADMIN_PASSWORD, Store

T0 = 1_767_225_600_000
DEFAULT_NAMES = {raw["name"] for raw in DEFAULT_RULES}

RULES_YAML = """
project: syncscript
rules:
  - name: checkout_failures
    kind: count
    select: {kind: error, names: ["CheckoutError*"]}
    window: 5m
    threshold: 3
    severity: critical
  - name: slow_search
    kind: percentile
    source: request
    percentile: 95
    window: 5m
    threshold: 800
    filter: {route: "GET /api/search"}
"""


def names(rules: list[rule_store.StoredRule], source: str | None = None) -> set[str]:
    return {r.name for r in rules if source is None or r.source == source}


def test_a_new_project_gets_the_default_rules(store: Store) -> None:
    with store.engine.begin() as conn:
        shop = projects.create_project(conn, "Shop", T0)
        found = rule_store.list_rules(conn, shop.id)
    assert names(found) == DEFAULT_NAMES and len(found) == len(DEFAULT_RULES) == 16
    assert {r.source for r in found} == {"default"}
    assert {r.key for r in found} == {f"default:{n}" for n in DEFAULT_NAMES}
    by_name = {r.name: r for r in found}
    assert by_name["api_errors"].spec.severity.value == "critical"
    assert by_name["slo_uptime"].spec.objective == parse_rule(dict(DEFAULT_RULES[-1])).objective
    with store.engine.connect() as conn:
        assert names(rule_store.list_rules(conn, store.project.id)) == DEFAULT_NAMES  # the first project too


def test_seeding_is_idempotent_and_a_deleted_default_stays_deleted(store: Store) -> None:
    with store.engine.begin() as conn:
        assert seed_default_rules(conn, store.project.id, T0) == 0
        page_load = next(
            r for r in rule_store.list_rules(conn, store.project.id) if r.name == "page_load_time"
        )
        assert rule_store.delete_rule(conn, page_load.id, T0)
        assert seed_all_projects(conn, T0) == 0
        assert "page_load_time" not in names(rule_store.list_rules(conn, store.project.id))
        assert rule_store.get_rule(conn, page_load.id) is None


def test_existing_projects_get_defaults_they_lack_at_start(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            alert_rules.delete().where(alert_rules.c.key.in_(["default:api_errors", "default:slo_uptime"]))
        )
    engine = prepare_store(store.settings, ManualClock(T0), lambda _: None)
    try:
        with engine.connect() as conn:
            assert names(rule_store.list_rules(conn, store.project.id)) == DEFAULT_NAMES
    finally:
        engine.dispose()


def test_a_rules_file_is_applied_as_a_set(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_YAML)
    with store.engine.begin() as conn:
        api_rule = rule_store.create_rule(
            conn, store.project.id, parse_rule({"kind": "new_issue", "name": "checkout_failures"}), T0
        )
        first = apply_file(conn, path, T0)
    assert (sorted(first.created), first.updated, first.deleted) == (
        ["syncscript/checkout_failures", "syncscript/slow_search"],
        [],
        [],
    )
    with store.engine.connect() as conn:
        listed = rule_store.list_rules(conn, store.project.id)
    kept = {r.name: r.id for r in listed if r.source == "file"}
    assert set(kept) == {"checkout_failures", "slow_search"}

    with store.engine.begin() as conn:
        again = apply_file(conn, path, T0 + 1)
    assert again.summary() == "0 created, 0 updated, 0 deleted, 2 unchanged"

    path.write_text(
        RULES_YAML.replace("threshold: 3", "threshold: 5").split("  - name: slow_search")[0]
        + """  - name: login_storm
    kind: security
    security_alert: authentication_failure
    window: 10m
"""
    )
    with store.engine.begin() as conn:
        changed = apply_file(conn, path, T0 + 2)
        listed = rule_store.list_rules(conn, store.project.id)
    assert (changed.created, changed.updated, len(changed.deleted)) == (
        ["syncscript/login_storm"],
        ["syncscript/checkout_failures"],
        1,
    )
    files = {r.name: r for r in listed if r.source == "file"}
    assert set(files) == {"checkout_failures", "login_storm"}
    assert files["checkout_failures"].id == kept["checkout_failures"]  # same rule, same alerts
    assert files["checkout_failures"].spec.threshold == 5
    assert api_rule.id in {r.id for r in listed if r.source == "api"}  # API rules are not the file's
    assert names(listed, "default") == DEFAULT_NAMES


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"rules": [{"name": "x", "kind": "count"}]}, "rules[0].project: required"),
        (
            {"project": "nope", "rules": [{"name": "x", "kind": "count"}]},
            "rules[0].project: no project 'nope'",
        ),
        (
            {
                "project": "syncscript",
                "rules": [
                    {"name": "ok", "kind": "new_issue"},
                    {
                        "name": "x",
                        "kind": "count",
                        "select": {"kind": "error"},
                        "window": "soon",
                        "threshold": 1,
                    },
                ],
            },
            "rules[1].window: 'soon' is not a duration",
        ),
        (
            {
                "project": "syncscript",
                "rules": [{"name": "a", "kind": "new_issue"}, {"name": "a", "kind": "regression"}],
            },
            "rules[1].name: 'a' appears twice",
        ),
        ({"project": "syncscript", "groups": []}, "groups: not a field of a rules file"),
        ({"rules": {"name": "x"}}, "rules: expected a list"),
        (["not", "a", "mapping"], "must be a mapping"),
    ],
)
def test_a_bad_rules_file_changes_nothing(store: Store, document: Any, message: str) -> None:
    with store.engine.begin() as conn:
        apply_document(conn, {"project": "syncscript", "rules": [{"name": "keep", "kind": "new_issue"}]}, T0)
    with pytest.raises(RuleError) as caught, store.engine.begin() as conn:
        apply_document(conn, document, T0)
    assert message in str(caught.value)
    with store.engine.connect() as conn:
        assert names(rule_store.list_rules(conn), "file") == {"keep"}


def test_yaml_errors_and_missing_files_are_named(tmp_path: Path, store: Store) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - name: [unclosed\n")
    with (
        pytest.raises(RuleError, match=r"broken.yaml' line \d+: not valid YAML"),
        store.engine.begin() as conn,
    ):
        apply_file(conn, broken, T0)
    with pytest.raises(RuleError, match="does not exist"), store.engine.begin() as conn:
        apply_file(conn, tmp_path / "missing.yaml", T0)


def test_the_rules_file_setting_is_applied_by_serve(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_YAML)
    result = provision_rules(store.settings_with(rules_file=str(path)), store.engine, ManualClock(T0))
    assert result is not None and len(result.created) == 2
    assert provision_rules(store.settings, store.engine, ManualClock(T0)) is None


class RulesCli:
    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.env = {
            "SYNCMON_DATA_DIR": store.settings.data_dir,
            "SYNCMON_DATABASE_URL": store.settings.database_url,
            "SYNCMON_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
        self.engines: list[Engine] = []

        def recording_prepare(*args: Any, **kwargs: Any) -> Engine:
            engine = prepare_store(*args, **kwargs)
            self.engines.append(engine)
            return engine

        monkeypatch.setattr(syncmon.cli, "prepare_store", recording_prepare)

    def run(self, *args: str, ok: bool = True) -> Result:
        result = CliRunner().invoke(main, list(args), env=dict(self.env))
        assert (result.exit_code == 0) is ok, (result.output, result.exception)
        return result


@pytest.fixture
def cli(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[RulesCli]:
    runner = RulesCli(store, monkeypatch)
    yield runner
    for engine in runner.engines:
        engine.dispose()


def test_rules_apply_and_list_commands(cli: RulesCli, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_YAML)
    preview = cli.run("rules", "apply", str(path), "--dry-run")
    assert "would be: 2 created, 0 updated, 0 deleted, 0 unchanged" in preview.stdout
    with store.engine.connect() as conn:
        assert names(rule_store.list_rules(conn), "file") == set()
    applied = cli.run("rules", "apply", str(path))
    assert "create  syncscript/checkout_failures" in applied.stdout
    listed = orjson.loads(cli.run("rules", "list", "--json", "--project", "syncscript").stdout)
    assert {r["name"] for r in listed if r["source"] == "file"} == {"checkout_failures", "slow_search"}
    checkout = next(r for r in listed if r["name"] == "checkout_failures")
    definition = checkout["definition"]
    assert (definition["kind"], definition["window"], definition["select"]["names"]) == (
        "count",
        "5m",
        ["CheckoutError*"],
    )
    text = cli.run("rules", "list").stdout
    assert "syncscript  slow_search  percentile  warning  file" in text
    path.write_text("project: syncscript\nrules:\n  - {name: x, kind: count, window: 5m, threshold: 1}\n")
    refused = cli.run("rules", "apply", str(path), ok=False)
    assert "rules[0].select: Field required" in refused.output
    assert cli.run("rules", "list", "--project", "nope", ok=False).exit_code != 0
    with store.engine.connect() as conn:
        audit = conn.execute(sa.text("SELECT action FROM audit_log WHERE action = 'alert_rules.apply'")).all()
    assert len(audit) == 1


def test_the_documented_example_file_applies(store: Store) -> None:
    example = Path(__file__).resolve().parents[2] / "docs" / "rules.example.yaml"
    with store.engine.begin() as conn:
        result = apply_file(conn, example, T0)
        listed = rule_store.list_rules(conn, store.project.id)
    assert len(result.created) == 9
    kinds = {r.spec.kind for r in listed if r.source == "file"}
    assert kinds == {
        "count",
        "ratio",
        "percentile",
        "availability",
        "security",
        "new_issue",
        "burn_rate",
        "heartbeat",
    }
