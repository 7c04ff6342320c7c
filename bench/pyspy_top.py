"""Summarise py-spy collapsed stacks (`py-spy record --format raw`): where the time goes.

    python bench/pyspy_top.py profiles/sqlite-full-wrk-single.txt [--top 25] [--match syncmon]

Prints, per thread when the profile has thread frames (`--threads`), the functions with
the most samples on top of the stack (self) and anywhere in it (inclusive), as a share
of that thread's samples. `--match` keeps only functions whose file contains the text.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict

_LINE = re.compile(r"^(.*) (\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def frame_name(frame: str) -> str:
    """'fn (path/to/file.py:123)' -> 'path/to/file.py:fn'; line numbers merged."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{match.group('func')}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="only functions whose path contains this")
    args = parser.parse_args()

    totals: Counter[str] = Counter()
    self_time: dict[str, Counter[str]] = defaultdict(Counter)
    inclusive: dict[str, Counter[str]] = defaultdict(Counter)
    with open(args.profile, encoding="utf-8", errors="replace") as handle:
        lines = handle.readlines()
    for raw in lines:
        match = _LINE.match(raw.rstrip("\n"))
        if not match:
            continue
        frames, count = match.group(1).split(";"), int(match.group(2))
        thread = "all"
        if frames and frames[0].startswith(("thread ", "process ")):
            while frames and frames[0].startswith(("thread ", "process ")):
                thread = frames.pop(0).strip()
        if not frames:
            continue
        names = [frame_name(f) for f in frames]
        totals[thread] += count
        self_time[thread][names[-1]] += count
        for name in set(names):
            inclusive[thread][name] += count

    grand = sum(totals.values())
    for thread, total in totals.most_common():
        print(f"\n## {thread}: {total} samples ({100 * total / grand:.0f}% of all)")
        for title, table in (("self", self_time[thread]), ("inclusive", inclusive[thread])):
            print(f"\n{title}:")
            shown = 0
            for name, count in table.most_common():
                if args.match and args.match not in name:
                    continue
                print(f"  {100 * count / total:5.1f}%  {name}")
                shown += 1
                if shown >= args.top:
                    break
    return 0


if __name__ == "__main__":
    sys.exit(main())
