"""TOTP codes (pure, time injected): RFC 6238 values, drift, replay, typing, the QR code."""

from __future__ import annotations

import re

import pyotp

from syncmon.web.auth import totp

# RFC 6238 appendix B: the SHA-1 secret "12345678901234567890" at T = 59 s gives 94287082
# (8 digits); its last six digits are the 6-digit code.
RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
T0 = 1_767_225_600_000


def test_rfc_6238_test_vector() -> None:
    assert totp.code_at(RFC_SECRET, totp.current_step(59_000)) == "287082"
    assert totp.matching_step(RFC_SECRET, "287082", 59_000, None) == 1


def test_codes_of_an_authenticator_app_are_accepted_with_one_step_of_drift() -> None:
    secret = totp.new_secret()
    app = pyotp.TOTP(secret)
    now_step = totp.current_step(T0)
    assert totp.matching_step(secret, app.at(T0 / 1000), T0, None) == now_step
    assert totp.matching_step(secret, app.at(T0 / 1000 - 30), T0, None) == now_step - 1
    assert totp.matching_step(secret, app.at(T0 / 1000 + 30), T0, None) == now_step + 1
    assert totp.matching_step(secret, app.at(T0 / 1000 - 60), T0, None) is None
    assert totp.matching_step(secret, app.at(T0 / 1000 + 60), T0, None) is None


def test_a_used_step_and_older_ones_are_refused() -> None:
    secret = totp.new_secret()
    now_step = totp.current_step(T0)
    code = totp.code_at(secret, now_step)
    assert totp.matching_step(secret, code, T0, now_step) is None
    assert totp.matching_step(secret, totp.code_at(secret, now_step - 1), T0, now_step - 1) is None
    assert totp.matching_step(secret, code, T0, now_step - 1) == now_step


def test_typed_codes() -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, totp.current_step(T0))
    for typed in (code, f" {code[:3]} {code[3:]} ", f"{code[:3]}-{code[3:]}"):
        assert totp.matching_step(secret, typed, T0, None) is not None, typed
    for bad in ("", "12345", "1234567", "abcdef", code + "0", "١٢٣٤٥٦"):
        assert totp.clean_code(bad) is None, bad
        assert totp.matching_step(secret, bad, T0, None) is None, bad


def test_the_qr_code_is_plain_svg_a_strict_csp_allows() -> None:
    svg = totp.qr_svg(totp.provisioning_uri(totp.new_secret(), "ann@example.com"))
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert "style=" not in svg and "<script" not in svg and "<?xml" not in svg
    assert "ann@example.com" not in svg  # the URI is encoded in the modules, not as text


def test_provisioning_uri_names_issuer_and_account() -> None:
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "ann@example.com")
    assert uri.startswith("otpauth://totp/SyncScript%20Monitor:ann%40example.com?")
    assert re.search(r"[?&]secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP(&|$)", uri)
    assert "issuer=SyncScript%20Monitor" in uri
