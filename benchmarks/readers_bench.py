"""What publishing costs (publish.py): a full load and an incremental run at 100,000 campaigns,
loaded through the working copy and published ("publish"), against the same runs written
straight into the file ("direct", what the connector did before). During the incremental run
a second process holds a read-only connection open on the file, as a BI tool does.

    python -m benchmarks.readers_bench [--quick] [--campaigns N] [--workdir DIR]

Prints a markdown table (BENCHMARKS.md, "Readers while runs load") and writes
benchmarks/results/readers.json (--quick: benchmarks/results-quick/). Each variant runs in its own process (peak RSS from wait4).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from benchmarks.common import REPO, RssSampler, SimProcess, child_main, run_child
from benchmarks.connector_run import _admin

HOLD_READER = ("import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
               "print(con.execute('select count(*) from bsg_campaigns.campaigns').fetchone()[0], flush=True); "
               "sys.stdin.read()")


def _file_mb(path: Path) -> float:
    return round(path.stat().st_size / 1048576, 1) if path.exists() else 0.0


def child(p: Dict[str, Any]) -> Dict[str, Any]:
    import dlt

    from bsg_campaigns.load import publish
    from bsg_campaigns.report import RunReport
    from bsg_campaigns.app.runner import make_pipeline, run
    from bsg_campaigns.exceptions import RunFailed

    workdir = Path(p["workdir"])
    database = workdir / "bsg.duckdb"
    if p["variant"] == "publish":
        pipeline = make_pipeline(pipelines_dir=str(workdir / "pipelines"), duckdb_path=str(database),
                                 pipeline_name="bsg_readers_bench")
    else:  # the file itself as dlt's destination: publishing does nothing
        pipeline = dlt.pipeline(pipeline_name="bsg_readers_bench", pipelines_dir=str(workdir / "pipelines"),
                                destination=dlt.destinations.duckdb(str(database)), dataset_name="bsg_campaigns")

    publishes: List[Dict[str, float]] = []
    original = publish.publish

    def timed_publish(working: Path, published: Path) -> bool:
        started = time.time()
        done = original(working, published)
        publishes.append({"start": started, "end": time.time(), "copied": done,
                          "working_mb": _file_mb(working), "published_mb": _file_mb(published)})
        return done

    publish.publish = timed_publish
    args = {"base_url": p["base_url"], "api_key": p["api_key"], "concurrency": 16}
    runs = []
    # "direct" measures its incremental run without a reader (the baseline), then shows what a
    # held reader does to the next one; "publish" holds the reader during its incremental run.
    steps = ([("full", False), ("incremental", False), ("incremental", True)] if p["variant"] == "direct"
             else [("full", False), ("incremental", True)])
    for step, held in steps:
        reader = None
        if step == "incremental":
            _admin(p["base_url"], "POST", "/_sim/advance", {"hours": 1})
        if held:
            reader = subprocess.Popen([sys.executable, "-c", HOLD_READER, str(database)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
            reader.stdout.readline()  # the reader holds its connection from here on
        publishes.clear()
        sampler = RssSampler().start()
        started = time.time()
        outcome = "ok"
        report = RunReport()
        try:
            run(pipeline, report, **args)
        except RunFailed as exc:
            text = str(exc)
            lock = text.find("Could not set lock")
            outcome = "failed (exit 1): " + (text[lock:lock + 120] if lock >= 0 else text[:160])
        ended = time.time()
        sampler.stop()
        if reader is not None:
            reader.stdin.close()
            reader.wait(timeout=30)
        load_end = report.steps.get("load", (started, ended))[1]
        entry: Dict[str, Any] = {
            "step": step + (", reader held open" if held else ""), "outcome": outcome, "wall_s": round(ended - started, 2), "campaigns": report.fetched,
            "peak_rss_mb": sampler.peak_between(started, ended),
            "peak_rss_after_load_mb": sampler.peak_between(load_end, ended),
            "file_mb": _file_mb(database), "working_copy_mb": _file_mb(publish.working_copy(database)),
        }
        if publishes:
            last = publishes[-1]
            entry.update(publish_s=round(last["end"] - last["start"], 3), published=last["copied"],
                         peak_rss_publish_mb=sampler.peak_between(last["start"], last["end"]),
                         peak_disk_mb=round(last["working_mb"] * 2 + last["published_mb"], 1))
        runs.append(entry)
    return {"wall_s": sum(r["wall_s"] for r in runs), "runs": runs}


def parent(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.readers_bench")
    parser.add_argument("--quick", action="store_true", help="2,000 campaigns instead of 100,000")
    parser.add_argument("--campaigns", type=int)
    parser.add_argument("--workdir")
    parser.add_argument("--variants", default="direct,publish")
    opts = parser.parse_args(argv)
    campaigns = opts.campaigns or (2_000 if opts.quick else 100_000)
    workdir = Path(opts.workdir or tempfile.mkdtemp(prefix="bsg_readers_bench_"))
    out = REPO / "benchmarks" / ("results-quick" if opts.quick else "results") / "readers.json"
    out.parent.mkdir(exist_ok=True)
    results: Dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    results.setdefault("variants", {})
    results["campaigns"] = campaigns
    for variant in opts.variants.split(","):
        # a fresh simulator per variant: both see the same catalogue and clock
        with SimProcess(workdir / f"sim_{variant}", seed=42, campaigns=campaigns, latency_ms=0.0,
                        whatsapp_share=0.0) as sim:
            params = {"variant": variant, "base_url": sim.base_url, "api_key": sim.api_key,
                      "workdir": str(workdir / variant)}
            result = run_child(variant, "benchmarks.readers_bench", params, workdir / variant, timeout=3600)
            results["variants"][variant] = result.as_dict()
            print(f"{variant}: {'ok' if result.ok else result.error[:300]} peak RSS {result.peak_rss_mb:.0f} MB",
                  file=sys.stderr)
    published = workdir / "publish" / "bsg.duckdb"
    if published.exists():  # an upgrade / a new machine: the working copy seeded from the file alone
        from bsg_campaigns.load.publish import prepare_working_copy

        seed = workdir / "seed" / "bsg.duckdb"
        seed.parent.mkdir(exist_ok=True)
        shutil.copyfile(published, seed)
        started = time.perf_counter()
        prepare_working_copy(seed)
        results["seed_s"] = round(time.perf_counter() - started, 3)
        results["seed_file_mb"] = _file_mb(seed)
    out.write_text(json.dumps(results, indent=2))
    print(table(results))
    return 0


def table(results: Dict[str, Any]) -> str:
    lines = ["| variant | run | outcome | wall s | publish s "
             "| peak RSS MB (run / after load / publish) | process peak RSS MB | file MB | working copy MB "
             "| peak disk MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for variant, result in results["variants"].items():
        for r in result.get("runs", []):
            lines.append(f"| {variant} | {r['step']} ({r['campaigns']:,} campaigns) | {r['outcome']} | {r['wall_s']} "
                         f"| {r.get('publish_s', '-')} | {r['peak_rss_mb']} / {r['peak_rss_after_load_mb']} / "
                         f"{r.get('peak_rss_publish_mb', '-')} | {result['peak_rss_mb']} | {r['file_mb']} "
                         f"| {r['working_copy_mb'] or '-'} | {r.get('peak_disk_mb', r['file_mb'])} |")
    if "seed_s" in results:
        lines.append(f"\nSeeding a missing working copy from the {results['seed_file_mb']} MB file: "
                     f"{results['seed_s']} s.")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("{"):
        child_main(child)
    else:
        sys.exit(parent(sys.argv[1:]))
