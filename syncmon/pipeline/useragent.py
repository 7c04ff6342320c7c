"""Browser, OS, device class and bot flag from a User-Agent header.

ua-parser does the browser and OS families; the device class is derived here because
the dashboards only need desktop/mobile/tablet/bot, and ua-parser's device families are
model names. Bots are ua-parser's "Spider" devices plus the crawler and tool markers
ua-parser leaves unnamed (curl, python-requests, scanners such as sqlmap or nuclei).

Parsing costs hundreds of microseconds while real traffic repeats a small set of
strings, so results are cached; input is truncated first so that a hostile header can
neither slow the parser down nor fill the cache with huge keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from ua_parser import parse

MAX_LENGTH: Final = 512
CACHE_SIZE: Final = 8192

_BOT: Final = re.compile(
    r"(?<!cu)bot|crawl|spider|slurp|curl/|wget/|python-requests|python-httpx|python-urllib"
    r"|aiohttp|go-http-client|java/|okhttp|libwww-perl|httpclient|scrapy"
    r"|sqlmap|nikto|nmap|masscan|zgrab|nuclei|wpscan|dirbuster|gobuster|ffuf|fuzz faster u fool",
    re.IGNORECASE,
)
_TABLET: Final = re.compile(
    r"ipad|tablet(?! pc)|kindle|silk/|playbook|nexus (?:7|9|10)\b|android(?!.*mobi)",
    re.IGNORECASE,
)
_MOBILE: Final = re.compile(
    r"iphone|ipod|mobi|android|windows phone|blackberry|bb10|opera mini|iemobile", re.IGNORECASE
)
_UNKNOWN: Final = frozenset({"", "Other"})


@dataclass(frozen=True, slots=True)
class UserAgentInfo:
    browser: str | None
    os: str | None
    device: str | None  # "desktop", "mobile", "tablet", "bot"; None without a user agent
    is_bot: bool


_EMPTY: Final = UserAgentInfo(browser=None, os=None, device=None, is_bot=False)


def parse_user_agent(ua: str | None) -> UserAgentInfo:
    """What a User-Agent header says about the client; every field None when absent."""
    if not ua:
        return _EMPTY
    return _parse_truncated(ua[:MAX_LENGTH])


@lru_cache(maxsize=CACHE_SIZE)
def _parse_truncated(ua: str) -> UserAgentInfo:
    if not ua.strip():
        return _EMPTY
    if not ua.isascii():
        # Lone surrogates (possible in JSON payloads) make the parser raise.
        ua = ua.encode("utf-8", "replace").decode("utf-8")
    result = parse(ua)
    browser = result.user_agent.family if result.user_agent else None
    os = result.os.family if result.os else None
    spider = result.device is not None and result.device.family == "Spider"
    is_bot = spider or _BOT.search(ua) is not None
    if is_bot:
        device = "bot"
    elif _TABLET.search(ua):
        device = "tablet"
    elif _MOBILE.search(ua):
        device = "mobile"
    elif (browser is None or browser in _UNKNOWN) and (os is None or os in _UNKNOWN):
        # Neither browser nor OS recognised: a library or an SDK (sentry.python/2.x), not a
        # desktop visitor.
        device = None
    else:
        device = "desktop"
    return UserAgentInfo(
        browser=None if browser in _UNKNOWN else browser,
        os=None if os in _UNKNOWN else os,
        device=device,
        is_bot=is_bot,
    )
