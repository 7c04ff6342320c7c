"""Seeding what the Security and Errors pages show, through the real ingest endpoints.

Payloads are the seed's own shapes (SecurityAnalytics calls to /api/monitoring/security,
ErrorMonitoring reports to /api/monitoring/error, request items of the batch endpoint) and
Sentry events posted to the Sentry store endpoint. XSS payloads ride in every field a page
prints: messages, URLs, user agents, accounts, properties, frame file names, tags.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from syncmon.store.projects import Project

XSS = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "<script>window.__xss=2</script>"
SUB_EVENT = {
    "authentication": "auth_event",
    "authorization": "authz_event",
    "data_access": "data_event",
    "api_access": "api_event",
}
CHROME_STACK = """TypeError: Cannot read properties of undefined (reading 'total')
    at renderCart (https://shop.example/static/js/cart.js:41:17)
    at HTMLButtonElement.onClick (https://shop.example/static/js/app.js:12:5)
    at invokeGuarded (https://shop.example/node_modules/react-dom/cjs/react-dom.development.js:4164:14)"""


def escaped(text: str) -> str:
    """How Jinja's autoescape writes `text` into HTML."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def seed_call(event_type: str, sub_event: str | None = None, **fields: Any) -> dict[str, Any]:
    """A seed SecurityAnalytics payload: seed_call("authentication", "login_failed") is
    trackAuthenticationEvent('login_failed')."""
    payload: dict[str, Any] = {"event_type": event_type, **fields}
    if sub_event is not None:
        payload[SUB_EVENT[event_type]] = sub_event
    return payload


def request_item(url: str, status: int, **fields: Any) -> dict[str, Any]:
    """A `request` batch item, as a server's SDK middleware reports one."""
    return {"kind": "request", "method": "GET", "url": url, "status": status, "duration_ms": 2, **fields}


def seed_error(**fields: Any) -> dict[str, Any]:
    """The seed's ErrorMonitoring.trackError payload for an uncaught TypeError in Chrome."""
    return {
        "type": "javascript_error",
        "message": "Uncaught TypeError: Cannot read properties of undefined (reading 'total')",
        "filename": "https://shop.example/static/js/cart.js",
        "lineno": 41,
        "colno": 17,
        "stack": CHROME_STACK,
        "url": "https://shop.example/cart",
        **fields,
    }


def sentry_error(value: str = "'sku-4411'", **fields: Any) -> dict[str, Any]:
    """A sentry-python KeyError with an in-app frame (context lines, locals), a library frame,
    breadcrumbs, tags, a user and a request."""
    payload: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "platform": "python",
        "level": "error",
        "release": "shop@1.4.0",
        "environment": "production",
        "tags": {"region": "eu-west", "feature": "checkout"},
        "user": {"id": "customer-17"},
        "request": {"url": "https://shop.example/api/price", "method": "GET"},
        "breadcrumbs": {
            "values": [
                {"timestamp": 1767225590.5, "category": "http", "level": "info", "message": "GET /api/cart"},
                {"timestamp": 1767225599.25, "category": "query", "message": "SELECT price FROM prices"},
            ]
        },
        "exception": {
            "values": [
                {
                    "type": "KeyError",
                    "value": value,
                    "mechanism": {"type": "generic", "handled": False},
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "handle",
                                "module": "starlette.routing",
                                "filename": "starlette/routing.py",
                                "abs_path": "/venv/lib/python3.12/site-packages/starlette/routing.py",
                                "lineno": 74,
                                "in_app": False,
                                "context_line": "        response = await func(request)",
                            },
                            {
                                "function": "price_of",
                                "module": "shop.catalog",
                                "filename": "shop/catalog.py",
                                "abs_path": "/srv/shop/catalog.py",
                                "lineno": 88,
                                "in_app": True,
                                "pre_context": ["def price_of(sku):", '    """The price of one SKU."""'],
                                "context_line": "    return PRICES[sku]",
                                "post_context": ["", "def total(cart):"],
                                "vars": {"sku": "'sku-4411'"},
                            },
                        ]
                    },
                }
            ]
        },
    }
    payload.update(fields)
    return payload


class Seeder:
    """Posts through the ingest endpoints of one project, each reply checked."""

    def __init__(self, client: httpx.Client, project: Project) -> None:
        self.client = client
        self.project = project

    def _ok(self, response: httpx.Response) -> Any:
        assert response.status_code == 200, response.text
        return response.json()

    def security(self, payload: dict[str, Any], *, trusted: bool = True, **headers: str) -> str:
        """One SecurityAnalytics call; with the secret key the claimed IP and account hold."""
        if trusted:
            headers["X-Syncmon-Key"] = self.project.secret_key
            reply = self.client.post("/api/monitoring/security", json=payload, headers=headers)
        else:
            reply = self.client.post(
                f"/api/monitoring/security?key={self.project.public_key}", json=payload, headers=headers
            )
        event_id: str = self._ok(reply)["id"]
        return event_id

    def batch(self, items: list[dict[str, Any]]) -> list[str]:
        reply = self.client.post(
            "/api/monitoring/events", json=items, headers={"X-Syncmon-Key": self.project.secret_key}
        )
        ids: list[str] = self._ok(reply)["ids"]
        return ids

    def error(self, payload: dict[str, Any], **headers: str) -> str:
        """The seed's ErrorMonitoring report from a browser (public key)."""
        reply = self.client.post(
            f"/api/monitoring/error?key={self.project.public_key}", json=payload, headers=headers
        )
        event_id: str = self._ok(reply)["id"]
        return event_id

    def sentry(self, payload: dict[str, Any]) -> str:
        """A Sentry event through the store endpoint, as sentry-python sends one."""
        auth = (
            "Sentry sentry_version=7, sentry_client=sentry.python/2.19.0, "
            f"sentry_key={self.project.public_key}"
        )
        reply = self.client.post(
            f"/api/{self.project.id}/store/", json=payload, headers={"X-Sentry-Auth": auth}
        )
        event_id: str = self._ok(reply)["id"]
        return event_id
