"""TOTP second factor (RFC 6238: 30-second steps, 6 digits, SHA-1, as authenticator apps expect).

A code is accepted for the current step and one step either side (clock drift), and each
step only once per user: the store remembers the last step used, so a code seen over a
shoulder or in a log cannot be replayed. Time comes from the server's clock, injected.
The enrolment QR code is drawn on the server as SVG (no script, no external service).
"""

from __future__ import annotations

import hmac
import io
import re

import pyotp
import segno

ISSUER = "SyncScript Monitor"
STEP_SECONDS = 30
DRIFT_STEPS = 1
_CODE = re.compile(r"^[0-9]{6}$")


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as an SVG element (no XML declaration, no inline style)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer, kind="svg", xmldecl=False, svgns=True, nl=False, scale=4, border=2, svgclass="qr-code"
    )
    return buffer.getvalue().decode()


def clean_code(raw: str) -> str | None:
    """The six digits of a typed code (spaces and dashes allowed), or None."""
    code = raw.replace(" ", "").replace("-", "").strip()
    return code if _CODE.match(code) else None


def current_step(now_ms: int) -> int:
    return now_ms // 1000 // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def matching_step(secret: str, raw_code: str, now_ms: int, last_step: int | None) -> int | None:
    """The time step the code belongs to, if it is valid now and newer than `last_step`."""
    code = clean_code(raw_code)
    if code is None:
        return None
    now_step = current_step(now_ms)
    for step in (now_step, now_step - DRIFT_STEPS, now_step + DRIFT_STEPS):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(code_at(secret, step), code):
            return step
    return None
