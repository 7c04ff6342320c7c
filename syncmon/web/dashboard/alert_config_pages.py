"""The alerting configuration pages, one module each: rules (`rule_pages`), channels
(`channel_pages`) and escalation policies (`escalation_pages`).

Admins create, change, delete and test through forms that end in the same checks, writes
and audit rows as the API (`rule_changes`, `channel_changes`, `alerting_resources`);
viewers see every page without buttons or forms, and the access guard refuses their POSTs.
"""

from __future__ import annotations

from starlette.routing import Route

from syncmon.web.dashboard import channel_pages, escalation_pages, rule_pages
from syncmon.web.dashboard.context import Dashboard


def routes(dash: Dashboard) -> list[Route]:
    return [*rule_pages.routes(dash), *channel_pages.routes(dash), *escalation_pages.routes(dash)]
