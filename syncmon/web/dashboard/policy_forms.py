"""An escalation policy as an HTML form: ordered levels, each a timeout and target rows.

A form has no lists, so each value has its own numbered field: `level-<i>-timeout`,
`level-<i>-target-<j>-channel` and `level-<i>-target-<j>-user` (empty for the channel
itself, else `<user id>:email` or `<user id>:phone`). Rows left empty are dropped, and what
remains becomes the body the API takes (`PolicyIn`), checked there. Without JavaScript a
form grows by submitting an "add" button, which re-draws it with one more row and saves
nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from syncmon.web.dashboard.config_support import checked, whole_number

_FIELD = re.compile(r"^level-(\d{1,2})-(?:timeout|target-(\d{1,2})-(?:channel|user))$")
MAX_LEVELS = 20
MAX_TARGETS = 20


@dataclass
class TargetRow:
    channel: str = ""  # a channel id, as the select sends it
    user: str = ""  # "" (the channel itself) or "<user id>:<email|phone>"

    @property
    def empty(self) -> bool:
        return not self.channel.strip() and not self.user.strip()


@dataclass
class LevelRow:
    timeout: str = ""
    targets: list[TargetRow] = field(default_factory=lambda: [TargetRow()])

    @property
    def empty(self) -> bool:
        return not self.timeout.strip() and all(t.empty for t in self.targets)


def rows_from_policy(policy: dict[str, Any]) -> list[LevelRow]:
    """A stored policy (as `policy_admin.describe_policy` gives it) as form rows."""
    rows = []
    for level in policy["levels"]:
        targets = [
            TargetRow(
                str(t["channel_id"]),
                f"{t['user_id']}:{t.get('contact') or 'email'}" if t.get("user_id") else "",
            )
            for t in level["targets"]
        ]
        rows.append(LevelRow(str(level["timeout_seconds"]), targets))
    return rows


def rows_from_form(form: dict[str, str]) -> list[LevelRow]:
    """The form's level rows in their order, as typed (empty rows included)."""
    levels: dict[int, set[int]] = {}
    for name in form:
        found = _FIELD.match(name)
        if found and int(found.group(1)) < MAX_LEVELS:
            numbers = levels.setdefault(int(found.group(1)), set())
            if found.group(2) is not None and int(found.group(2)) < MAX_TARGETS:
                numbers.add(int(found.group(2)))
    rows = []
    for i in sorted(levels):
        prefix = f"level-{i}-target-"
        targets = [
            TargetRow(form.get(f"{prefix}{j}-channel", ""), form.get(f"{prefix}{j}-user", ""))
            for j in sorted(levels[i])
        ]
        rows.append(LevelRow(form.get(f"level-{i}-timeout", ""), targets or [TargetRow()]))
    return rows


def compact(rows: list[LevelRow]) -> list[LevelRow]:
    """The rows without empty ones, numbered as the body numbers them."""
    kept = []
    for row in rows:
        if row.empty:
            continue
        targets = [t for t in row.targets if not t.empty]
        kept.append(LevelRow(row.timeout, targets or [TargetRow()]))
    return kept


def grown(rows: list[LevelRow], add: str) -> list[LevelRow]:
    """The rows with the one an "add" button asked for: `level`, or `target-<i>`."""
    if add == "level" and len(rows) < MAX_LEVELS:
        return [*rows, LevelRow()]
    found = re.fullmatch(r"target-(\d{1,2})", add)
    index = int(found.group(1)) if found else len(rows)
    if index >= len(rows) or len(rows[index].targets) >= MAX_TARGETS:
        return rows
    row = rows[index]
    return [*rows[:index], LevelRow(row.timeout, [*row.targets, TargetRow()]), *rows[index + 1 :]]


def _target(row: TargetRow) -> dict[str, Any]:
    target: dict[str, Any] = {"channel_id": whole_number(row.channel)}
    if row.user.strip():
        user, _, contact = row.user.partition(":")
        target["user_id"] = whole_number(user)
        target["contact"] = contact or "email"
    return target


def policy_payload(form: dict[str, str], rows: list[LevelRow]) -> dict[str, Any]:
    """The body `PolicyIn` checks, from the form's fields and its non-empty rows."""
    levels = []
    for row in compact(rows):
        level: dict[str, Any] = {"targets": [_target(t) for t in row.targets if not t.empty]}
        timeout = whole_number(row.timeout)
        if timeout is not None:
            level["timeout_seconds"] = timeout
        levels.append(level)
    payload: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "project": form.get("project") or None,
        "default": checked(form, "default"),
        "levels": levels,
    }
    repeat = whole_number(form.get("repeat", ""))
    if repeat is not None:
        payload["repeat"] = repeat
    return payload


def readable(message: str) -> str:
    """`levels.0.targets.1.channel_id: …` as the form numbers it: `level 1, target 2, channel_id: …`."""
    text = re.sub(r"levels\.(\d+)", lambda m: f"level {int(m.group(1)) + 1}", message)
    text = re.sub(r"\.targets\.(\d+)", lambda m: f", target {int(m.group(1)) + 1}", text)
    return re.sub(r"^(level \d+(?:, target \d+)?)\.(\w+)", r"\1, \2", text)
