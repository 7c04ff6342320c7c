"""Request bodies for the ingest benchmarks, shaped like the seed's browser code sends them.

Each function returns a few distinct JSON bodies; the load generators rotate through them
so the server does not see one byte-identical request over and over.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import orjson

BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
PAGES = ["/", "/login", "/dashboard", "/settings/profile", "/billing", "/docs/getting-started"]


def security_event(rng: random.Random, n: int) -> dict[str, Any]:
    """SecurityAnalytics.trackSecurityEvent: the single-event benchmark's payload."""
    return {
        "event_type": rng.choice(["login_failed", "login_success", "permission_denied", "rate_limited"]),
        "severity": rng.choice(["low", "medium", "high"]),
        "auth_event": f"password attempt {n % 7}",
        "user_id": f"user-{n % 5000}",
        "session_id": f"sess-{n:08x}",
        "url": "https://app.example.com" + rng.choice(PAGES),
        # now, as an epoch number, for half of them (a fixed old date would be retention's to delete)
        "timestamp": int(time.time() * 1000) - n if n % 2 else None,
        "environment": "production",
        "release": "web@1.42.0",
    }


def batch_item(rng: random.Random, n: int) -> dict[str, Any]:
    """One item of a VercelAnalytics-style batch: page views, metrics, custom events, errors."""
    url = "https://app.example.com" + rng.choice(PAGES)
    common = {"session_id": f"sess-{n // 10:08x}", "user_id": f"user-{n % 5000}"}
    choice = n % 10
    if choice < 4:
        return {"name": "page_view", "url": url, "referrer": "https://www.google.com/", **common}
    if choice < 7:
        return {
            "kind": "performance",
            "metric": rng.choice(["LCP", "FID", "CLS", "TTFB", "INP"]),
            "value": round(rng.random() * 2500, 2),
            "unit": "ms",
            "url": url,
            **common,
        }
    if choice < 9:
        return {
            "name": rng.choice(["signup_click", "checkout_started", "search"]),
            "url": url,
            "plan": "pro",
            "query": "monitoring",
            **common,
        }
    return {
        "kind": "error",
        "type": "javascript_error",
        "message": "TypeError: Cannot read properties of undefined (reading 'id')",
        "filename": "https://app.example.com/static/app.js",
        "lineno": 1042,
        "colno": 17,
        "stack": "TypeError: Cannot read properties of undefined\n    at render (app.js:1042:17)",
        "url": url,
        **common,
    }


def single_bodies(count: int = 16, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    return [orjson.dumps(security_event(rng, n)) for n in range(count)]


def batch_bodies(size: int = 100, count: int = 8, seed: int = 2) -> list[bytes]:
    rng = random.Random(seed)
    return [
        orjson.dumps({"events": [batch_item(rng, b * size + i) for i in range(size)]}) for b in range(count)
    ]


def write_bodies(path: Path, bodies: list[bytes]) -> Path:
    """One JSON document per line, as bench/post.lua and bench/paced.py read them."""
    path.write_bytes(b"\n".join(bodies) + b"\n")
    return path
