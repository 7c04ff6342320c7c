"""Sentry ingest benchmark: realistic error envelopes through the whole path, end to end.

    .venv/bin/python bench/sentry.py --engine sqlite --duration 10
    .venv/bin/python bench/sentry.py --engine sqlite,postgresql --quiet-wait 300

Builds error events the way sentry-sdk 2.x (Python: FastAPI, Django, Celery) and the
JavaScript SDKs 8.x (browser/React, Node/Express) send them: 23 issue groups of 21
exception types, chained exceptions, 8-30 frames each (module, filename, abs_path,
function, lineno, context lines and local variables where the SDK sends them; in_app set
as the SDK sets it), breadcrumbs, contexts, tags, request, user, modules, release and
environment; 3-10 KB of JSON each, with ids and numbers varying in every message so the
normalisation and grouping do real work. Each event is serialised by
`sentry_sdk.envelope.Envelope` (envelope header with event_id and sent_at, item header
with type and length) and, like sentry-python's transport, gzip-compressed at level 9.
Every request carries a fresh event_id (a repeated id would be deduplicated, not stored),
so the pools are built ahead for the whole run (--pool bodies per saturation phase).

Per engine (a fresh store each; `syncmon serve` as a child process, from bench/ingest.py):

  wrk-gzip     wrk, 32 keep-alive connections, gzip envelopes at saturation
  wrk-plain    the same, uncompressed envelopes
  paced-gzip   a paced (open-loop) generator offering --rate envelopes/s (bench/paced.py's)

For each phase: events acknowledged per second, latency percentiles, server CPU and peak
RSS; afterwards the error events stored are compared with those acknowledged, and the
issues in the store with the groups sent (issue count, distinct fingerprints, and the
issues' event counts adding up to the stored events). Prints Markdown.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

import bench.paced as paced  # noqa: E402
from bench.ingest import (  # noqa: E402
    PhaseResult,
    RssSampler,
    Server,
    commit_metrics,
    count_rows,
    describe_machine,
    describe_source,
    host_cpu_ticks,
    make_store,
    settled_count,
    start_profiler,
    stop_profiler,
    wait_for_quiet_host,
)

PHASES = ("wrk-gzip", "wrk-plain", "paced-gzip")
PY_SDK_VERSION = "2.75.0"
JS_SDK_VERSION = "8.33.1"
RELEASE_PY = "api@2024.6.3+4f2c1e9"
RELEASE_WEB = "web@3.18.0"
RELEASE_NODE = "gateway@1.27.4"

# --- what the SDKs send ----------------------------------------------------------------

SITE = "/srv/app/.venv/lib/python3.12/site-packages/"
STDLIB = "/usr/local/lib/python3.12/"
APP = "/srv/app/"

# (module, function, in_app); for Python the file follows from the module
FASTAPI = [
    ("sentry_sdk.integrations.starlette", "_sentry_patched_asgi_app", False),
    ("starlette.middleware.errors", "__call__", False),
    ("starlette.middleware.exceptions", "__call__", False),
    ("starlette.routing", "app", False),
    ("fastapi.routing", "app", False),
    ("fastapi.routing", "run_endpoint_function", False),
]
DJANGO = [
    ("django.core.handlers.exception", "inner", False),
    ("django.core.handlers.base", "_get_response", False),
    ("sentry_sdk.integrations.django.views", "sentry_wrapped_callback", False),
    ("django.views.generic.base", "view", False),
    ("rest_framework.views", "dispatch", False),
]
CELERY = [
    ("celery.app.trace", "fast_trace_task", False),
    ("celery.app.trace", "trace_task", False),
    ("sentry_sdk.integrations.celery", "_inner", False),
    ("celery.app.trace", "__protected_call__", False),
    ("celery.app.task", "__call__", False),
]
SQLALCHEMY = [
    ("sqlalchemy.orm.session", "execute", False),
    ("sqlalchemy.engine.base", "_exec_single_context", False),
    ("sqlalchemy.engine.default", "do_execute", False),
]
PSYCOPG = [("psycopg.cursor", "execute", False)]
REQUESTS = [
    ("requests.sessions", "request", False),
    ("requests.sessions", "send", False),
    ("requests.adapters", "send", False),
]
PYDANTIC = [("pydantic.main", "model_validate", False)]
JSONLIB = [("json", "loads", False), ("json.decoder", "decode", False), ("json.decoder", "raw_decode", False)]


def app(*names: str) -> list[tuple[str, str, bool]]:
    """In-app frames from "module:function" names."""
    return [(name.split(":")[0], name.split(":")[1], True) for name in names]


# Node/Express and browser frames: (file, function, in_app)
NODE_PREFIX = [
    ("node:internal/process/task_queues", "process.processTicksAndRejections", False),
    ("/srv/gateway/node_modules/express/lib/router/index.js", "next", False),
    ("/srv/gateway/node_modules/express/lib/router/route.js", "Route.dispatch", False),
    ("/srv/gateway/node_modules/express/lib/router/layer.js", "Layer.handle [as handle_request]", False),
    ("/srv/gateway/node_modules/express/lib/router/index.js", "Function.process_params", False),
    ("/srv/gateway/node_modules/express/lib/router/route.js", "next", False),
]
AXIOS = [
    ("/srv/gateway/node_modules/axios/lib/core/Axios.js", "Axios.request", False),
    ("/srv/gateway/node_modules/axios/lib/core/dispatchRequest.js", "dispatchRequest", False),
    ("/srv/gateway/node_modules/axios/lib/core/settle.js", "settle", False),
]
BODY_PARSER = [
    ("/srv/gateway/node_modules/body-parser/lib/read.js", "IncomingMessage.onEnd", False),
    ("/srv/gateway/node_modules/body-parser/lib/types/json.js", "parse", False),
    ("<anonymous>", "JSON.parse", False),
]
VENDOR = "https://app.example.com/static/js/vendors~main.8c1d2e7f.chunk.js"
MAIN = "https://app.example.com/static/js/main.3f9a2c1b.js"
REACT = [
    (VENDOR, "HTMLUnknownElement.callCallback", True),
    (VENDOR, "Object.invokeGuardedCallbackDev", True),
    (VENDOR, "invokeGuardedCallback", True),
    (VENDOR, "invokeGuardedCallbackAndCatchFirstError", True),
    (VENDOR, "executeDispatch", True),
    (VENDOR, "processDispatchQueueItemsInOrder", True),
    (VENDOR, "processDispatchQueue", True),
    (VENDOR, "dispatchEventsForPlugins", True),
    (VENDOR, "batchedUpdates$1", True),
    (VENDOR, "dispatchEventForPluginEventSystem", True),
]


def web(*names: str) -> list[tuple[str, str, bool]]:
    return [(MAIN, name, True) for name in names]


def node(*names: str) -> list[tuple[str, str, bool]]:
    """In-app Node frames from "path/in/dist:function" names."""
    return [(f"/srv/gateway/dist/{n.split(':')[0]}.js", n.split(":")[1], True) for n in names]


def _hexid(rng: random.Random, n: int = 8) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


COUNTRIES = ["DE", "FR", "NL", "SE", "PL", "BR", "IN", "JP", "CA", "AU", "MX", "ZA"]
PROPS = ["id", "name", "email", "items", "price", "currency", "address", "length", "map", "status"]
WORDS = ["abc", "n/a", "none", "twelve", "1e3x", "-", "null", "TBD", "??", "12,5"]


@dataclass(frozen=True)
class Group:
    """One issue: where it is thrown (a fixed stack) and how its messages vary."""

    platform: str  # python | javascript | node
    flavor: str  # fastapi | django | celery | browser | express
    chain: tuple[tuple[str | None, str, Any], ...]  # (module, type, value(rng)); root cause first
    frames: tuple[tuple[str, str, bool], ...]  # of the raised exception, outermost first
    cause_frames: tuple[tuple[str, str, bool], ...] = ()  # of the cause, when chained
    transaction: str = ""
    recursion: int = 0  # frames repeated at the crash end (a stack overflow)


GROUPS: tuple[Group, ...] = (
    Group(
        "python",
        "fastapi",
        ((None, "KeyError", lambda r: f"'order:{r.randrange(10**6)}'"),),
        (*FASTAPI, *app("app.api.orders:get_order", "app.services.orders:load", "app.services.cache:lookup")),
        transaction="/api/orders/{order_id}",
    ),
    Group(
        "python",
        "django",
        ((None, "ValueError", lambda r: f"invalid literal for int() with base 10: '{r.choice(WORDS)}'"),),
        (
            *DJANGO,
            *app("app.views.reports:export_csv", "app.reports.csv:write_rows", "app.reports.csv:parse_row"),
        ),
        transaction="/reports/<int:report_id>/export",
    ),
    Group(
        "python",
        "celery",
        ((None, "TypeError", lambda r: "'NoneType' object is not subscriptable"),),
        (
            *CELERY,
            *app(
                "app.tasks.email:send_digest", "app.email.render:render_digest", "app.email.render:item_row"
            ),
        ),
        transaction="app.tasks.email.send_digest",
    ),
    Group(
        "python",
        "fastapi",
        ((None, "AttributeError", lambda r: "'NoneType' object has no attribute 'email'"),),
        (
            *FASTAPI,
            *app(
                "app.api.users:update_profile",
                "app.services.users:apply_changes",
                "app.services.users:notify",
            ),
        ),
        transaction="/api/users/{user_id}",
    ),
    Group(
        "python",
        "celery",
        ((None, "ZeroDivisionError", lambda r: "division by zero"),),
        (
            *CELERY,
            *app(
                "app.tasks.metrics:hourly_rollup", "app.metrics.stats:conversion", "app.metrics.stats:ratio"
            ),
        ),
        transaction="app.tasks.metrics.hourly_rollup",
    ),
    Group(
        "python",
        "fastapi",
        (
            (
                "psycopg.errors",
                "UniqueViolation",
                lambda r: (
                    'duplicate key value violates unique constraint "ux_orders_external_id"\n'
                    f"DETAIL:  Key (external_id)=(ext-{r.randrange(10**7)}) already exists."
                ),
            ),
            (
                "sqlalchemy.exc",
                "IntegrityError",
                lambda r: (
                    "(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "
                    '"ux_orders_external_id"\n'
                    f"DETAIL:  Key (external_id)=(ext-{r.randrange(10**7)}) already exists."
                ),
            ),
        ),
        (*FASTAPI[2:], *app("app.api.orders:create_order", "app.repo.orders:insert"), *SQLALCHEMY),
        cause_frames=tuple(PSYCOPG),
        transaction="/api/orders",
    ),
    Group(
        "python",
        "celery",
        (
            (
                "sqlalchemy.exc",
                "OperationalError",
                lambda r: (
                    f'(psycopg.OperationalError) connection to server at "10.0.3.{r.randrange(2, 250)}", '
                    "port 5432 failed: timeout expired"
                ),
            ),
        ),
        (*CELERY, *app("app.tasks.sync:sync_accounts", "app.repo.accounts:fetch_batch"), *SQLALCHEMY),
        transaction="app.tasks.sync.sync_accounts",
    ),
    Group(
        "python",
        "django",
        (
            (
                "requests.exceptions",
                "ConnectionError",
                lambda r: (
                    "HTTPSConnectionPool(host='api.stripe.com', port=443): Max retries exceeded with url: "
                    f"/v1/charges/ch_{_hexid(r, 24)} (Caused by NewConnectionError('Failed to establish "
                    "a new connection: [Errno 111] Connection refused'))"
                ),
            ),
        ),
        (*DJANGO[1:], *app("app.billing.views:charge", "app.integrations.stripe:create_charge"), *REQUESTS),
        transaction="/billing/charge",
    ),
    Group(
        "python",
        "fastapi",
        (
            (
                None,
                "TimeoutError",
                lambda r: f"search backend did not answer within {r.randrange(500, 5000)} ms",
            ),
        ),
        (*FASTAPI, *app("app.api.search:search", "app.search.client:query", "app.search.client:_wait")),
        transaction="/api/search",
    ),
    Group(
        "python",
        "celery",
        (
            (
                None,
                "PermissionError",
                lambda r: (
                    "[Errno 13] Permission denied: "
                    f"'/var/lib/app/uploads/{uuid.UUID(int=r.getrandbits(128))}.pdf'"
                ),
            ),
        ),
        (
            *CELERY,
            *app("app.tasks.files:cleanup_uploads", "app.storage.local:purge", "app.storage.local:remove"),
        ),
        transaction="app.tasks.files.cleanup_uploads",
    ),
    Group(
        "python",
        "fastapi",
        (
            (
                "pydantic_core._pydantic_core",
                "ValidationError",
                lambda r: (
                    "1 validation error for WebhookEvent\namount\n  Input should be a valid integer, "
                    "unable to parse string as an integer [type=int_parsing, "
                    f"input_value='{r.randrange(100)}.{r.randrange(100)}', "
                    "input_type=str]"
                ),
            ),
        ),
        (*FASTAPI, *app("app.api.webhooks:receive", "app.schemas.webhooks:parse_event"), *PYDANTIC),
        transaction="/api/webhooks/{provider}",
    ),
    Group(
        "python",
        "django",
        (
            (
                "json.decoder",
                "JSONDecodeError",
                lambda r: f"Expecting value: line 1 column {r.randrange(1, 900)} (char {r.randrange(900)})",
            ),
        ),
        (
            *DJANGO,
            *app("app.integrations.slack.views:events", "app.integrations.slack.events:decode"),
            *JSONLIB,
        ),
        transaction="/integrations/slack/events",
    ),
    Group(
        "python",
        "celery",
        ((None, "IndexError", lambda r: "list index out of range"),),
        (
            *CELERY,
            *app(
                "app.tasks.imports:process_file", "app.imports.xlsx:read_sheet", "app.imports.xlsx:header_row"
            ),
        ),
        transaction="app.tasks.imports.process_file",
    ),
    Group(
        "python",
        "django",
        ((None, "KeyError", lambda r: f"'{r.choice(COUNTRIES)}'"),),
        (*DJANGO, *app("app.billing.views:invoice", "app.billing.tax:vat_for", "app.billing.tax:rate_for")),
        transaction="/billing/invoices/<uuid:invoice_id>",
    ),
    Group(
        "python",
        "fastapi",
        (
            (
                None,
                "FileNotFoundError",
                lambda r: f"[Errno 2] No such file or directory: '/tmp/render-{_hexid(r)}/invoice.html'",
            ),
            (None, "RuntimeError", lambda r: f"failed to render invoice INV-{r.randrange(10**6)}"),
        ),
        (
            *FASTAPI[1:],
            *app("app.api.exports:download", "app.exports.pdf:render", "app.exports.pdf:_load_template"),
        ),
        cause_frames=tuple(app("app.exports.pdf:_load_template", "app.exports.templates:read")),
        transaction="/api/exports/{export_id}",
    ),
    Group(
        "javascript",
        "browser",
        (
            (
                None,
                "TypeError",
                lambda r: f"Cannot read properties of undefined (reading '{r.choice(PROPS)}')",
            ),
        ),
        (*REACT, *web("CheckoutForm.handleSubmit", "validateCart", "lineTotal")),
        transaction="/checkout",
    ),
    Group(
        "javascript",
        "browser",
        ((None, "ReferenceError", lambda r: "gtag is not defined"),),
        (*REACT[4:], *web("ProductCard.onAddToCart", "trackEvent", "sendToAnalytics")),
        transaction="/products/:slug",
    ),
    Group(
        "javascript",
        "browser",
        ((None, "RangeError", lambda r: "Maximum call stack size exceeded"),),
        (*REACT[6:], *web("CategoryTree.render", "flattenTree")),
        transaction="/categories",
        recursion=20,
    ),
    Group(
        "javascript",
        "browser",
        (
            (
                None,
                "ChunkLoadError",
                lambda r: (
                    f"Loading chunk {r.randrange(100, 999)} failed.\n(error: https://app.example.com/static/js/"
                    f"{r.randrange(100, 999)}.{_hexid(r)}.chunk.js)"
                ),
            ),
        ),
        (*REACT[2:], *web("lazyRoute", "loadChunk", "requireEnsure")),
        transaction="/account/settings",
    ),
    Group(
        "node",
        "express",
        (
            (
                None,
                "AxiosError",
                lambda r: f"Request failed with status code {r.choice([500, 502, 503, 504])}",
            ),
        ),
        (
            *NODE_PREFIX,
            *node("routes/orders:createOrder", "services/payments:authorize", "clients/psp:post"),
            *AXIOS,
        ),
        transaction="POST /v2/orders",
    ),
    Group(
        "node",
        "express",
        (
            (
                None,
                "TypeError",
                lambda r: "Cannot destructure property 'id' of 'req.user' as it is undefined.",
            ),
        ),
        (*NODE_PREFIX, *node("middleware/auth:requireTenant", "routes/projects:listProjects")),
        transaction="GET /v2/projects",
    ),
    Group(
        "node",
        "express",
        (
            (
                None,
                "SyntaxError",
                lambda r: f"Unexpected token {r.choice('<}]a')} in JSON at position {r.randrange(400)}",
            ),
        ),
        (*NODE_PREFIX[:3], *node("middleware/rawBody:capture", "routes/webhooks:handle"), *BODY_PARSER),
        transaction="POST /v2/webhooks/:source",
    ),
    Group(
        "node",
        "express",
        ((None, "TimeoutError", lambda r: f"Redis command timed out after {r.randrange(100, 3000)}ms"),),
        (*NODE_PREFIX, *node("routes/sessions:refresh", "services/sessions:touch", "lib/redis:withTimeout")),
        transaction="POST /v2/sessions/refresh",
    ),
)
# Skewed like real traffic (a few issues are most of the events), every group still common.
WEIGHTS = [1 / (rank + 1) ** 0.7 for rank in range(len(GROUPS))]

MODULES = {
    name: version
    for name, version in (
        ("fastapi", "0.111.0"),
        ("starlette", "0.37.2"),
        ("uvicorn", "0.30.1"),
        ("pydantic", "2.7.4"),
        ("pydantic-core", "2.18.4"),
        ("sqlalchemy", "2.0.31"),
        ("psycopg", "3.1.19"),
        ("celery", "5.4.0"),
        ("redis", "5.0.6"),
        ("requests", "2.32.3"),
        ("urllib3", "2.2.2"),
        ("django", "5.0.6"),
        ("djangorestframework", "3.15.2"),
        ("gunicorn", "22.0.0"),
        ("jinja2", "3.1.4"),
        ("orjson", "3.10.5"),
        ("sentry-sdk", PY_SDK_VERSION),
        ("stripe", "9.12.0"),
        ("boto3", "1.34.131"),
        ("httpx", "0.27.0"),
    )
}
SOURCE = [
    "res = {callee}(data)",
    "if not {var}:",
    "    raise NotFound({var})",
    "{var} = self.db.get(pk)",
    'log.debug("%s", {var})',
    "for it in {var}:",
    "    n += it.qty",
    "return {callee}({var})",
    "with self.lock:",
    "{var}.update(kw)",
    "except KeyError:",
    "    continue",
]
VAR_NAMES = ["order", "user", "payload", "items", "row", "account", "invoice", "options", "response", "key"]


@dataclass
class FrameSource:
    """What the SDK reads from the file for one frame: fixed for a code location."""

    lineno: int
    pre: list[str]
    line: str
    post: list[str]


@functools.lru_cache(maxsize=1024)
def _source(function: str, seed: int, js: bool) -> FrameSource:
    rng = random.Random(seed)
    name = function.split(".")[-1]

    def code(n: int) -> list[str]:
        lines = []
        for _ in range(n):
            text = rng.choice(SOURCE).format(
                callee=rng.choice(["fetch", "load", "render", "send"]), var=rng.choice(VAR_NAMES)
            )
            if js:
                text = text.replace("self.", "this.").replace(":", " {").replace("raise ", "throw new ")
            lines.append("    " + text)
        return lines

    header = f"  async {name}(req) {{" if js else f"  def {name}(self, pk):"
    return FrameSource(
        rng.randrange(20, 900),
        [header, *code(4)],
        "    " + rng.choice(SOURCE).format(callee=name, var=rng.choice(VAR_NAMES)),
        code(5),
    )


def _py_frame(spec: tuple[str, str, bool], rng: random.Random, with_vars: bool) -> dict[str, Any]:
    module, function, in_app = spec
    filename = module.replace(".", "/") + ("/__init__.py" if module == "json" else ".py")
    base = APP if in_app else STDLIB if module.startswith("json") else SITE
    src = _source(function, zlib.crc32(f"{module}:{function}".encode()), js=False)
    frame: dict[str, Any] = {
        "filename": filename,
        "abs_path": base + filename,
        "function": function,
        "module": module,
        "lineno": src.lineno,
        "pre_context": src.pre,
        "context_line": src.line,
        "post_context": src.post,
        "in_app": in_app,
    }
    if with_vars:
        variables: dict[str, Any] = {}
        if function not in ("loads", "decode", "raw_decode"):
            variables["self"] = (
                f"<{module}.{function.title().replace('_', '')} object at 0x7f{_hexid(rng, 10)}>"
            )
        for name in rng.sample(VAR_NAMES, rng.randrange(1, 3)):
            kind = rng.randrange(4)
            variables[name] = (
                rng.randrange(10**6)
                if kind == 0
                else f"'{name}_{_hexid(rng, 6)}'"
                if kind == 1
                else {"id": rng.randrange(10**6), "status": "'pending'"}
                if kind == 2
                else "None"
            )
        frame["vars"] = variables
    return frame


def _js_frame(spec: tuple[str, str, bool], rng: random.Random, server: bool) -> dict[str, Any]:
    filename, function, in_app = spec
    frame: dict[str, Any] = {"filename": filename, "function": function, "in_app": in_app}
    if server:  # Node: module names and context lines from the files on disk
        module = filename.rsplit("/", 1)[-1].removesuffix(".js")
        folder = (
            filename.split("/node_modules/")[-1]
            if "node_modules" in filename
            else filename.split("/dist/")[-1]
        )
        frame["module"] = (
            folder.rsplit("/", 1)[0].replace("/", ".") + ":" + module if "/" in folder else module
        )
        src = _source(function, zlib.crc32(f"{filename}:{function}".encode()), js=True)
        frame.update(lineno=src.lineno, colno=rng.randrange(5, 40) if not in_app else 17)
        if filename.startswith("/"):
            frame.update(pre_context=src.pre, context_line=src.line, post_context=src.post)
        frame["abs_path"] = filename
    else:  # browser: a minified bundle, one line, no source
        frame.update(lineno=2, colno=zlib.crc32(f"{function}@{filename}".encode()) % 250_000 + 1)
        frame["abs_path"] = filename
    return frame


def _breadcrumbs_py(rng: random.Random, now: float) -> list[dict[str, Any]]:
    crumbs = []
    for i in range(rng.randrange(2, 6)):
        t = now - rng.random() * 2
        kind = rng.randrange(3)
        if kind == 0:
            crumbs.append(
                {
                    "type": "default",
                    "category": "query",
                    "message": "SELECT orders.id, orders.status FROM orders "
                    f"WHERE orders.account_id = %(account_id_{i})s",
                    "data": {"db.system": "postgresql"},
                    "timestamp": t,
                    "level": "info",
                }
            )
        elif kind == 1:
            crumbs.append(
                {
                    "type": "http",
                    "category": "httplib",
                    "data": {
                        "url": f"https://api.internal.example.com/v1/accounts/{rng.randrange(10**5)}",
                        "method": "GET",
                        "status_code": 200,
                        "reason": "OK",
                    },
                    "timestamp": t,
                    "level": "info",
                }
            )
        else:
            crumbs.append(
                {
                    "type": "log",
                    "category": "app.services",
                    "level": "info",
                    "message": f"processing batch {rng.randrange(10**4)} "
                    f"for tenant {rng.choice(['acme', 'globex', 'initech'])}",
                    "timestamp": t,
                }
            )
    return sorted(crumbs, key=lambda c: c["timestamp"])


def _breadcrumbs_js(rng: random.Random, now: float, path: str) -> list[dict[str, Any]]:
    crumbs = [{"timestamp": now - 30, "category": "navigation", "data": {"from": "/", "to": path}}]
    for _ in range(rng.randrange(3, 10)):
        kind = rng.randrange(3)
        t = now - rng.random() * 20
        if kind == 0:
            crumbs.append(
                {
                    "timestamp": t,
                    "category": "ui.click",
                    "message": 'div.cart > button.btn.btn-primary[data-test="submit"]',
                }
            )
        elif kind == 1:
            crumbs.append(
                {
                    "timestamp": t,
                    "category": "fetch",
                    "type": "http",
                    "data": {
                        "method": "GET",
                        "url": f"/api/products?page={rng.randrange(1, 20)}",
                        "status_code": 200,
                        "__span": _hexid(rng, 16),
                    },
                }
            )
        else:
            crumbs.append(
                {
                    "timestamp": t,
                    "category": "console",
                    "level": "warning",
                    "message": 'Warning: Each child in a list should have a unique "key" prop.',
                    "data": {"logger": "console"},
                }
            )
    return sorted(crumbs, key=lambda c: c["timestamp"])


def _trace(rng: random.Random, op: str) -> dict[str, Any]:
    return {
        "trace_id": _hexid(rng, 32),
        "span_id": _hexid(rng, 16),
        "parent_span_id": _hexid(rng, 16),
        "op": op,
        "status": "internal_error",
    }


def _stack(
    group: Group, frames: tuple[tuple[str, str, bool], ...], rng: random.Random
) -> list[dict[str, Any]]:
    specs = list(frames)
    if group.recursion:
        specs += [specs[-1]] * group.recursion
    if group.platform == "python":
        return [_py_frame(spec, rng, with_vars=True) for spec in specs]
    return [_js_frame(spec, rng, server=group.platform == "node") for spec in specs]


def make_event(group_index: int, rng: random.Random, now: float) -> dict[str, Any]:
    """One error event as the SDK's client hands it to the transport."""
    group = GROUPS[group_index]
    event_id = uuid.uuid4().hex
    timestamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    values = []
    for position, (module, kind, value) in enumerate(group.chain):
        raised = position == len(group.chain) - 1
        mechanism: dict[str, Any] = {
            "type": group.flavor if group.platform == "python" else "onerror",
            "handled": False,
        }
        if len(group.chain) > 1:
            mechanism.update(exception_id=len(group.chain) - 1 - position)
            if not raised:
                mechanism.update(
                    type="chained", source="__cause__", parent_id=len(group.chain) - position - 2
                )
        frames = group.frames if raised else group.cause_frames or group.frames[-2:]
        entry: dict[str, Any] = {
            "type": kind,
            "value": value(rng),
            "mechanism": mechanism,
            "stacktrace": {"frames": _stack(group, frames, rng)},
        }
        if module:
            entry["module"] = module
        values.append(entry)
    event: dict[str, Any] = {
        "event_id": event_id,
        "timestamp": timestamp,
        "level": "error",
        "platform": group.platform,
        "exception": {"values": values},
        "transaction": group.transaction,
        "transaction_info": {"source": "route"},
    }
    user_id = f"user-{rng.randrange(5000)}"
    if group.platform == "python":
        method = "POST" if "create" in str(group.frames) else "GET"
        event.update(
            server_name=f"web-{rng.randrange(1, 7)}",
            release=RELEASE_PY,
            environment="production",
            breadcrumbs={"values": _breadcrumbs_py(rng, now)},
            contexts={
                "trace": _trace(rng, "queue.task.celery" if group.flavor == "celery" else "http.server"),
                "runtime": {
                    "name": "CPython",
                    "version": "3.12.4",
                    "build": "3.12.4 (main, Jun 13 2024, 20:21:47) [GCC 12.2.0]",
                },
            },
            modules=MODULES,
            extra={
                "sys.argv": [
                    "/srv/app/.venv/bin/gunicorn",
                    "app.main:app",
                    "-k",
                    "uvicorn.workers.UvicornWorker",
                ]
            },
            tags={"tenant": rng.choice(["acme", "globex", "initech", "umbrella"]), "region": "eu-west-1"},
            user={"id": user_id, "ip_address": f"203.0.113.{rng.randrange(1, 255)}"},
            sdk={
                "name": f"sentry.python.{group.flavor}",
                "version": PY_SDK_VERSION,
                "packages": [{"name": "pypi:sentry-sdk", "version": PY_SDK_VERSION}],
                "integrations": [
                    "argv",
                    "atexit",
                    "celery",
                    "dedupe",
                    "django",
                    "excepthook",
                    "fastapi",
                    "logging",
                    "modules",
                    "redis",
                    "sqlalchemy",
                    "starlette",
                    "stdlib",
                    "threading",
                ],
            },
        )
        if group.flavor != "celery":
            event["request"] = {
                "url": f"https://api.example.com{group.transaction.replace('{', '').replace('}', '')}",
                "method": method,
                "query_string": f"page={rng.randrange(1, 9)}&expand=items",
                "headers": {
                    "Host": "api.example.com",
                    "User-Agent": "python-requests/2.32.3",
                    "Accept": "*/*",
                    "X-Request-Id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "Content-Type": "application/json",
                    "X-Forwarded-Proto": "https",
                },
                "env": {"REMOTE_ADDR": "10.0.1.12", "SERVER_NAME": "api.example.com", "SERVER_PORT": "443"},
                "data": {
                    "account_id": rng.randrange(10**5),
                    "currency": "EUR",
                    "items": [
                        {"sku": f"SKU-{rng.randrange(10**4)}", "qty": rng.randrange(1, 5)}
                        for _ in range(rng.randrange(1, 4))
                    ],
                }
                if method == "POST"
                else {},
            }
    elif group.platform == "javascript":
        path = group.transaction.replace(":slug", f"item-{rng.randrange(900)}")
        event.update(
            release=RELEASE_WEB,
            environment="production",
            breadcrumbs=_breadcrumbs_js(rng, now, path),
            contexts={"trace": _trace(rng, "pageload"), "react": {"version": "18.3.1"}},
            tags={
                "locale": rng.choice(["en-US", "de-DE", "fr-FR"]),
                "plan": rng.choice(["free", "pro", "team"]),
            },
            user={"id": user_id, "ip_address": "{{auto}}"},
            request={
                "url": f"https://app.example.com{path}",
                "headers": {
                    "Referer": "https://app.example.com/",
                    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
                },
            },
            sdk={
                "name": "sentry.javascript.react",
                "version": JS_SDK_VERSION,
                "packages": [{"name": "npm:@sentry/react", "version": JS_SDK_VERSION}],
                "integrations": [
                    "InboundFilters",
                    "FunctionToString",
                    "BrowserApiErrors",
                    "Breadcrumbs",
                    "GlobalHandlers",
                    "LinkedErrors",
                    "Dedupe",
                    "HttpContext",
                    "BrowserTracing",
                ],
            },
        )
    else:
        event.update(
            server_name=f"gateway-{rng.randrange(1, 4)}",
            release=RELEASE_NODE,
            environment="production",
            breadcrumbs=_breadcrumbs_js(rng, now, "/v2"),
            contexts={
                "trace": _trace(rng, "http.server"),
                "runtime": {"name": "node", "version": "v20.15.0"},
                "os": {"kernel_version": "6.1.0-21-cloud-amd64", "name": "Linux"},
                "app": {
                    "app_start_time": "2024-06-20T08:12:03.113Z",
                    "app_memory": rng.randrange(10**8, 4 * 10**8),
                },
                "device": {
                    "arch": "x64",
                    "memory_size": 8330801152,
                    "processor_count": 2,
                    "cpu_description": "Intel(R) Xeon(R) CPU @ 2.20GHz",
                },
                "culture": {"locale": "en-US", "timezone": "UTC"},
            },
            tags={"tenant": rng.choice(["acme", "globex", "initech", "umbrella"])},
            user={"id": user_id, "ip_address": f"198.51.100.{rng.randrange(1, 255)}"},
            request={
                "method": group.transaction.split()[0],
                "url": f"https://gateway.example.com{group.transaction.split()[1]}",
                "headers": {
                    "host": "gateway.example.com",
                    "user-agent": "okhttp/4.12.0",
                    "accept": "application/json",
                    "x-request-id": str(uuid.UUID(int=rng.getrandbits(128))),
                },
            },
            sdk={
                "name": "sentry.javascript.node",
                "version": JS_SDK_VERSION,
                "packages": [{"name": "npm:@sentry/node", "version": JS_SDK_VERSION}],
                "integrations": [
                    "InboundFilters",
                    "FunctionToString",
                    "LinkedErrors",
                    "RequestData",
                    "Console",
                    "Http",
                    "Express",
                    "OnUncaughtException",
                    "OnUnhandledRejection",
                    "ContextLines",
                    "LocalVariables",
                    "Context",
                    "Modules",
                ],
            },
        )
    return event


