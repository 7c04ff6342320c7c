"""Projects and their keys: the public key browsers send, the secret key servers send."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncmon.alerting.defaults import seed_default_rules
from syncmon.store.schema import projects

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_PROJECT_ID = 2**31 - 1  # projects.id is a 32-bit INTEGER


class ProjectError(ValueError):
    """A project operation cannot be done; the message says why."""


@dataclass(frozen=True)
class Project:
    id: int
    slug: str
    name: str
    public_key: str
    secret_key: str
    allowed_origins: list[str] = field(default_factory=lambda: ["*"])
    scrub_fields: list[str] = field(default_factory=list)

    def dsn(self, public_url: str) -> str:
        """Sentry-style DSN: scheme://<public key>@host[:port]/<project id>."""
        scheme, _, rest = public_url.partition("://")
        return f"{scheme}://{self.public_key}@{rest.rstrip('/')}/{self.id}"

    def origin_allowed(self, origin: str) -> bool:
        return "*" in self.allowed_origins or origin.rstrip("/") in self.allowed_origins

    def describe(self, public_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "name": self.name,
            "public_key": self.public_key,
            "secret_key": self.secret_key,
            "dsn": self.dsn(public_url),
            "allowed_origins": list(self.allowed_origins),
            "scrub_fields": list(self.scrub_fields),
        }


def new_public_key() -> str:
    return secrets.token_hex(16)


def new_secret_key() -> str:
    return "sk_" + secrets.token_hex(20)


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:63]
    if not SLUG_PATTERN.match(slug):
        raise ProjectError(f"project name {name!r} gives no usable slug (letters, digits, dashes)")
    return slug


def _from_row(row: Any) -> Project:
    return Project(
        id=row.id,
        slug=row.slug,
        name=row.name,
        public_key=row.public_key,
        secret_key=row.secret_key,
        allowed_origins=list(row.allowed_origins),
        scrub_fields=list(row.scrub_fields),
    )


def create_project(conn: Connection, name: str, now_ms: int, origins: list[str] | None = None) -> Project:
    slug = slugify(name)
    if conn.execute(sa.select(projects.c.id).where(projects.c.slug == slug)).first():
        raise ProjectError(f"a project with slug {slug!r} already exists")
    result = conn.execute(
        projects.insert().values(
            slug=slug,
            name=name.strip(),
            public_key=new_public_key(),
            secret_key=new_secret_key(),
            allowed_origins=origins if origins is not None else ["*"],
            scrub_fields=[],
            created_ms=now_ms,
        )
    )
    project_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    found = get_project(conn, int(project_id or 0))
    if found is None:
        raise ProjectError("project vanished after insert")
    seed_default_rules(conn, found.id, now_ms)  # the seed's alert thresholds, as rules
    return found


def list_projects(conn: Connection) -> list[Project]:
    return [_from_row(row) for row in conn.execute(sa.select(projects).order_by(projects.c.id))]


def get_project(conn: Connection, project_id: int) -> Project | None:
    row = conn.execute(sa.select(projects).where(projects.c.id == project_id)).first()
    return _from_row(row) if row else None


def find_project(conn: Connection, ref: str) -> Project | None:
    """Look a project up by slug, or by numeric id."""
    row = conn.execute(sa.select(projects).where(projects.c.slug == ref)).first()
    # ASCII digits within the INTEGER id column: '²'.isdigit() is true, and a larger number
    # overflows the bound parameter (a 500) instead of finding nothing.
    if row is None and ref.isascii() and ref.isdigit() and int(ref) <= MAX_PROJECT_ID:
        row = conn.execute(sa.select(projects).where(projects.c.id == int(ref))).first()
    return _from_row(row) if row else None


def project_for_key(conn: Connection, key: str) -> tuple[Project, bool] | None:
    """The project a key belongs to, and whether the key is its secret key."""
    row = conn.execute(
        sa.select(projects).where(sa.or_(projects.c.public_key == key, projects.c.secret_key == key))
    ).first()
    if row is None:
        return None
    return _from_row(row), row.secret_key == key


def rotate_keys(conn: Connection, ref: str) -> Project:
    project = find_project(conn, ref)
    if project is None:
        raise ProjectError(f"no project {ref!r}")
    conn.execute(
        projects.update()
        .where(projects.c.id == project.id)
        .values(public_key=new_public_key(), secret_key=new_secret_key())
    )
    rotated = get_project(conn, project.id)
    assert rotated is not None
    return rotated


def update_project(
    conn: Connection,
    ref: str,
    *,
    origins: list[str] | None = None,
    scrub_fields: list[str] | None = None,
) -> Project:
    project = find_project(conn, ref)
    if project is None:
        raise ProjectError(f"no project {ref!r}")
    values: dict[str, Any] = {}
    if origins is not None:
        values["allowed_origins"] = [origin.rstrip("/") for origin in origins]
    if scrub_fields is not None:
        values["scrub_fields"] = [name.strip().lower() for name in scrub_fields if name.strip()]
    if values:
        conn.execute(projects.update().where(projects.c.id == project.id).values(**values))
    updated = get_project(conn, project.id)
    assert updated is not None
    return updated


def ensure_project(conn: Connection, slug: str, now_ms: int) -> Project:
    """The project with this slug, created (with no browser origin allowed) if missing.

    Used for the monitor's own project, whose events the server records itself: no
    browser needs to send to it, so no origin is allowed until an admin adds one.
    """
    found = conn.execute(sa.select(projects).where(projects.c.slug == slug)).first()
    if found is not None:
        return _from_row(found)
    return create_project(conn, slug, now_ms, origins=[])
