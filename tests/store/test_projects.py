"""Projects and their keys, on both engines."""

from __future__ import annotations

import re

import pytest

from syncmon.bootstrap import DEFAULT_PROJECT
from syncmon.settings import Settings
from syncmon.store import projects
from syncmon.store.projects import Project, ProjectError
from tests.conftest import Store

NOW = 1_767_225_600_000
OWN_PROJECT = Settings().monitor_project  # the monitor's own project, created with the store


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("shop", "shop"),
        ("My Shop", "my-shop"),
        ("  Café & Bar!! ", "caf-bar"),
        ("--a--b--", "a-b"),
        ("Über_Project 2", "ber-project-2"),
        ("x" * 100, "x" * 63),
        ("123", "123"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert projects.slugify(name) == slug
    assert projects.SLUG_PATTERN.match(slug)


@pytest.mark.parametrize("name", ["", "   ", "!!!", "---", "日本語"])
def test_slugify_refuses_names_without_a_slug(name: str) -> None:
    with pytest.raises(ProjectError, match="no usable slug"):
        projects.slugify(name)


def test_default_project_exists(store: Store) -> None:
    assert store.project.slug == DEFAULT_PROJECT
    assert store.project.allowed_origins == ["*"]
    assert store.project.scrub_fields == []


def test_create_and_find(store: Store) -> None:
    with store.engine.begin() as conn:
        created = projects.create_project(conn, "  My Shop ", NOW, ["https://shop.example"])
    assert created.slug == "my-shop"
    assert created.name == "My Shop"
    assert re.fullmatch(r"[0-9a-f]{32}", created.public_key)
    assert re.fullmatch(r"sk_[0-9a-f]{40}", created.secret_key)
    assert created.allowed_origins == ["https://shop.example"]
    assert created.scrub_fields == []

    with store.engine.connect() as conn:
        assert projects.find_project(conn, "my-shop") == created
        assert projects.find_project(conn, str(created.id)) == created
        assert projects.get_project(conn, created.id) == created
        assert projects.find_project(conn, "My Shop") is None
        assert projects.find_project(conn, "999999") is None
        assert projects.find_project(conn, "9" * 40) is None
        assert projects.find_project(conn, "²") is None
        assert projects.get_project(conn, 999_999) is None
        assert [p.slug for p in projects.list_projects(conn)] == [DEFAULT_PROJECT, OWN_PROJECT, "my-shop"]


def test_slug_wins_over_id_when_both_match(store: Store) -> None:
    """A project whose slug is another project's id is found by slug."""
    with store.engine.begin() as conn:
        second = projects.create_project(conn, "second", NOW)
        numeric = projects.create_project(conn, str(store.project.id), NOW)
    with store.engine.connect() as conn:
        assert projects.find_project(conn, str(store.project.id)) == numeric
        assert projects.find_project(conn, str(second.id)) == second


def test_create_refuses_duplicates_and_bad_names(store: Store) -> None:
    with store.engine.begin() as conn:
        projects.create_project(conn, "Shop", NOW)
    for name in ["shop", " SHOP ", "shop!"]:
        with pytest.raises(ProjectError, match="already exists"), store.engine.begin() as conn:
            projects.create_project(conn, name, NOW)
    with pytest.raises(ProjectError, match="no usable slug"), store.engine.begin() as conn:
        projects.create_project(conn, "???", NOW)
    with store.engine.connect() as conn:
        assert [p.slug for p in projects.list_projects(conn)] == [DEFAULT_PROJECT, OWN_PROJECT, "shop"]


def test_new_projects_get_distinct_keys(store: Store) -> None:
    with store.engine.begin() as conn:
        made = [projects.create_project(conn, f"p{i}", NOW) for i in range(5)]
    keys = [p.public_key for p in made] + [p.secret_key for p in made]
    assert len(set(keys)) == len(keys)


def test_project_for_key(store: Store) -> None:
    with store.engine.begin() as conn:
        other = projects.create_project(conn, "other", NOW)
    with store.engine.connect() as conn:
        assert projects.project_for_key(conn, store.project.public_key) == (store.project, False)
        assert projects.project_for_key(conn, store.project.secret_key) == (store.project, True)
        assert projects.project_for_key(conn, other.public_key) == (other, False)
        assert projects.project_for_key(conn, other.secret_key) == (other, True)
        assert projects.project_for_key(conn, "") is None
        assert projects.project_for_key(conn, "nope") is None
        assert projects.project_for_key(conn, store.project.public_key.upper()) is None


def test_rotate_keys(store: Store) -> None:
    before = store.project
    with store.engine.begin() as conn:
        rotated = projects.rotate_keys(conn, before.slug)
    assert rotated.id == before.id
    assert rotated.slug == before.slug
    assert rotated.public_key != before.public_key
    assert rotated.secret_key != before.secret_key
    with store.engine.connect() as conn:
        assert projects.project_for_key(conn, before.public_key) is None
        assert projects.project_for_key(conn, before.secret_key) is None
        assert projects.project_for_key(conn, rotated.public_key) == (rotated, False)
        assert projects.project_for_key(conn, rotated.secret_key) == (rotated, True)
    with store.engine.begin() as conn:
        by_id = projects.rotate_keys(conn, str(before.id))
    assert by_id.public_key != rotated.public_key
    with pytest.raises(ProjectError, match="no project 'ghost'"), store.engine.begin() as conn:
        projects.rotate_keys(conn, "ghost")


def test_update_project(store: Store) -> None:
    slug = store.project.slug
    with store.engine.begin() as conn:
        updated = projects.update_project(
            conn,
            slug,
            origins=["https://a.example/", "http://localhost:3000"],
            scrub_fields=[" Card ", "", "SSN"],
        )
    assert updated.allowed_origins == ["https://a.example", "http://localhost:3000"]
    assert updated.scrub_fields == ["card", "ssn"]
    assert updated.public_key == store.project.public_key

    with store.engine.begin() as conn:
        only_fields = projects.update_project(conn, slug, scrub_fields=["token"])
        unchanged = projects.update_project(conn, str(store.project.id))
    assert only_fields.allowed_origins == ["https://a.example", "http://localhost:3000"]
    assert only_fields.scrub_fields == ["token"]
    assert unchanged == only_fields

    with store.engine.begin() as conn:
        cleared = projects.update_project(conn, slug, origins=[], scrub_fields=[])
    assert cleared.allowed_origins == []
    assert cleared.scrub_fields == []
    with store.engine.connect() as conn:
        assert projects.find_project(conn, slug) == cleared

    with pytest.raises(ProjectError, match="no project 'ghost'"), store.engine.begin() as conn:
        projects.update_project(conn, "ghost", origins=["*"])


def make(origins: list[str]) -> Project:
    return Project(1, "p", "p", "pk", "sk", allowed_origins=origins)


@pytest.mark.parametrize(
    ("origins", "origin", "allowed"),
    [
        (["*"], "https://anything.example", True),
        (["https://a.example", "*"], "http://evil.example", True),
        (["https://a.example"], "https://a.example", True),
        (["https://a.example"], "https://a.example/", True),
        (["https://a.example"], "http://a.example", False),
        (["https://a.example"], "https://a.example:8443", False),
        (["https://a.example"], "https://b.example", False),
        (["https://a.example"], "https://a.example.evil.com", False),
        (["https://a.example"], "null", False),
        ([], "https://a.example", False),
    ],
)
def test_origin_allowed(origins: list[str], origin: str, allowed: bool) -> None:
    assert make(origins).origin_allowed(origin) is allowed


@pytest.mark.parametrize(
    ("public_url", "dsn"),
    [
        ("http://127.0.0.1:8000", "http://pk@127.0.0.1:8000/7"),
        ("https://mon.example.com/", "https://pk@mon.example.com/7"),
        ("https://example.com/monitor", "https://pk@example.com/monitor/7"),
    ],
)
def test_dsn(public_url: str, dsn: str) -> None:
    project = Project(7, "p", "p", "pk", "sk")
    assert project.dsn(public_url) == dsn
    described = project.describe(public_url)
    assert described["dsn"] == dsn
    assert set(described) == {
        "id",
        "slug",
        "name",
        "public_key",
        "secret_key",
        "dsn",
        "allowed_origins",
        "scrub_fields",
    }


def test_stored_project_dsn(store: Store) -> None:
    url = store.settings.effective_public_url
    assert store.project.dsn(url) == f"http://{store.project.public_key}@127.0.0.1:8000/{store.project.id}"
