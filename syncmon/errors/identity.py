"""An error event's identity: its grouping hash, title and culprit, whatever sent it.

Both the Sentry receiver (structured frames) and the seed's `/api/monitoring/error`
(a JavaScript `stack` string) end here, so the same bug groups into one issue whichever
way it arrived. The stack is also stored in Sentry's shape, so an issue's detail shows
one format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from syncmon.errors.frames import ExceptionInfo, Frame
from syncmon.errors.grouping import GroupingInput, culprit_for, group, title_for
from syncmon.errors.jsstack import parse_js_error_header, parse_js_stack
from syncmon.pipeline.scrub import scrub_string

# An error class name, as `String(error)` starts: "TypeError", "DOMException", "ChunkLoadError".
_ERROR_NAME = re.compile(r"[\w$.]*(?:Error|Exception)")


@dataclass(frozen=True, slots=True)
class ErrorIdentity:
    fingerprint: str
    title: str
    culprit: str | None
    method: str
    components: tuple[str, ...]

    def annotate(self, data: dict[str, Any]) -> None:
        """Record how the event was grouped, for the issue page and for debugging.

        The parts come from the unscrubbed payload, so they are scrubbed here.
        """
        data["culprit"] = scrub_string(self.culprit) if self.culprit else None
        data["_grouping"] = {"method": self.method, "components": [scrub_string(c) for c in self.components]}


def identify(data: GroupingInput) -> ErrorIdentity:
    grouping = group(data)
    return ErrorIdentity(
        grouping.hash, title_for(data), culprit_for(data), grouping.method, grouping.components
    )


def frame_as_sentry(frame: Frame) -> dict[str, Any]:
    shown = {
        "function": frame.function,
        "module": frame.module,
        "filename": frame.filename,
        "abs_path": frame.abs_path,
        "lineno": frame.lineno,
        "colno": frame.colno,
        "in_app": frame.in_app,
    }
    return {key: value for key, value in shown.items() if value is not None}


def _message_header(message: str | None) -> tuple[str | None, str | None]:
    """(type, value) of a message that starts like `String(error)`: "TypeError: …", or
    "Uncaught TypeError: …" as window.onerror's ErrorEvent.message has it; else (None, None).

    Firefox and Safari stacks carry no "TypeError: …" header, so for them the message is
    the only place the exception type is written."""
    if not message:
        return None, None
    error_type, value = parse_js_error_header(message)
    if error_type is None or not _ERROR_NAME.fullmatch(error_type):
        return None, None
    return error_type, value


def browser_error_input(
    error_type: str,
    message: str | None,
    stack: str | None,
    filename: str | None,
    lineno: int | None,
    colno: int | None,
    fingerprint: tuple[str, ...] | None = None,
) -> GroupingInput:
    """Grouping input for the seed's ErrorMonitoring payload.

    The exception type comes from the stack's first line ("TypeError: …") when there is
    one, else from the message ("Uncaught TypeError: …", all a Firefox or Safari report
    says of the type), else the payload's `type` (javascript_error, unhandled_promise_rejection,
    …); the value is the message without that prefix. Frames come from the stack, else from
    filename/lineno/colno.
    """
    frames: tuple[Frame, ...] = ()
    header_type, header_value = (None, None)
    if stack:
        frames = parse_js_stack(stack)
        header_type, header_value = parse_js_error_header(stack)
    if not frames and filename:
        frames = (
            Frame(
                function=None,
                module=None,
                filename=filename,
                abs_path=filename,
                lineno=lineno,
                colno=colno,
                in_app=None,
            ),
        )
    message_type, message_value = _message_header(message)
    exception_type = header_type or message_type or error_type
    value = message_value if message_type is not None and message_type == exception_type else message
    exception = ExceptionInfo(
        type=exception_type,
        value=value or header_value,
        module=None,
        frames=frames,
    )
    return GroupingInput(
        exceptions=(exception,), message=message, fingerprint=fingerprint, platform="javascript"
    )


def exception_as_sentry(data: GroupingInput) -> dict[str, Any]:
    """The Sentry `exception` interface for an input built from a stack string."""
    return {
        "values": [
            {
                "type": exc.type,
                "value": exc.value,
                "stacktrace": {"frames": [frame_as_sentry(frame) for frame in exc.frames]},
            }
            for exc in data.exceptions
        ]
    }
