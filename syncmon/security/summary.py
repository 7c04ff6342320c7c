"""The seed's SecurityMetrics, computed from rollups and recorded detections.

`SecurityDashboard` in the seed showed totalEvents, authEvents, authzEvents, dataEvents,
apiEvents and a threatLevel from a random-number generator. Here the counts come from the
count rollups of security events over the window, and the threat level from the
detections open in the threat window, with its score and top contributors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from syncmon.security.detection import Detection
from syncmon.security.threat import assess
from syncmon.security.vocabulary import Category, category_of

SEED_COUNTERS = {
    "authEvents": Category.AUTHENTICATION,
    "authzEvents": Category.AUTHORIZATION,
    "dataEvents": Category.DATA_ACCESS,
    "apiEvents": Category.API_ACCESS,
}


def category_counts(name_counts: Mapping[str, int]) -> dict[str, int]:
    counts: dict[str, int] = {category.value: 0 for category in Category}
    for name, count in name_counts.items():
        counts[category_of(name).value] += count
    return counts


def security_metrics(
    name_counts: Mapping[str, int], open_detections: Iterable[Detection], now_ms: int
) -> dict[str, Any]:
    """The seed's SecurityMetrics shape, plus threatScore, contributors and per-category counts."""
    by_category = category_counts(name_counts)
    threat = assess(open_detections)
    metrics: dict[str, Any] = {"totalEvents": sum(name_counts.values())}
    for field, category in SEED_COUNTERS.items():
        metrics[field] = by_category[category.value]
    metrics["threatLevel"] = threat.level.value
    metrics["lastUpdated"] = datetime.fromtimestamp(now_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
    metrics["threatScore"] = threat.score
    metrics["contributors"] = threat.explanation()
    metrics["floorFrom"] = threat.floor_from.rule if threat.floor_from else None
    metrics["categories"] = by_category
    return metrics
