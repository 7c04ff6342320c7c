"""The documentation stays true: the generated settings reference and the commands it names."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from syncmon.cli import main
from syncmon.settings import settings_reference_markdown

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_DOC = ROOT / "docs" / "settings.md"
FENCED = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)
INLINE = re.compile(r"`([^`\n]+)`")
# `syncmon` as a command (not syncmon/…, syncmon.toml or ./syncmon-data), then its words.
MENTION = re.compile(r"(?:^|(?<=[\s(/$]))syncmon(?![\w./-])((?:[ \t]+[^\s`|]+)*)")


def test_settings_doc_is_generated_from_the_table() -> None:
    assert SETTINGS_DOC.is_file(), "generate it: syncmon settings --markdown > docs/settings.md"
    assert SETTINGS_DOC.read_text() == settings_reference_markdown(), (
        "docs/settings.md is stale; regenerate it: syncmon settings --markdown > docs/settings.md"
    )


def code_spans(text: str) -> list[str]:
    """Fenced blocks (line by line) and inline code spans of a Markdown text."""
    spans: list[str] = []
    for block in FENCED.findall(text):
        spans.extend(block.splitlines())
    spans.extend(INLINE.findall(FENCED.sub("", text)))
    return spans


def command_mentions(text: str) -> list[list[str]]:
    """The words after each `syncmon` in the text's code, e.g. ['project', 'list', '[--json]']."""
    return [match.group(1).split() for span in code_spans(text) for match in MENTION.finditer(span)]


def check_mention(words: list[str]) -> None:
    """Walk the click tree along the words: subcommands must exist, and so must the flags given."""
    command: click.Command = main
    path = ["syncmon"]
    flags_allowed = {"--help"} | {opt for param in main.params for opt in param.opts}
    ctx = click.Context(main)
    index = 0
    while index < len(words):
        word = words[index]
        flag = word.strip("[]()").split("=")[0]
        if flag.startswith("--"):
            assert flag in flags_allowed, f"{' '.join(path)} has no option {flag}"
        elif isinstance(command, click.Group) and re.fullmatch(r"[a-z][a-z-]*", word):
            sub = command.get_command(ctx, word)
            assert sub is not None, f"{' '.join(path)} has no command {word!r}"
            command = sub
            path.append(word)
            flags_allowed |= {opt for param in sub.params for opt in param.opts}
        elif isinstance(command, click.Group) and not flag.startswith("-"):
            break  # not a command word (a placeholder or shell syntax): stop checking
        index += 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("run `syncmon serve --port 9000` now", [["serve", "--port", "9000"]]),
        ("`syncmon token list` / `syncmon token revoke ID`", [["token", "list"], ["token", "revoke", "ID"]]),
        ("```sh\nKEY=$(.venv/bin/syncmon project list --json)\n```", [["project", "list", "--json)"]]),
        ("see `syncmon/settings.py`, `syncmon.toml`, `./syncmon-data` and (`syncmon`)", [[]]),
    ],
)
def test_mentions_are_found(text: str, expected: list[list[str]]) -> None:
    assert command_mentions(text) == expected


@pytest.mark.parametrize(
    "words",
    [["serve", "--porrt"], ["project", "delete", "NAME"], ["tokens", "list"], ["project", "list", "--yaml"]],
)
def test_check_mention_catches_what_does_not_exist(words: list[str]) -> None:
    with pytest.raises(AssertionError):
        check_mention(words)


@pytest.mark.parametrize(
    "doc",
    ["README.md", "docs/architecture.md", "docs/deployment.md", "docs/integrations.md", "docs/alerting.md"],
)
def test_documented_commands_exist(doc: str) -> None:
    path = ROOT / doc
    if not path.is_file():
        pytest.skip(f"{doc} does not exist yet")
    mentions = command_mentions(path.read_text())
    for words in mentions:
        check_mention(words)


def test_readme_lists_every_command() -> None:
    """The README's command table names every command the CLI has."""
    readme = ROOT / "README.md"
    if not readme.is_file():
        pytest.skip("README.md does not exist yet")
    mentioned = [
        [w for w in words if re.fullmatch(r"[a-z][a-z-]*", w)]
        for words in command_mentions(readme.read_text())
    ]
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                assert [name, sub] in [m[:2] for m in mentioned], f"README misses syncmon {name} {sub}"
        else:
            assert [name] in [m[:1] for m in mentioned], f"README misses syncmon {name}"
