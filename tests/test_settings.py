"""The settings table: defaults, the TOML file, SYNCMON_* variables, overrides and bad values."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from syncmon.settings import (
    ENV_PREFIX,
    Settings,
    SettingsError,
    default_value,
    load_settings,
    setting_fields,
    settings_reference_markdown,
)


@pytest.fixture(autouse=True)
def _no_stray_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty directory so a ./syncmon.toml of the developer is never read."""
    monkeypatch.chdir(tmp_path)


def write_toml(tmp_path: Path, text: str, name: str = "settings.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults_match_the_table() -> None:
    settings = load_settings(environ={})
    assert settings == Settings()
    for f in setting_fields():
        assert getattr(settings, f.name) == default_value(f), f.name
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.trusted_proxies == []
    assert settings.proxy_header == "x-forwarded-for"
    assert settings.sqlite_synchronous == "FULL"
    assert settings.retention_days == 30


def test_list_default_is_not_shared_between_instances() -> None:
    first, second = Settings(), Settings()
    first.trusted_proxies.append("10.0.0.1")
    assert second.trusted_proxies == []


@pytest.mark.parametrize(
    ("env", "name", "expected"),
    [
        ({"SYNCMON_PORT": "9000"}, "port", 9000),
        ({"SYNCMON_PORT": " 9_001 "}, "port", 9001),
        ({"SYNCMON_HOST": "0.0.0.0"}, "host", "0.0.0.0"),
        ({"SYNCMON_RETENTION_DAYS": "7"}, "retention_days", 7),
        ({"SYNCMON_RETENTION_INTERVAL_SECONDS": "2.5"}, "retention_interval_seconds", 2.5),
        ({"SYNCMON_LOG_LEVEL": "DEBUG"}, "log_level", "debug"),
        ({"SYNCMON_SQLITE_SYNCHRONOUS": "normal"}, "sqlite_synchronous", "NORMAL"),
        ({"SYNCMON_PROXY_HEADER": "Forwarded"}, "proxy_header", "forwarded"),
        ({"SYNCMON_RATE_LIMIT_PER_KEY": "100/minute"}, "rate_limit_per_key", "100/minute"),
        ({"SYNCMON_RATE_LIMIT_PER_IP": "5 per second"}, "rate_limit_per_ip", "5 per second"),
        ({"SYNCMON_DATABASE_URL": "postgres://u@h/db"}, "database_url", "postgres://u@h/db"),
        ({"SYNCMON_ADMIN_PASSWORD": "s3cret-pass"}, "admin_password", "s3cret-pass"),
        ({"SYNCMON_TRUSTED_PROXIES": ""}, "trusted_proxies", []),
    ],
)
def test_environment_overrides_default(env: dict[str, str], name: str, expected: Any) -> None:
    assert getattr(load_settings(environ=env), name) == expected


def test_environment_without_prefix_or_lowercase_is_ignored() -> None:
    settings = load_settings(environ={"PORT": "1234", "syncmon_port": "1235"})
    assert settings.port == 8000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10.0.0.1", ["10.0.0.1"]),
        ("10.0.0.0/8, 192.168.1.1 ,", ["10.0.0.0/8", "192.168.1.1"]),
        (" , ,", []),
        ("::1,fd00::/8", ["::1", "fd00::/8"]),
    ],
)
def test_list_parsing_from_environment(raw: str, expected: list[str]) -> None:
    assert load_settings(environ={"SYNCMON_TRUSTED_PROXIES": raw}).trusted_proxies == expected


def test_toml_file_values(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        """
port = 9100
host = "0.0.0.0"
retention_interval_seconds = 5
trusted_proxies = ["10.0.0.0/8", " 127.0.0.1 "]
log_level = "WARNING"
max_body_bytes = 2_000
""",
    )
    settings = load_settings(environ={}, config_file=path)
    assert settings.port == 9100
    assert settings.host == "0.0.0.0"
    assert settings.retention_interval_seconds == 5.0
    assert isinstance(settings.retention_interval_seconds, float)
    assert settings.trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]
    assert settings.log_level == "warning"
    assert settings.max_body_bytes == 2000


def test_toml_file_named_by_environment(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "port = 9200\n", name="elsewhere.toml")
    assert load_settings(environ={"SYNCMON_CONFIG": path}).port == 9200


def test_toml_file_in_working_directory_is_read(tmp_path: Path) -> None:
    write_toml(tmp_path, "port = 9300\n", name="syncmon.toml")
    assert load_settings(environ={}).port == 9300


def test_explicit_config_file_wins_over_environment_config(tmp_path: Path) -> None:
    env_file = write_toml(tmp_path, "port = 9400\n", name="env.toml")
    flag_file = write_toml(tmp_path, "port = 9401\n", name="flag.toml")
    assert load_settings(environ={"SYNCMON_CONFIG": env_file}, config_file=flag_file).port == 9401


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("prot = 9000\n", "unknown setting 'prot'"),
        ("port = 'abc'\n", "'port'"),
        ("port = true\n", "'port'"),
        ("port = 80.5\n", "'port'"),
        ("host = ['a', 'b']\n", "'host'"),
        ("retention_days = 0\n", "'retention_days'"),
        ("log_level = 'loud'\n", "'log_level'"),
        ("port = \n", "not valid TOML"),
    ],
)
def test_bad_toml_file_is_refused(tmp_path: Path, text: str, fragment: str) -> None:
    path = write_toml(tmp_path, text)
    with pytest.raises(SettingsError, match=fragment.replace("[", r"\[")):
        load_settings(environ={}, config_file=path)


