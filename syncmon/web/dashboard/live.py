"""Live updates: a Server-Sent Events stream of committed batches, for logged-in pages.

`GET /live?project=<slug>` subscribes to the feed of committed batches and sends one small
JSON message per batch that holds events of the project (of any project without
`project=`): how many, of which kinds, up to which sequence number. Pages do not get the
events themselves from here — they re-read what they show, through the same access
checks. A heartbeat goes out when nothing was committed for `live_heartbeat_seconds`,
and a stream ends after `live_stream_max_seconds` (EventSource reconnects by itself),
so an open page never keeps a shutting-down server waiting for long.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from syncmon.events import Event
from syncmon.store import projects
from syncmon.web.dashboard.context import Dashboard, caller_of
from syncmon.web.responses import JSONResponse

RETRY_MS = 3000


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def batch_message(
    batch: Iterable[Event], project_id: int | None, slugs: Mapping[int, str]
) -> dict[str, Any] | None:
    """What one committed batch says to a page: counts per project and kind, or None if
    nothing in it concerns the page's project."""
    kinds: dict[int, Counter[str]] = {}
    last_seq = 0
    for event in batch:
        if project_id is not None and event.project_id != project_id:
            continue
        kinds.setdefault(event.project_id, Counter())[str(event.kind)] += 1
        last_seq = max(last_seq, event.seq or 0)
    if not kinds:
        return None
    return {
        "seq": last_seq,
        "projects": {
            slugs.get(pid, str(pid)): {"events": sum(counts.values()), "kinds": dict(counts)}
            for pid, counts in kinds.items()
        },
    }


def routes(dash: Dashboard) -> list[Route]:
    services = dash.services
    settings = services.settings

    async def live(request: Request) -> Response:
        caller = caller_of(request)
        every = await services.read(projects.list_projects)
        wanted = request.query_params.get("project")
        project = next((p for p in every if p.slug == wanted), None) if wanted else None
        if wanted and project is None:
            return JSONResponse({"error": f"project {wanted[:64]!r} not found", "field": "project"}, 404)
        slugs = {p.id: p.slug for p in every}
        subscription = services.feed.subscribe(f"live:{caller.actor}")

        async def stream() -> AsyncIterator[bytes]:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + settings.live_stream_max_seconds
            waiting: asyncio.Future[list[Event]] = asyncio.ensure_future(subscription.next_batch())
            try:
                yield f"retry: {RETRY_MS}\n".encode() + sse("hello", {"project": wanted or None})
                while (remaining := deadline - loop.time()) > 0:
                    done, _ = await asyncio.wait(
                        {waiting}, timeout=min(settings.live_heartbeat_seconds, remaining)
                    )
                    if waiting not in done:
                        yield sse("heartbeat", {"time": services.clock.now_ms()})
                        continue
                    try:
                        batch = waiting.result()
                    except StopAsyncIteration:
                        return
                    waiting = asyncio.ensure_future(subscription.next_batch())
                    if any(event.project_id not in slugs for event in batch):
                        slugs.update({p.id: p.slug for p in await services.read(projects.list_projects)})
                    message = batch_message(batch, project.id if project else None, slugs)
                    if message is not None:
                        yield sse("batch", message)
            finally:
                waiting.cancel()
                services.feed.unsubscribe(subscription)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return [Route("/live", live, methods=["GET"])]
