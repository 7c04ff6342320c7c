"""Replacing the variable parts of messages, file names and function names.

The same bug arrives with different data: an id, an email or a timestamp in the
message, a content hash in the bundle name after a redeploy, a virtualenv path that
differs per host. GlitchTip hashes the raw title and so opens a new issue for each of
these; here they are replaced by placeholders before anything is hashed.

The rule throughout is to replace data and keep names: `(reading 'id')` and
`(reading 'name')` are different bugs and stay different; `user 42` and `user 43` are not.

Every pattern is anchored on a boundary (a lookbehind that forbids starting inside a run
of the characters it matches) and uses only bounded or unambiguous repetition, so the
cost stays linear in the input; inputs are cut to MAX_FIELD characters first and results
are cached, because real traffic repeats a small set of messages and paths.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise
from typing import Final

MAX_FIELD: Final = 1024
CACHE_SIZE: Final = 8192
# A quoted string at least this long that contains whitespace is free text (data), not a name.
QUOTED_TEXT_MIN: Final = 20

_UNITS: Final = (
    r"(?i:ms|us|µs|ns|sec|secs|seconds?|s|mins?|minutes?|m|hrs?|hours?|h|days?|d"
    r"|px|em|rem|vh|vw|bytes?|b|kb|mb|gb|tb|kib|mib|gib|k|x)"
)
_MONTH: Final = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]{0,6}"
_WEEKDAY: Final = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]{0,6},? "
_CLOCK: Final = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?"
_ZONE: Final = r"(?: ?(?:Z|GMT|UTC)?[+-]\d{2}:?\d{2}| ?(?:Z|GMT|UTC))?"
_H4: Final = r"[0-9A-Fa-f]{1,4}"

# One pass over the message; alternatives are tried in order at each position, so the
# more specific shapes (uuid before hex, date before int) come first. Each named group
# becomes a placeholder; `quoted` and `keep` are decided by _replace.
_MESSAGE_PATTERN: Final = re.compile(
    "|".join(
        (
            r"(?<!\w)(?P<quoted>'[^'\n]{0,1024}'|\"[^\"\n]{0,1024}\"|`[^`\n]{0,1024}`)(?P<trunc>\.\.\.|…)?",
            # HTTP status codes name the failure (404 vs 500), so they are kept.
            r"(?<![\w.])(?P<keep>(?i:status(?: code)?|http(?:/\d(?:\.\d)?)?)[ :=]{1,3}[1-5]\d\d)(?![\w.])",
            r"(?<![\w+.-])(?P<url>[A-Za-z][A-Za-z0-9+.-]{1,31}://[^\s'\"<>`]{0,2048}[^\s'\"<>`.,;:!?)\]}])",
            r"(?<![\w.+%-])(?P<email>[\w.+%-]{1,256}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)",
            r"(?<![\w-])(?P<uuid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})(?![\w-])",
            r"(?<![\w.:])(?P<date>"
            rf"\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]{_CLOCK})?{_ZONE}"
            rf"|\d{{4}}/\d{{1,2}}/\d{{1,2}}(?: {_CLOCK})?"
            rf"|\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{4}}(?: {_CLOCK})?"
            rf"|(?:{_WEEKDAY})?\d{{1,2}} {_MONTH} \d{{4}}(?: {_CLOCK})?{_ZONE}"
            rf"|(?:{_WEEKDAY})?{_MONTH} \d{{1,2}},? \d{{4}}(?: {_CLOCK})?{_ZONE}"
            rf"|\d{{1,2}}:\d{{2}}:\d{{2}}(?:[.,]\d{{1,9}})?{_ZONE}"
            r")(?![\w:])",
            r"(?<![\w.])(?P<ipv4>(?:\d{1,3}\.){3}\d{1,3})(?![\w]|\.\d)",
            rf"(?<![\w:])(?P<ipv6>(?=[0-9A-Fa-f:]{{0,45}}\d)"
            rf"(?:{_H4}(?::{_H4}){{7}}|(?:{_H4}(?::{_H4}){{0,6}})?::(?:{_H4}(?::{_H4}){{0,6}})?))(?![\w:])",
            r"(?<!\w)(?P<hex>0[xX][0-9A-Fa-f]{1,64}|(?=[0-9A-Fa-f]{0,512}\d)(?=[0-9A-Fa-f]{0,512}[A-Fa-f])"
            r"[0-9A-Fa-f]{8,})(?!\w)",
            rf"(?<![\w.])(?P<float>\d+\.\d+(?:[eE][+-]?\d+)?(?P<funit>{_UNITS})?)(?!\w|\.\d)",
            rf"(?<![\w.])(?P<int>\d+(?P<iunit>{_UNITS})?)(?!\w|\.\d)",
        )
    )
)
_PLACEHOLDERS: Final = {
    "url": "<url>",
    "email": "<email>",
    "uuid": "<uuid>",
    "date": "<date>",
    "ipv4": "<ip>",
    "ipv6": "<ip>",
    "hex": "<hex>",
}

_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")
_QUERY_OR_FRAGMENT: Final = re.compile(r"[?#]")
_PY_STDLIB: Final = re.compile(r"(?:^|/)lib(?:64)?/python\d(?:\.\d+)?/")
_VENV_SRC: Final = re.compile(r"(?:^|/)(?:\.?venv\d*|\.?virtualenvs?/[^/]+|env)/src/")
_VERSION_SEGMENT: Final = re.compile(r"v?\d+(?:[._-]\d+)+|v?\d{3,}|\d+")
_AT_VERSION: Final = re.compile(r"@v?\d+(?:\.\d+)+[\w.+-]*")
_VERSION_RUN: Final = re.compile(r"<version>(?:[.-]<version>)+")
_TOKEN_CHARS: Final = re.compile(r"[A-Za-z0-9_-]+")
_HEX_CHARS: Final = re.compile(r"[0-9A-Fa-f-]+")
_NAME_SEPARATORS: Final = re.compile(r"([.~-])")
_KNOWN_EXTENSIONS: Final = frozenset(
    {
        "js", "mjs", "cjs", "jsx", "ts", "tsx", "mts", "cts", "css", "map", "chunk", "min", "bundle",
        "esm", "module", "umd", "prod", "wasm", "json", "html", "vue", "svelte",
    }
)  # fmt: skip
_SPECIAL_FILENAMES: Final = frozenset(
    {"<anonymous>", "native", "[native code]", "unknown location", "<unknown>"}
)
_ANONYMOUS: Final = frozenset(
    {
        "", "?", "<anonymous>", "anonymous", "(anonymous)", "<anonymous function>", "anonymous function",
        "(anonymous function)", "<unknown>", "unknown", "<unknown function>",
    }
)  # fmt: skip


def _cut(text: str) -> str:
    """At most MAX_FIELD characters, without a partial word at the cut (its tail would vary)."""
    if len(text) <= MAX_FIELD:
        return text
    head = text[:MAX_FIELD]
    space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    return head[:space] if space > MAX_FIELD // 2 else head


def _class(char: str) -> int:
    if char.isdigit():
        return 0
    if char.islower():
        return 1
    if char.isupper():
        return 2
    return 3


def _transitions(token: str) -> int:
    classes = [_class(c) for c in token]
    return sum(1 for a, b in pairwise(classes) if a != b)


def looks_random(token: str) -> bool:
    """Whether a token of [A-Za-z0-9_-] is a machine-made hash or id rather than a word.

    Hex with a digit (content hashes, uuids, build numbers), all-caps base32 (esbuild),
    or letters and digits interleaved (base64 hashes of Vite and Rollup). Words with a
    trailing number (`polyfill2022`, `base64url`) have too few letter/digit changes.
    Letters-only base64 hashes are recognised when the case changes irregularly.
    """
    if len(token) < 8 or len(token) > 128 or not _TOKEN_CHARS.fullmatch(token):
        return False
    has_digit = any(c.isdigit() for c in token)
    if has_digit and _HEX_CHARS.fullmatch(token):
        return True
    has_alpha = any(c.isalpha() for c in token)
    if has_alpha and has_digit:
        return token.isupper() or _transitions(token) >= 3
    if has_alpha:
        # camelCase words change case every few letters; random letters change irregularly,
        # including two capitals in a row or a capital followed by a single lowercase.
        letters = token.replace("_", "").replace("-", "")
        uppers = sum(1 for c in letters if c.isupper())
        if uppers < 2 or uppers == len(letters):
            return False
        return re.search(r"[A-Z]{2}|[A-Z][a-z][A-Z]|[a-z][A-Z][a-z]?$", letters) is not None
    return False


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind in _PLACEHOLDERS:
        return _PLACEHOLDERS[kind]
    if kind == "float":
        return "<float>" + (match.group("funit") or "")
    if kind == "int":
        return "<int>" + (match.group("iunit") or "")
    if kind in ("quoted", "trunc"):
        quoted = match.group("quoted")
        content = quoted[1:-1]
        before = match.string[match.start() - 1] if match.start() > 0 else ""
        is_data = (
            match.group("trunc") is not None
            or before == "="
            or (len(content) >= QUOTED_TEXT_MIN and any(c.isspace() for c in content))
            or (len(content) >= QUOTED_TEXT_MIN and looks_random(content))
        )
        if is_data:
            return "<str>" + (match.group("trunc") or "")
        return quoted[0] + _MESSAGE_PATTERN.sub(_replace, content) + quoted[-1]
    return match.group(0)


def normalize_message(text: str) -> str:
    """The message with data replaced by placeholders and whitespace collapsed (at most MAX_FIELD chars).

    `<uuid>`, `<email>`, `<url>`, `<ip>`, `<date>` (dates, datetimes, clock times),
    `<hex>` (0x… or 8+ hex digits with a digit and a letter), `<float>` and `<int>`
    (standalone or after punctuation, `id=42`, `#5`, `42ms`; never inside identifiers such
    as `utf8`, `h2`, `TS2345`), `<str>` for quoted data. HTTP status codes after
    `status`/`HTTP` are kept.

    Quoted strings are names unless shown to be data: `'id'` and `'name'` stay distinct.
    They become `<str>` when they contain whitespace and are at least QUOTED_TEXT_MIN
    long (free text a user typed), end in `...` (V8's JSON.parse snippets), follow `=`
    (`key='value'`, as Sentry does), or are long random tokens. Other quoted strings
    keep their quotes and have their content normalized like the rest.
    """
    return _normalize_message(_cut(text))


@lru_cache(maxsize=CACHE_SIZE)
def _normalize_message(text: str) -> str:
    return " ".join(_MESSAGE_PATTERN.sub(_replace, text).split())[:MAX_FIELD]


def url_path(url: str) -> str:
    """The path of a URL, without scheme, host, query and fragment; other strings lose only ?query/#frag."""
    text = url[:MAX_FIELD]
    if text.startswith("blob:"):
        text = text[5:]
    cut = _QUERY_OR_FRAGMENT.search(text)
    if cut is not None:
        text = text[: cut.start()]
    sep = text.find("://")
    if sep > 0 and _SCHEME.fullmatch(text, 0, sep):
        rest = text[sep + 3 :]
        slash = rest.find("/")
        return rest[slash:] if slash >= 0 else ""
    return text


def _split_extensions(name: str) -> tuple[str, str]:
    stem, ext = name, ""
    while "." in stem:
        head, _, tail = stem.rpartition(".")
        if not head or tail.lower() not in _KNOWN_EXTENSIONS:
            break
        stem, ext = head, "." + tail + ext
    return stem, ext


def _normalize_basename(name: str) -> str:
    stem, ext = _split_extensions(name)
    # Vite/Rollup base64url hashes may contain '-' themselves: "index-D2f-j_Kq.js".
    if len(stem) > 9 and stem[-9] in ".-" and "-" in stem[-8:] and looks_random(stem[-8:]):
        return stem[:-8] + "<hash>" + ext
    if len(stem) >= 8 and _HEX_CHARS.fullmatch(stem) and any(c.isdigit() for c in stem):
        return "<hash>" + ext  # the whole name is a hash or uuid ("3f2a1b9c.js", blob URLs)
    parts = _NAME_SEPARATORS.split(stem)
    for i in range(2, len(parts), 2):
        token = parts[i]
        if token.isdigit():
            parts[i] = "<version>"
        elif looks_random(token):
            parts[i] = "<hash>"
    stem = "".join(parts)
    if "<version>" in stem:
        stem = _VERSION_RUN.sub("<version>", stem)
    return stem + ext


def _normalize_segment(segment: str) -> str:
    if _VERSION_SEGMENT.fullmatch(segment):
        return "<version>"
    if looks_random(segment):
        return "<hash>"
    if "@" in segment:
        return _AT_VERSION.sub("@<version>", segment)
    return segment


def normalize_filename(path: str) -> str:
    """A file path or URL reduced to what is stable across deployments and builds.

    Drops origin, query, fragment and leading slashes; drops everything up to `site-packages/`,
    `dist-packages/` or `lib/pythonX.Y/` (so two virtualenvs, or two Python versions,
    give the same path); replaces content hashes in file names (`main.<hash>.js`,
    `index-<hash>.js`) and version or build-number directories (`/<version>/`) with
    placeholders. `<anonymous>`, `native` and `[native code]` are returned unchanged.
    """
    return _normalize_filename(path[:MAX_FIELD])


@lru_cache(maxsize=CACHE_SIZE)
def _normalize_filename(path: str) -> str:
    if path in _SPECIAL_FILENAMES or path.startswith("<frozen"):
        return path
    text = url_path(path).replace("\\", "/")
    packages = max(text.rfind("site-packages/"), text.rfind("dist-packages/"))
    if packages >= 0:
        text = text[packages + len("site-packages/") :]
    else:
        for pattern in (_PY_STDLIB, _VENV_SRC):
            found = pattern.search(text)
            if found is not None:
                text = text[found.end() :]
                break
    while "/./" in text:
        text = text.replace("/./", "/")
    # "/app.js" (a URL's path), "./app.js" and "app.js" name the same file.
    text = text.lstrip("/")
    while text.startswith("./"):
        text = text[2:].lstrip("/")
    segments = text.split("/")
    for i, segment in enumerate(segments[:-1]):
        if segment:
            segments[i] = _normalize_segment(segment)
    segments[-1] = _normalize_basename(segments[-1])
    return "/".join(segments)


def clean_function(function: str) -> str:
    """A function name without call-site decoration: `async `, `new `, ` [as x]`, Firefox `/<`, `*`."""
    name = function[:MAX_FIELD].strip()
    for prefix in ("async*", "async ", "new "):
        if name.startswith(prefix):
            name = name[len(prefix) :].lstrip()
    alias = name.find(" [as ")
    if alias > 0:
        name = name[:alias]
    while name.endswith(("/<", "*", "<")):
        name = name[:-2] if name.endswith("/<") else name[:-1]
    if "/" in name:
        name = name.rsplit("/", 1)[1] or name
    return name


def is_minified_name(function: str | None) -> bool:
    """Whether a function name carries no identity: missing, anonymous, or minifier output.

    Minifiers emit one- or two-letter names (`a`, `Xe`, `n.r`) that change with every
    build, so such names must not be hashed. A name counts as minified when every dotted
    part is at most two characters, or when it (or its last dotted part) is anonymous.
    """
    if function is None:
        return True
    name = clean_function(function)
    if name.lower() in _ANONYMOUS:
        return True
    parts = name.split(".")
    if parts[-1].lower() in _ANONYMOUS:
        return True
    return all(len(part) <= 2 for part in parts)
