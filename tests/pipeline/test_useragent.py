from __future__ import annotations

import dataclasses

import pytest

from syncmon.pipeline.useragent import MAX_LENGTH, UserAgentInfo, parse_user_agent

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)

BROWSERS = [
    (CHROME_WINDOWS, "Chrome", "Windows", "desktop"),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
        "Edge",
        "Windows",
        "desktop",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Firefox",
        "Linux",
        "desktop",
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Firefox",
        "Ubuntu",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Safari/605.1.15",
        "Safari",
        "Mac OS X",
        "desktop",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.6099.109 Safari/537.36",
        "HeadlessChrome",
        "Linux",
        "desktop",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        "Mobile Safari",
        "iOS",
        "mobile",
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        "Mobile Safari",
        "iOS",
        "tablet",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.144 Mobile Safari/537.36",
        "Chrome Mobile",
        "Android",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
        "Samsung Internet",
        "Android",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Android 13; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
        "Firefox Mobile",
        "Android",
        "mobile",
    ),
    (
        # A phone brand whose name ends in "bot".
        "Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/74.0.3729.136 Mobile Safari/537.36",
        "Chrome Mobile",
        "Android",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "Chrome",
        "Android",
        "tablet",
    ),
    (
        "Mozilla/5.0 (Android 13; Tablet; rv:121.0) Gecko/121.0 Firefox/121.0",
        "Firefox Mobile",
        "Android",
        "tablet",
    ),
    (
        "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Silk/3.68 like Chrome/39.0.2171.93 Safari/537.36",
        "Amazon Silk",
        "Android",
        "tablet",
    ),
    (
        "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) "
        "Presto/2.5.25 Version/10.54",
        "Opera Mini",
        "Symbian OS",
        "mobile",
    ),
    (
        # Old Windows desktops announce "Tablet PC" support; they are not tablets.
        "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; WOW64; Trident/4.0; SLCC2; "
        ".NET CLR 2.0.50727; Tablet PC 2.0)",
        "IE",
        "Windows",
        "desktop",
    ),
]

BOTS = [
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot"),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0.6099.129 Mobile Safari/537.36 "
        "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Googlebot",
    ),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bingbot"),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "AhrefsBot"),
    (
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        "Baiduspider",
    ),
    (
        "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
        "Yahoo! Slurp",
    ),
    ("curl/8.4.0", "curl"),
    ("Wget/1.21.4", "Wget"),
    ("python-requests/2.31.0", "Python Requests"),
    ("python-httpx/0.27.0", None),
    ("Python/3.11 aiohttp/3.9.1", "Python aiohttp"),
    ("Go-http-client/1.1", "Go-http-client"),
    ("Java/17.0.2", "Java"),
    ("okhttp/4.12.0", "okhttp"),
    ("Apache-HttpClient/4.5.13 (Java/17.0.2)", "Apache-HttpClient"),
    ("libwww-perl/6.72", "libwww-perl"),
    ("sqlmap/1.7.2#stable (https://sqlmap.org)", None),
    ("Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)", None),
    ("Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)", None),
    ("masscan/1.3 (https://github.com/robertdavidgraham/masscan)", "masscan"),
    ("Mozilla/5.0 zgrab/0.x", None),
    ("WPScan v3.8.24 (https://wpscan.com/wordpress-security-scanner)", None),
    ("gobuster/3.6", None),
    ("DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)", None),
    ("Fuzz Faster U Fool v2.1.0-dev", None),
    (
        # A scanner that pretends to be Chrome but signs its work.
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/91.0.4472.124 Safari/537.36 Nuclei - Open-source project "
        "(github.com/projectdiscovery/nuclei)",
        "Chrome",
    ),
]


@pytest.mark.parametrize(("ua", "browser", "os", "device"), BROWSERS)
def test_browsers(ua: str, browser: str, os: str, device: str) -> None:
    assert parse_user_agent(ua) == UserAgentInfo(browser=browser, os=os, device=device, is_bot=False)


@pytest.mark.parametrize(("ua", "browser"), BOTS)
def test_bots(ua: str, browser: str | None) -> None:
    info = parse_user_agent(ua)
    assert info.is_bot
    assert info.device == "bot"
    assert info.browser == browser


@pytest.mark.parametrize("ua", [None, ""])
def test_no_user_agent(ua: str | None) -> None:
    assert parse_user_agent(ua) == UserAgentInfo(browser=None, os=None, device=None, is_bot=False)


def test_blank_user_agent() -> None:
    assert parse_user_agent("   ") == UserAgentInfo(browser=None, os=None, device=None, is_bot=False)


@pytest.mark.parametrize(
    "ua", ["foo", "Mozilla/5.0", "-", "Mozilla/5.0 (compatible)", "sentry.python/2.75.0", "posthog-js/1.0"]
)
def test_unrecognised_user_agent_has_no_device(ua: str) -> None:
    assert parse_user_agent(ua) == UserAgentInfo(browser=None, os=None, device=None, is_bot=False)


def test_absurdly_long_user_agent_is_truncated_before_parsing() -> None:
    ua = CHROME_WINDOWS + " " + "A" * 1_000_000
    info = parse_user_agent(ua)
    assert info == UserAgentInfo(browser="Chrome", os="Windows", device="desktop", is_bot=False)


def test_markers_past_the_limit_are_not_seen() -> None:
    padded = CHROME_WINDOWS.ljust(MAX_LENGTH)
    assert not parse_user_agent(padded + " Googlebot/2.1 curl/8.0").is_bot


def test_truncated_strings_share_a_cache_entry() -> None:
    prefix = CHROME_WINDOWS.ljust(MAX_LENGTH, "x")
    assert parse_user_agent(prefix + "tail one") is parse_user_agent(prefix + "tail two")


def test_results_are_cached() -> None:
    assert parse_user_agent(CHROME_WINDOWS) is parse_user_agent(CHROME_WINDOWS)


@pytest.mark.parametrize(
    "ua",
    [
        "(" * 100_000,
        ")(;" * 50_000,
        "Android " * 10_000,
        "\x00\uffff garbage ☃",
        "Mozilla/5.0 \ud800 lone surrogate",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) 日本語 Mobile/15E148",
    ],
)
def test_hostile_strings_parse_quickly(ua: str) -> None:
    info = parse_user_agent(ua)
    assert info.device in {"desktop", "mobile", "tablet", "bot", None}


def test_info_is_frozen() -> None:
    info = parse_user_agent(CHROME_WINDOWS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.browser = "Firefox"  # type: ignore[misc]
    assert not hasattr(info, "__dict__")
