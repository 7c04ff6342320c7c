"""An error event's identity: its grouping hash, title and culprit, whatever sent it.

Both the Sentry receiver (structured frames) and the seed's `/api/monitoring/error`
(a JavaScript `stack` string) end here, so the same bug groups into one issue whichever
way it arrived. The stack is also stored in Sentry's shape, so an issue's detail shows
one format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncmon.errors.frames import ExceptionInfo, Frame
from syncmon.errors.grouping import GroupingInput, culprit_for, group, title_for
from syncmon.errors.jsstack import parse_js_error_header, parse_js_stack
from syncmon.pipeline.scrub import scrub_string


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
    one, else the payload's `type` (javascript_error, unhandled_promise_rejection, …);
    frames come from the stack, else from filename/lineno/colno.
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
    exception = ExceptionInfo(
        type=header_type or error_type,
        value=message or header_value,
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