def envelope_bytes(event: dict[str, Any]) -> bytes:
    """The event as sentry-sdk serialises it for the transport."""
    from sentry_sdk.envelope import Envelope

    sent_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    envelope = Envelope(headers={"event_id": event["event_id"], "sent_at": sent_at})
    envelope.add_event(event)
    return envelope.serialize()


def _make_chunk(job: tuple[int, int, bool]) -> tuple[list[bytes], list[int], list[int]]:
    count, seed, compress = job
    rng = random.Random(seed)
    now = time.time()
    bodies, groups, sizes = [], [], []
    indices = list(range(len(GROUPS)))
    for n in range(count):
        index = rng.choices(indices, WEIGHTS)[0] if n >= len(GROUPS) else n  # every group early on
        raw = envelope_bytes(make_event(index, rng, now))
        bodies.append(gzip.compress(raw, compresslevel=9) if compress else raw)
        groups.append(index)
        sizes.append(len(raw))
    return bodies, groups, sizes


@dataclass
class Pool:
    bodies: list[bytes] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    raw_sizes: list[int] = field(default_factory=list)  # envelope bytes before compression


def build_pool(count: int, compress: bool, seed: int, workers: int) -> Pool:
    chunk = 2000
    jobs = [
        (min(chunk, count - start), seed * 1_000_003 + start, compress) for start in range(0, count, chunk)
    ]
    pool = Pool()
    with multiprocessing.Pool(workers) as processes:
        for bodies, groups, sizes in processes.imap(_make_chunk, jobs):
            pool.bodies += bodies
            pool.groups += groups
            pool.raw_sizes += sizes
    return pool


