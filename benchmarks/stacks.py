"""Summarise py-spy's raw (collapsed) stacks: where the samples went, by thread and function.

    python -m benchmarks.stacks PROFILE.txt [--top 25]

Each line of py-spy's `--format raw` output is `frame;frame;...;leaf COUNT`. Reported: samples
per thread, the top functions by *inclusive* share (a function counted once per stack), and by
*self* share (the leaf frame)."""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from typing import Dict, List, Tuple

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "pipelines/", "lib/python3.11/", "benchmarks/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match.group('func')} ({path})"


def load(path: str) -> List[Tuple[List[str], int]]:
    stacks = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line:
                continue
            body, _, count = line.rpartition(" ")
            try:
                n = int(count)
            except ValueError:
                continue
            stacks.append((body.split(";"), n))
    return stacks


def summarise(path: str, top: int = 25, thread: str = "") -> Dict[str, object]:
    stacks = [(f, n) for f, n in load(path) if not thread or thread in f[0]]
    total = sum(n for _, n in stacks) or 1
    threads: Counter = Counter()
    inclusive: Counter = Counter()
    leaf: Counter = Counter()
    for frames, n in stacks:
        threads[frames[0] if frames[0].startswith(("thread", "process")) else "?"] += n
        names = [_short(f) for f in frames if not f.startswith(("thread", "process"))]
        for name in set(names):
            inclusive[name] += n
        if names:
            leaf[names[-1]] += n
    return {
        "samples": total,
        "threads": [(t, n, round(100 * n / total, 1)) for t, n in threads.most_common(10)],
        "inclusive": [(f, n, round(100 * n / total, 1)) for f, n in inclusive.most_common(top)],
        "self": [(f, n, round(100 * n / total, 1)) for f, n in leaf.most_common(top)],
    }


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.stacks")
    ap.add_argument("profile")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--thread", default="", help="only stacks of threads whose name contains this")
    args = ap.parse_args(argv)
    summary = summarise(args.profile, args.top, args.thread)
    print(f"{summary['samples']} samples")
    for title in ("threads", "inclusive", "self"):
        print(f"\n{title}:")
        for name, n, pct in summary[title]:  # type: ignore[union-attr]
            print(f"  {pct:5.1f}%  {n:6d}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