def test_missing_config_file_is_refused(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(environ={}, config_file=missing)


def test_integral_float_in_toml_is_a_whole_number(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "port = 8080.0\n")
    assert load_settings(environ={}, config_file=path).port == 8080


def test_precedence_defaults_file_environment_overrides(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        """
port = 9001
retention_days = 11
log_level = "warning"
host = "10.1.1.1"
""",
    )
    env = {"SYNCMON_RETENTION_DAYS": "12", "SYNCMON_LOG_LEVEL": "error", "SYNCMON_PORT": "9002"}
    settings = load_settings({"port": 9003, "log_level": None}, environ=env, config_file=path)
    assert settings.max_batch_events == 1000  # default
    assert settings.host == "10.1.1.1"  # file over default
    assert settings.retention_days == 12  # environment over file
    assert settings.log_level == "error"  # an override of None leaves the lower layers
    assert settings.port == 9003  # override over environment


def test_overrides_are_cast_like_strings() -> None:
    settings = load_settings({"port": "9005", "trusted_proxies": "10.0.0.1,10.0.0.2"}, environ={})
    assert settings.port == 9005
    assert settings.trusted_proxies == ["10.0.0.1", "10.0.0.2"]


def test_unknown_override_is_refused() -> None:
    with pytest.raises(SettingsError, match="unknown setting 'prot'"):
        load_settings({"prot": 1}, environ={})


@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        ({"SYNCMON_PORT": "abc"}, ["'port'", "'abc'", "int"]),
        ({"SYNCMON_PORT": "0"}, ["'port'", "greater than 0"]),
        ({"SYNCMON_PORT": "-5"}, ["'port'"]),
        ({"SYNCMON_PORT": "70000"}, ["'port'", "not a TCP port"]),
        ({"SYNCMON_RETENTION_DAYS": "1.5"}, ["'retention_days'"]),
        ({"SYNCMON_RETENTION_BATCH_SIZE": "0"}, ["'retention_batch_size'"]),
        ({"SYNCMON_MAX_BATCH_EVENTS": "-1"}, ["'max_batch_events'"]),
        ({"SYNCMON_RETENTION_INTERVAL_SECONDS": "soon"}, ["'retention_interval_seconds'", "float"]),
        ({"SYNCMON_LOG_LEVEL": "verbose"}, ["'log_level'", "debug, info, warning, error"]),
        ({"SYNCMON_SQLITE_SYNCHRONOUS": "OFF"}, ["'sqlite_synchronous'", "FULL, NORMAL"]),
        ({"SYNCMON_PROXY_HEADER": "x-real-ip"}, ["'proxy_header'"]),
        ({"SYNCMON_RATE_LIMIT_PER_KEY": "5 per sec"}, ["'rate_limit_per_key'", "'5 per sec'"]),
        ({"SYNCMON_RATE_LIMIT_PER_IP": "lots"}, ["'rate_limit_per_ip'"]),
        ({"SYNCMON_TRUSTED_PROXIES": "10.0.0.0/8,not-an-ip"}, ["'trusted_proxies'", "'not-an-ip'"]),
        ({"SYNCMON_TRUSTED_PROXIES": "10.0.0.0/33"}, ["'trusted_proxies'", "'10.0.0.0/33'"]),
        ({"SYNCMON_DATABASE_URL": "mysql://u@h/db"}, ["'database_url'", "postgresql://"]),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], fragments: list[str]) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=env)
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("port", "ok"), [(1, True), (65535, True), (0, False), (65536, False), (70000, False)]
)
def test_port_range(port: int, ok: bool) -> None:
    if ok:
        assert load_settings({"port": port}, environ={}).port == port
    else:
        with pytest.raises(SettingsError, match="'port'"):
            load_settings({"port": port}, environ={})


def test_bad_value_in_overrides_names_the_setting() -> None:
    with pytest.raises(SettingsError, match="'commit_max_batch'"):
        load_settings({"commit_max_batch": "many"}, environ={})


@pytest.mark.parametrize(
    ("overrides", "expected_url"),
    [
        ({"database_url": "postgresql://u@h:5432/db"}, "postgresql://u@h:5432/db"),
        ({"database_url": "sqlite:////tmp/x.db"}, "sqlite:////tmp/x.db"),
    ],
)
def test_effective_database_url_when_set(overrides: dict[str, str], expected_url: str) -> None:
    assert load_settings(overrides, environ={}).effective_database_url == expected_url


def test_effective_database_url_defaults_to_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": "relative-data"}, environ={})
    expected = (tmp_path / "relative-data" / "syncmon.db").resolve()
    assert settings.effective_database_url == f"sqlite:///{expected}"
    assert Path(settings.effective_database_url.removeprefix("sqlite:///")).is_absolute()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"host": "0.0.0.0", "port": 9000}, "http://0.0.0.0:9000"),
        ({"public_url": "https://mon.example.com/"}, "https://mon.example.com"),
    ],
)
def test_effective_public_url(overrides: dict[str, Any], expected: str) -> None:
    assert load_settings(overrides, environ={}).effective_public_url == expected


def test_reference_mentions_every_setting() -> None:
    text = settings_reference_markdown()
    assert text.startswith("# Settings reference\n")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(fields(Settings))
    for f in setting_fields():
        row = next(line for line in rows if line.startswith(f"| `{f.name}` |"))
        assert f"`{ENV_PREFIX}{f.name.upper()}`" in row
        assert f.metadata["help"] in row
    assert "| `log_level` | `SYNCMON_LOG_LEVEL` | debug \\| info \\| warning \\| error | `info` |" in text
    assert "| `port` | `SYNCMON_PORT` | int | `8000` |" in text
    assert "| `database_url` | `SYNCMON_DATABASE_URL` | str | (empty) |" in text
