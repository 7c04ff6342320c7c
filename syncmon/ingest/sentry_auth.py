"""The project key of a Sentry SDK request, and whether the request names the right project.

Sentry SDKs authenticate with the public key of a DSN
(`https://<public_key>[:<secret>]@host[:port]/[path/]<project_id>`), sent in one of:

- `X-Sentry-Auth: Sentry sentry_key=<key>, sentry_version=7, sentry_client=<name/version>`
  (sentry-python and the other server SDKs);
- `Authorization: Sentry sentry_key=<key>, ...` (a few SDKs and proxies);
- the query string, `?sentry_key=<key>&sentry_version=7` (browser SDKs: it avoids a CORS
  preflight);
- the envelope header's `dsn` (browser SDKs reporting through a tunnel).

The URL names the project too (`/api/<project_id>/envelope/`); it must be the key's project.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from syncmon.http_errors import ClientError

# "Sentry" as an auth scheme: followed by whitespace or nothing, not by "_key=".
_SCHEME_PREFIX = re.compile(r"\s*sentry(?:\s+|$)", re.IGNORECASE)
_MAX_PROJECT_ID_DIGITS = 18  # fits a signed 64-bit integer


@dataclass(frozen=True, slots=True)
class DsnParts:
    public_key: str
    project_id: str
    host: str  # host[:port] as written in the DSN


def parse_auth_header(value: str) -> dict[str, str]:
    """The `key=value` pairs of an `X-Sentry-Auth` (or `Authorization: Sentry`) header.

    The `Sentry ` prefix is optional and case-insensitive, keys are lower-cased, spaces and
    double quotes around keys and values are dropped, parts without `=` or without a key are
    ignored, and the first of a repeated key wins.
    """
    text = _SCHEME_PREFIX.sub("", value, count=1)
    pairs: dict[str, str] = {}
    for part in text.split(","):
        key, sep, item = part.partition("=")
        key = key.strip().strip('"').strip().lower()
        if sep and key:
            pairs.setdefault(key, item.strip().strip('"').strip())
    return pairs


def parse_dsn(dsn: str) -> DsnParts:
    """The public key, project id and host of a DSN; ValueError saying what is wrong otherwise."""
    text = dsn.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ValueError(f"DSN {_short(text)} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"DSN {_short(text)} must start with http:// or https://")
    userinfo, at, host = parts.netloc.rpartition("@")
    public_key = userinfo.partition(":")[0]
    if not at or not public_key:
        raise ValueError(f"DSN {_short(text)} has no public key (https://<key>@host/<project_id>)")
    if not parts.hostname:
        raise ValueError(f"DSN {_short(text)} has no host")
    project_id = parts.path.rpartition("/")[2]
    if not _is_number(project_id):
        raise ValueError(f"DSN {_short(text)} does not end with a numeric project id")
    return DsnParts(public_key=public_key, project_id=project_id, host=host)


def sentry_key(headers: Mapping[str, str], query: Mapping[str, str], envelope_dsn: str | None) -> str | None:
    """The public key of a request, from the first of: X-Sentry-Auth's sentry_key,
    `Authorization: Sentry ...`'s sentry_key, the `sentry_key` query parameter, the envelope
    header's dsn. None when there is none.

    Where several of them carry a key they must be the same key: ClientError 403
    reason="key_mismatch" otherwise. A dsn that does not parse is ClientError 400.
    """
    found: list[tuple[str, str]] = []
    auth = _header(headers, "x-sentry-auth")
    if auth is not None:
        _add(found, "X-Sentry-Auth", parse_auth_header(auth).get("sentry_key"))
    authorization = _header(headers, "authorization")
    if authorization is not None and _has_sentry_scheme(authorization):
        _add(found, "Authorization", parse_auth_header(authorization).get("sentry_key"))
    _add(found, "the sentry_key query parameter", query.get("sentry_key"))
    if envelope_dsn is not None:
        _add(found, "the envelope's dsn", _dsn(envelope_dsn).public_key)
    if not found:
        return None
    first_source, key = found[0]
    for source, other in found[1:]:
        if other != key:
            raise ClientError(
                403, f"the key in {source} is not the key in {first_source}", reason="key_mismatch"
            )
    return key


def check_project_id(url_project_id: str, dsn: str | None, project_id: int) -> None:
    """Refuse a request whose URL, or whose envelope's dsn, names a project other than
    `project_id`, the project of the request's key: ClientError 403 reason="project_mismatch";
    ClientError 400 when the URL's project id is not a number or the dsn does not parse."""
    if not _is_number(url_project_id):
        raise ClientError(
            400, f"project id {_short(url_project_id)} in the URL is not a number", reason="bad_project_id"
        )
    if int(url_project_id) != project_id:
        raise ClientError(
            403,
            f"the DSN is for project {project_id}, not project {int(url_project_id)}",
            reason="project_mismatch",
        )
    if dsn is not None:
        named = int(_dsn(dsn).project_id)
        if named != project_id:
            raise ClientError(
                403,
                f"the envelope's dsn is for project {named}, not project {project_id}",
                reason="project_mismatch",
            )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by lower-case name, from a case-insensitive mapping (Starlette's) or a dict."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, item in headers.items():
        if key.lower() == name:
            return item
    return None


def _has_sentry_scheme(value: str) -> bool:
    return _SCHEME_PREFIX.match(value) is not None


def _add(found: list[tuple[str, str]], source: str, key: str | None) -> None:
    if key:
        found.append((source, key))


def _dsn(dsn: str) -> DsnParts:
    try:
        return parse_dsn(dsn)
    except ValueError as exc:
        raise ClientError(400, f"envelope header: dsn: {exc}", field="dsn", reason="bad_envelope") from None


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= _MAX_PROJECT_ID_DIGITS


def _short(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")
