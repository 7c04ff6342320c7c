"""A channel's settings as HTML form fields, read off the kind's config model in the registry.

The fields are the model's own (so a setting added to a kind shows up in the form by
itself), each drawn by its type: text, number, a choice for a Literal, one item a line for
a list, `Name: value` lines for a mapping. Secrets (SecretStr) are never written into a
page: the form leaves them empty, a blank one keeps the stored value, and an optional one
can be cleared with its checkbox. What the form yields is checked by the model, exactly as
the API's config is.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from syncmon.channels.registry import KINDS, ChannelConfigError, kind_of
from syncmon.http_errors import ClientError

Widget = Literal["text", "number", "choice", "lines", "secret", "secret_lines", "secret_map"]
PREFIX = "config."
CLEAR = "clear."


@dataclass(frozen=True, slots=True)
class ConfigField:
    name: str
    widget: Widget
    required: bool
    default: str = ""  # shown as the placeholder: what an empty field means
    choices: tuple[str, ...] = ()
    step: str = ""  # numbers: "1" for whole numbers, "any" for decimals

    @property
    def secret(self) -> bool:
        return self.widget.startswith("secret")

    @property
    def input_name(self) -> str:
        return PREFIX + self.name


def _without_none(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _widget(annotation: Any) -> tuple[Widget, tuple[str, ...], str]:
    base, _ = _without_none(annotation)
    origin, args = get_origin(base), get_args(base)
    if base is SecretStr:
        return "secret", (), ""
    if origin is Literal:
        return "choice", tuple(str(arg) for arg in args), ""
    if origin is list and args:
        return ("secret_lines" if args[0] is SecretStr else "lines"), (), ""
    if origin is dict and len(args) == 2 and args[1] is SecretStr:
        return "secret_map", (), ""
    if base is int:
        return "number", (), "1"
    if base is float:
        return "number", (), "any"
    if base is str:
        return "text", (), ""
    raise TypeError(f"no form field for a setting of type {annotation!r}")


def _field(name: str, info: FieldInfo) -> ConfigField:
    widget, choices, step = _widget(info.annotation)
    default = info.default
    shown = "" if default is PydanticUndefined or default is None else str(default)
    return ConfigField(name, widget, info.is_required(), shown, choices, step)


def kind_fields(kind: str) -> list[ConfigField]:
    """The settings of a kind, in the model's order; a 400 for a kind the registry lacks."""
    try:
        model = kind_of(kind).config
    except ChannelConfigError as exc:
        raise ClientError(400, str(exc), field="kind") from None
    return [_field(name, info) for name, info in model.model_fields.items()]


def kinds() -> list[str]:
    return list(KINDS)


def shown_values(kind: str, stored: dict[str, Any]) -> dict[str, str]:
    """The form's values for a stored config: every setting but the secrets."""
    values: dict[str, str] = {}
    for field in kind_fields(kind):
        value = stored.get(field.name)
        if field.secret or value is None:
            continue
        values[field.input_name] = "\n".join(map(str, value)) if isinstance(value, list) else str(value)
    return values


def stored_secrets(kind: str, stored: dict[str, Any]) -> set[str]:
    """The names of the secret settings that hold a value (to say "stored", never what)."""
    return {field.name for field in kind_fields(kind) if field.secret and stored.get(field.name)}


def _lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.splitlines() if line.strip()]


def _headers(field: ConfigField, raw: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in _lines(raw):
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            where = PREFIX + field.name
            raise ClientError(400, f"{where}: write one header a line, as Name: value", field=where)
        found[name.strip()] = value.strip()
    return found


def _secret(field: ConfigField, raw: str) -> Any:
    if field.widget == "secret_lines":
        return _lines(raw)
    if field.widget == "secret_map":
        return _headers(field, raw)
    return raw.strip()


def config_from_form(kind: str, form: dict[str, str], stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config a form describes, for the kind's model to check. A blank setting is left
    out (its default applies); a blank secret keeps the `stored` one unless cleared."""
    config: dict[str, Any] = {}
    for field in kind_fields(kind):
        raw = form.get(field.input_name, "")
        if field.secret:
            if raw.strip():
                config[field.name] = _secret(field, raw)
            elif stored and stored.get(field.name) and CLEAR + field.name not in form:
                config[field.name] = stored[field.name]
        elif field.widget == "lines":
            if _lines(raw):
                config[field.name] = _lines(raw)
        elif raw.strip():
            config[field.name] = raw.strip()
    return config