# --- body files and load generators (shared with bench/posthog.py) -----------------------


def write_records(path: Path, bodies: list[bytes]) -> Path:
    """Length-prefixed records, "<byte count>\\n<bytes>", as bench/sentry.lua reads them."""
    with open(path, "wb") as out:
        for body in bodies:
            out.write(b"%d\n" % len(body))
            out.write(body)
    return path


def read_records(path: Path) -> list[bytes]:
    data = path.read_bytes()
    bodies, pos = [], 0
    while pos < len(data):
        newline = data.index(b"\n", pos)
        length = int(data[pos:newline])
        bodies.append(data[newline + 1 : newline + 1 + length])
        pos = newline + 1 + length
    return bodies


def write_headers(path: Path, headers: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}: {value}\n" for name, value in headers.items()))
    return path


def run_wrk_records(
    url: str, bodies: Path, headers: Path, connections: int, duration: float
) -> dict[str, Any]:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
        "-s", str(BENCH_DIR / "sentry.lua"), url,
    ]  # fmt: skip
    env = {**os.environ, "BENCH_BODIES": str(bodies), "BENCH_HEADERS": str(headers)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line[len("BENCH_JSON ") :]))
    raise RuntimeError(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")


def run_paced_records(
    url: str, bodies: Path, headers: Path, rate: float, connections: int, duration: float
) -> dict[str, Any]:
    """bench/paced.py's open-loop generator, fed with these bodies and headers, in a child process."""
    command = [
        sys.executable, str(Path(__file__).resolve()), "paced-worker", "--url", url, "--bodies", str(bodies),
        "--headers", str(headers), "--rate", str(rate), "--connections", str(connections),
        "--duration", str(duration),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=20 * duration + 120)
    if done.returncode != 0:
        raise RuntimeError(f"paced worker failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


class UniqueBodies(paced.Generator):
    """paced.py's generator handing out the bodies in order, each once until the pool wraps.

    paced.py gives connection i the bodies i, i + connections, ...: with an uneven share of
    the requests per connection, those sequences wrap at different times and collide, and
    a repeated event_id would be deduplicated rather than stored."""

    handed_out = 0

    def next_request(self, index: int) -> bytes:
        request = self.requests[self.handed_out % len(self.requests)]
        self.handed_out += 1
        return request


async def _paced(args: argparse.Namespace) -> dict[str, Any]:
    parts = urlsplit(args.url)
    head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n" + "".join(
        f"{line.strip()}\r\n" for line in Path(args.headers).read_text().splitlines() if line.strip()
    )
    requests = [
        (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        for body in read_records(Path(args.bodies))
    ]
    generator = UniqueBodies(args, requests)
    began, cpu_began = paced.now(), time.process_time()
    await generator.run()
    elapsed, cpu = paced.now() - began, time.process_time() - cpu_began
    start = generator.start
    measured = [record for record in generator.ok if record[0] >= start + args.warmup]
    last_done = max((record[2] for record in generator.ok), default=start)
    return {
        "offered_rate": args.rate,
        "elapsed_s": elapsed,
        "generator_cpu_percent": 100 * cpu / elapsed,
        "scheduled": generator.total,
        "handed_out": generator.handed_out,
        "ok": len(generator.ok),
        "statuses": {str(k): v for k, v in sorted(generator.statuses.items())},
        "errors": len(generator.errors),
        "error_samples": generator.errors[:5],
        "achieved_rps": len(generator.ok) / max(1e-9, last_done - start),
        "latency_ms": paced.summary_ms([done - due for due, _, done in measured]),
        "service_ms": paced.summary_ms([done - sent for _, sent, done in measured]),
    }


def paced_worker(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sentry.py paced-worker")
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", required=True)
    parser.add_argument("--headers", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args(argv)
    import uvloop

    sys.stdout.write(json.dumps(uvloop.run(_paced(args))) + "\n")
    return 0


def fill_result(result: PhaseResult, raw: dict[str, Any], paced_run: bool, connections: int) -> None:
    """PhaseResult's request and latency figures from a wrk or paced summary."""
    if paced_run:
        result.requests = raw["scheduled"]
        result.ok_requests = raw["ok"]
        result.non_ok = sum(v for k, v in raw["statuses"].items() if k != "200")
        result.errors = raw["errors"]
        result.seconds = raw["ok"] / raw["achieved_rps"] if raw["achieved_rps"] else 0.0
        latency = raw["latency_ms"]
        result.p50_ms, result.p90_ms, result.p99_ms, result.max_ms = (
            latency["p50"],
            latency["p90"],
            latency["p99"],
            latency["max"],
        )
        result.in_flight_bound = raw["errors"] * result.events_per_request
    else:
        result.requests = raw["requests"]
        result.non_ok = raw["status_errors"]
        result.ok_requests = raw["requests"] - raw["status_errors"]
        result.errors = raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"]
        result.seconds = raw["duration_us"] / 1e6
        result.p50_ms, result.p90_ms = raw["p50_us"] / 1000, raw["p90_us"] / 1000
        result.p99_ms, result.max_ms = raw["p99_us"] / 1000, raw["max_us"] / 1000
        result.in_flight_bound = (connections + raw["timeouts"]) * result.events_per_request


# --- phases ----------------------------------------------------------------------------


def issue_figures(engine: sa.engine.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM issues), (SELECT coalesce(sum(event_count), 0) FROM issues), "
                "(SELECT count(*) FROM events WHERE kind = 'error'), "
                "(SELECT count(DISTINCT fingerprint) FROM events WHERE kind = 'error'), "
                "(SELECT count(*) FROM events WHERE kind = 'error' AND issue_id IS NULL)"
            )
        ).one()
    return dict(
        zip(
            ("issues", "issue_events", "error_events", "fingerprints", "ungrouped"),
            map(int, row),
            strict=True,
        )
    )


def run_phase(
    args: argparse.Namespace,
    phase: str,
    server: Server,
    engine: sa.engine.Engine,
    key: str,
    project_id: int,
    pool: Pool,
    workdir: Path,
) -> PhaseResult:
    compressed = phase.endswith("gzip")
    bodies = write_records(workdir / f"{phase}.rec", pool.bodies)
    headers = {
        "Content-Type": "application/x-sentry-envelope",
        "User-Agent": f"sentry.python/{PY_SDK_VERSION}",
        "X-Sentry-Auth": (
            f"Sentry sentry_key={key}, sentry_version=7, sentry_client=sentry.python/{PY_SDK_VERSION}"
        ),
    }
    if compressed:
        headers["Content-Encoding"] = "gzip"
    header_file = write_headers(workdir / f"{phase}.headers", headers)
    url = f"{server.url}/api/{project_id}/envelope/"
    before = count_rows(engine)
    metrics_before = commit_metrics(server)
    profiler = start_profiler(args, phase, server) if phase in args.profile_phases else None
    cpu_before, wall_before = server.cpu_seconds(), time.perf_counter()
    host_before = host_cpu_ticks()
    paced_run = phase.startswith("paced")
    with RssSampler(server) as rss:
        if paced_run:
            raw = run_paced_records(url, bodies, header_file, args.rate, args.connections, args.duration)
            offered = f"{args.rate:,.0f} envelopes/s"
        else:
            raw = run_wrk_records(url, bodies, header_file, args.connections, args.duration)
            offered = f"saturation, {args.connections} conns"
        cpu_after, wall_after = server.cpu_seconds(), time.perf_counter()
        host_after = host_cpu_ticks()
        stop_profiler(profiler)
        result = PhaseResult(phase, offered, 1)
        fill_result(result, raw, paced_run, args.connections)
        stored_after = settled_count(server, engine, key)
    result.stored = stored_after - before
    metrics_after = commit_metrics(server)
    result.commits = metrics_after["commits"] - metrics_before["commits"]
    result.commit_events = metrics_after["events"] - metrics_before["events"]
    result.commit_seconds = metrics_after["seconds"] - metrics_before["seconds"]
    result.cpu_percent = 100 * (cpu_after - cpu_before) / (wall_after - wall_before)
    busy, total = (after - before for after, before in zip(host_after, host_before, strict=True))
    result.host_cpu_percent = 100 * (os.cpu_count() or 1) * busy / total if total else 0.0
    result.rss_peak_mib = rss.peak_kib / 1024
    handed_out = raw["handed_out"] if paced_run else result.requests + args.connections  # at most
    sent = min(len(pool.bodies), handed_out)
    result.extra = {
        **raw,
        "pool": len(pool.bodies),
        "wrapped": handed_out > len(pool.bodies),
        "groups_sent": sorted(set(pool.groups[:sent])),
        "wire_kib": sum(len(b) for b in pool.bodies[:sent]) / max(1, sent) / 1024,
        "raw_kib": sum(pool.raw_sizes[:sent]) / max(1, sent) / 1024,
        **issue_figures(engine),
    }
    return result


COLUMNS = [
    ("phase", "---"), ("offered", "---"), ("events/s acked", "---:"), ("p50 ms", "---:"), ("p90 ms", "---:"),
    ("p99 ms", "---:"), ("max ms", "---:"), ("non-200 / errors", "---"), ("server CPU", "---:"),
    ("CPU µs/event", "---:"), ("host CPU", "---:"), ("RSS peak", "---:"), ("events/commit", "---:"),
    ("body KiB wire/raw", "---:"), ("stored vs acked", "---"), ("issues (groups sent)", "---"),
]  # fmt: skip


def markdown(results: list[PhaseResult]) -> str:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    lines = [row([title for title, _ in COLUMNS]), row([align for _, align in COLUMNS])]
    for r in results:
        x = r.extra
        per_commit = r.commit_events / r.commits if r.commits else 0.0
        issues_ok = (
            x["issues"] == x["fingerprints"] == len(x["groups_total"])
            and x["issue_events"] == x["error_events"]
            and not x["ungrouped"]
        )
        issues = f"{x['issues']} ({len(x['groups_total'])}) {'ok' if issues_ok else 'MISMATCH'}"
        stored = f"{r.stored:,} {r.store_check}" + (" (pool wrapped!)" if x["wrapped"] else "")
        lines.append(
            row(
                [
                    r.phase,
                    r.offered,
                    f"{r.events_per_s:,.0f}",
                    f"{r.p50_ms:.1f}",
                    f"{r.p90_ms:.1f}",
                    f"{r.p99_ms:.1f}",
                    f"{r.max_ms:.1f}",
                    f"{r.non_ok} / {r.errors}",
                    f"{r.cpu_percent:.0f}%",
                    f"{r.cpu_us_per_event:,.0f}",
                    f"{r.host_cpu_percent:.0f}%",
                    f"{r.rss_peak_mib:.0f} MiB",
                    f"{per_commit:,.1f}",
                    f"{x['wire_kib']:.1f} / {x['raw_kib']:.1f}",
                    stored,
                    issues,
                ]
            )
        )
    return "\n".join(lines)


def machine_line(engine: sa.engine.Engine, backend: str) -> str:
    return "; ".join(describe_machine(engine, backend))


def run_engine(
    args: argparse.Namespace, backend: str, pools: dict[str, Pool]
) -> tuple[str, list[PhaseResult]]:
    args = argparse.Namespace(**{**vars(args), "engine": backend})
    with open("/proc/loadavg") as loadavg:
        load_before = " ".join(loadavg.read().split()[:3])
    workdir = Path(tempfile.mkdtemp(prefix="syncmon-bench-sentry-"))
    store = make_store(args, workdir)
    server = Server(store.env, workdir / "server.log")
    engine = sa.create_engine(store.url.replace("postgresql://", "postgresql+psycopg://", 1))
    results: list[PhaseResult] = []
    groups_total: set[int] = set()
    try:
        server.start()
        with engine.connect() as conn:
            project_id, key = conn.execute(
                sa.text("SELECT id, public_key FROM projects ORDER BY id LIMIT 1")
            ).one()
        for index, phase in enumerate(args.phase_list):
            if index:
                time.sleep(args.pause)
            if args.quiet_wait:
                wait_for_quiet_host(args.quiet_wait)
            print(f"[{backend}] running {phase} for {args.duration:g} s ...", file=sys.stderr, flush=True)
            result = run_phase(args, phase, server, engine, str(key), int(project_id), pools[phase], workdir)
            groups_total |= set(result.extra["groups_sent"])
            result.extra["groups_total"] = sorted(groups_total)
            results.append(result)
            print(f"[{backend}] {phase}: {result.events_per_s:,.0f} events/s", file=sys.stderr, flush=True)
        machine = machine_line(engine, backend)
    finally:
        server.stop()
        engine.dispose()
        store.close()
        if args.keep:
            print(f"store and server log kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    label = backend if backend == "postgresql" else f"sqlite, synchronous={args.synchronous}"
    text = (
        f"### Sentry envelopes, {label}\n\n{machine}; {args.duration:g} s per phase; "
        f"load average before {load_before}\n\n{markdown(results)}\n"
    )
    return text, results


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "paced-worker":
        return paced_worker(sys.argv[2:])
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--engine", default="sqlite,postgresql", help="sqlite, postgresql, or both (comma-separated)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=2000.0, help="paced-gzip: envelopes/s offered")
    parser.add_argument("--pool", type=int, default=60000, help="distinct envelopes per saturation phase")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {PHASES}")
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL", help="SQLite only")
    parser.add_argument("--pause", type=float, default=2.0)
    parser.add_argument("--quiet-wait", type=float, default=0.0, help="wait up to this long for an idle host")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes building envelopes"
    )
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("SYNCMON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--profile-dir", help="py-spy raw stacks of the server for --profile-phases")
    parser.add_argument("--profile-phases", default="wrk-gzip")
    parser.add_argument("--profile-mode", choices=("wall", "gil"), default="gil")
    parser.add_argument("--markdown", help="also append the tables to this file")
    parser.add_argument("--json", dest="json_path", help="also write the raw figures here")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args.phase_list = [p.strip() for p in args.phases.split(",") if p.strip()]
    if set(args.phase_list) - set(PHASES):
        parser.error(f"unknown phases: {set(args.phase_list) - set(PHASES)}")
    args.profile_phases = args.profile_phases.split(",") if args.profile_dir else []
    backends = [e.strip() for e in args.engine.split(",") if e.strip()]

    # One pool per phase, shared by the engines (each has a fresh store, so ids repeat only across stores).
    pools: dict[str, Pool] = {}
    began = time.perf_counter()
    for seed, phase in enumerate(args.phase_list):
        count = int(args.rate * args.duration) + 100 if phase.startswith("paced") else args.pool
        pools[phase] = build_pool(count, phase.endswith("gzip"), seed + 1, args.workers)
    sizes = sorted(size for pool in pools.values() for size in pool.raw_sizes)
    print(
        f"built {len(sizes):,} envelopes in {time.perf_counter() - began:.0f} s; uncompressed size "
        f"min {sizes[0]:,} / median {sizes[len(sizes) // 2]:,} / max {sizes[-1]:,} bytes",
        file=sys.stderr,
        flush=True,
    )
    out: list[str] = [describe_source(None) + "\n"]
    everything = []
    for backend in backends:
        text, results = run_engine(args, backend, pools)
        out.append(text)
        everything.append((backend, results))
    report = "\n".join(out)
    print(report)
    if args.markdown:
        with open(args.markdown, "a") as handle:
            handle.write(report + "\n")
    if args.json_path:
        payload = {b: [{**r.__dict__, "events_per_s": r.events_per_s} for r in rs] for b, rs in everything}
        Path(args.json_path).write_text(json.dumps(payload, indent=2, default=str) + "\n")
    lost = [r.phase for _, rs in everything for r in rs if r.stored < r.acked_events]
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
