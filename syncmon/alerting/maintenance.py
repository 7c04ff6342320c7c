"""Maintenance windows: planned time in which a project's alerts are recorded but not notified.

A window belongs to one project and may narrow itself with matchers. It is one time range,
or, with a weekly recurrence, that range again every week at the same local time in its
time zone (so "Sunday 02:00-04:00 Europe/Berlin" stays at 02:00 across daylight-saving
changes), optionally until a given time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from syncmon.alerting.model import Matcher, matches_all

WEEK_MS = 7 * 86_400_000


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    id: int
    project_id: int
    name: str
    starts_ms: int
    ends_ms: int
    matchers: tuple[Matcher, ...] = ()
    weekly: bool = False
    timezone: str = "UTC"
    until_ms: int | None = None

    def _occurrence_start(self, week: int) -> int:
        zone = ZoneInfo(self.timezone)
        first = datetime.fromtimestamp(self.starts_ms / 1000, zone)
        wall = first.replace(tzinfo=None) + timedelta(weeks=week)
        return int(wall.replace(tzinfo=zone).timestamp() * 1000)

    def active_at(self, now_ms: int) -> bool:
        if now_ms < self.starts_ms:
            return False
        if not self.weekly:
            return now_ms < self.ends_ms
        if self.until_ms is not None and now_ms >= self.until_ms:
            return False
        duration = self.ends_ms - self.starts_ms
        zone = ZoneInfo(self.timezone)
        days = (
            datetime.fromtimestamp(now_ms / 1000, zone).date()
            - datetime.fromtimestamp(self.starts_ms / 1000, zone).date()
        ).days
        for week in (days // 7, days // 7 - 1):
            if week < 0:
                continue
            start = self._occurrence_start(week)
            if start <= now_ms < start + duration:
                return True
        return False

    def covers(self, project_id: int | None, labels: dict[str, str], now_ms: int) -> bool:
        return project_id == self.project_id and matches_all(self.matchers, labels) and self.active_at(now_ms)


def in_maintenance(
    windows: list[MaintenanceWindow], project_id: int | None, labels: dict[str, str], now_ms: int
) -> MaintenanceWindow | None:
    """The first window covering this alert now, or None."""
    for window in sorted(windows, key=lambda w: w.id):
        if window.covers(project_id, labels, now_ms):
            return window
    return None
