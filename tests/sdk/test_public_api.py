"""The SDK's public surface: `__all__` matches the documented API, every export is
documented, the docstring examples run, and importing it loads only the standard library."""

from __future__ import annotations

import doctest
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import syncmon.sdk

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "python-sdk.md"
MODULES = [
    "syncmon.sdk",
    "syncmon.sdk.client",
    "syncmon.sdk.transport",
    "syncmon.sdk.context",
    "syncmon.sdk.asgi",
    "syncmon.sdk.wsgi",
    "syncmon.sdk.log_handler",
]


def documented_names() -> list[str]:
    text = DOC.read_text()
    section = text.split("## Public API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `([A-Za-z_]\w*)`", section, re.MULTILINE)


def test_all_matches_the_documented_api() -> None:
    assert sorted(documented_names()) == sorted(syncmon.sdk.__all__)


def test_every_export_exists_and_has_a_docstring() -> None:
    for name in syncmon.sdk.__all__:
        exported = getattr(syncmon.sdk, name)
        assert (exported.__doc__ or "").strip(), f"{name} has no docstring"


def test_the_documented_client_helpers_exist() -> None:
    text = DOC.read_text()
    for helper in set(re.findall(r"client\.(\w+)\(", text)):
        assert callable(getattr(syncmon.sdk.Client, helper, None)), (
            f"docs name client.{helper}, which is missing"
        )


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_importing_the_sdk_loads_only_the_standard_library() -> None:
    script = (
        "import sys\n"
        "import syncmon.sdk\n"
        "loaded = {name.split('.')[0] for name in sys.modules}\n"
        "print(sorted(loaded - set(sys.stdlib_module_names) - {'syncmon', '__main__'}))\n"
    )
    # -S: no site-packages, so nothing but the standard library and this checkout is importable.
    result = subprocess.run(
        [sys.executable, "-S", "-c", script],
        env={"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
