"""Detector throughput of two source trees, interleaved, in CPU time: a fair A/B on a busy host.

    git archive <base-commit> | tar -x -C /tmp/base
    .venv/bin/python bench/compare_detectors.py /tmp/base . --pairs 4

Each run is a fresh process that imports `syncmon` and `bench/detectors.py` from its tree,
builds the same stream (`make_events`, same seed) and times that tree's `run_detectors`
over it, best of `--repeat`. Wall-clock throughput follows whatever else the host runs;
process CPU time much less so, and running the two trees alternately spreads what remains
evenly over both. Prints signals per CPU second and per wall second for every run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

CHILD = """
import gc, importlib.util, sys, time
from collections import Counter
tree, signals_n, ips, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, tree)
spec = importlib.util.spec_from_file_location("tree_bench", f"{tree}/bench/detectors.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
events = bench.make_events(signals_n, ips, 1)
signals = [s for s in map(bench.signal_from_event, events) if s is not None]
cpu = wall = float("inf")
for _ in range(repeat):
    detectors = bench.default_detectors(1)
    found = Counter()
    gc.collect()
    c, w = time.process_time(), time.perf_counter()
    bench.run_detectors(detectors, signals, found)
    cpu, wall = min(cpu, time.process_time() - c), min(wall, time.perf_counter() - w)
print(f"{len(signals) / cpu:,.0f} signals/CPU-s  {len(signals) / wall:,.0f} signals/wall-s  "
      f"{found.total()} detections")
"""


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("trees", nargs=2, type=Path, help="two source trees (each with syncmon/ and bench/)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--signals", type=int, default=300_000)
    parser.add_argument("--ips", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    for pair in range(args.pairs):
        for tree in args.trees:
            command = [sys.executable, "-c", CHILD, str(tree.resolve()), str(args.signals), str(args.ips)]
            result = subprocess.run([*command, str(args.repeat)], capture_output=True, text=True, check=True)
            print(f"pair {pair + 1}  {tree}: {result.stdout.strip()}", flush=True)


if __name__ == "__main__":
    main()
