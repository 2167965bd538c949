"""A/B of the suggested connector changes, prototyped as monkeypatches (benchmarks/experiments.py),
side by side with the connector as shipped. Not part of `make bench`: run it to see what a change
moves before making it.

    python -m benchmarks.ab [--campaigns 10000] [--rounds 2] [--experiments none,gc_threshold,...]
                            [--load-path 100000] [--out benchmarks/results/ab.json]

Rounds interleave the variants (A B C A B C), so a noisy neighbour hits all of them alike; the
table reports the median of the rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

from benchmarks.common import REPO, run_child
from benchmarks.run import LATENCY_MS, _WarmSim, log

DEFAULT = ("none,gc_threshold,arrow_once,drain_queue,stats_merge_key_only,"
           "gc_threshold+arrow_once+drain_queue+stats_merge_key_only")
LOAD_DEFAULT = "none,gc_threshold+arrow_once,gc_threshold+arrow_once+stats_merge_key_only"


def _median(values: List[float]) -> Optional[float]:
    return round(statistics.median(values), 3) if values else None


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--campaigns", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--experiments", default=DEFAULT)
    ap.add_argument("--load-path", type=int, default=0, help="also A/B the load path with this many records")
    ap.add_argument("--load-experiments", default=LOAD_DEFAULT)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ab.json")
    args = ap.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="bsg-ab-"))
    variants = [v.strip() for v in args.experiments.split(",") if v.strip()]
    runs: Dict[str, List[Dict[str, Any]]] = {v: [] for v in variants}
    with _WarmSim(scratch / "sim", True, campaigns=args.campaigns, latency_ms=LATENCY_MS, whatsapp_share=0.0,
                  seed=42) as sim:
        for round_no in range(args.rounds):
            for variant in variants:
                name = f"{variant.replace('+', '_')}_r{round_no}"
                params = {"base_url": sim.base_url, "api_key": sim.api_key, "concurrency": 16, "build_models": True,
                          "workdir": str(scratch / name), "duckdb_path": str(scratch / f"{name}.duckdb"),
                          "experiment": None if variant == "none" else variant}
                result = run_child(name, "benchmarks.connector_run", params, scratch)
                out = result.as_dict()
                out["campaigns_per_s"] = round(out.get("campaigns", 0) / result.wall_s, 1) if result.ok else None
                runs[variant].append(out)
                log(f"{variant}: {out['campaigns_per_s']} campaigns/s, CPU {result.cpu_s:.1f} s, "
                    f"peak {result.peak_rss_mb:.0f} MB" + ("" if result.ok else f" FAILED {result.error[:200]}"))
    summary = {v: {"campaigns_per_s": _median([r["campaigns_per_s"] for r in rs if r.get("campaigns_per_s")]),
                   "rounds": [r.get("campaigns_per_s") for r in rs],
                   "cpu_s": _median([r["cpu_s"] for r in rs]), "peak_rss_mb": _median([r["peak_rss_mb"] for r in rs]),
                   "extract_s": _median([r["phases"]["extract_s"] for r in rs if r.get("phases")])}
               for v, rs in runs.items()}
    load: Dict[str, Any] = {}
    if args.load_path:
        for variant in [v.strip() for v in args.load_experiments.split(",") if v.strip()] + ["floor"]:
            wd = scratch / f"load_{variant.replace('+', '_')}"
            result = run_child("load", "benchmarks.load_path",
                               {"mode": "floor" if variant == "floor" else "connector", "n": args.load_path,
                                "workdir": str(wd), "experiment": None if variant in ("none", "floor") else variant},
                               wd)
            load[variant] = result.as_dict()
            log(f"load path {variant}: {result.wall_s:.2f} s, peak {result.peak_rss_mb:.0f} MB")
    base = summary.get("none", {}).get("campaigns_per_s")
    lines = [f"A/B on {args.campaigns} campaigns at {LATENCY_MS:.0f} ms, concurrency 16, end to end with models; "
             f"median of {args.rounds} interleaved rounds", "",
             "| variant | campaigns/s | vs shipped | rounds | client CPU s | extract s | peak RSS MB |",
             "|---|---|---|---|---|---|---|"]
    for v, s in summary.items():
        rel = f"{s['campaigns_per_s'] / base:.2f}×" if base and s["campaigns_per_s"] else "—"
        lines.append(f"| {v} | {s['campaigns_per_s']} | {rel} | {s['rounds']} | {s['cpu_s']} | {s['extract_s']} | "
                     f"{s['peak_rss_mb']} |")
    if load:
        floor = load.get("floor", {}).get("wall_s")
        lines += ["", f"Load path, {args.load_path} parsed campaigns:", "",
                  "| variant | seconds | vs floor | peak RSS MB | breakdown |", "|---|---|---|---|---|"]
        for v, r in load.items():
            rel = f"{r['wall_s'] / floor:.2f}×" if floor else "—"
            lines.append(f"| {v} | {r['wall_s']} | {rel} | {r['peak_rss_mb']} | {r.get('breakdown_s', '')} |")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "runs": runs, "load_path": load}, indent=2, default=str))
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
