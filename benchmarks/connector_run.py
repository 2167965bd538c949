"""The connector through its public API (`runner.make_pipeline` + `runner.run`), in its own process.

    python -m benchmarks.connector_run PARAMS_JSON RESULT_PATH

params: base_url, api_key, workdir, duckdb_path, concurrency, build_models, source (extra source
args), runs (a list of {"advance": {...}} steps for incremental runs; the first run is the full
load), sim_admin (base_url for /_sim/ calls between runs), profile (a path: sample every thread's stack
during run 1 into it, py-spy's raw format), count_tables (tables whose committed rows to count).
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

from benchmarks.common import RssSampler, child_main, self_peak_rss_mb


def _admin(base_url: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body or {}).encode() if method == "POST" else None
    request = urllib.request.Request(base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def one_run(pipeline: Any, p: Dict[str, Any]) -> Dict[str, Any]:
    from bsg_campaigns.report import RunReport
    from bsg_campaigns.app.runner import run

    report = RunReport()
    args = {"base_url": p["base_url"], "api_key": p["api_key"], "concurrency": p.get("concurrency", 16)}
    args.update(p.get("source", {}))
    sampler = RssSampler().start()
    started, started_unix = time.perf_counter(), time.time()
    run(pipeline, report, build_models=p.get("build_models", True), **args)
    wall = time.perf_counter() - started
    ended_unix = time.time()
    sampler.stop()
    steps = report.steps  # dlt steps as the runner ran them: (start, end) unix times
    phases = {name + "_s": round(end - start, 3) for name, (start, end) in steps.items()}
    rss_by_phase = {name: sampler.peak_between(start, end) for name, (start, end) in steps.items()}
    loaded_at = steps["load"][1] if "load" in steps else None
    if loaded_at is not None:
        phases["run_s"] = round(loaded_at - started_unix, 3)
        rss_by_phase["models_and_checks"] = sampler.peak_between(loaded_at, ended_unix)
        phases["models_and_checks_s"] = round(ended_unix - loaded_at, 3)
    rss_by_phase["before_run"] = sampler.peak_between(started_unix - 1, started_unix + 0.06)
    checks = report.checks or {}
    table_rows = {}
    if p.get("count_tables"):
        with pipeline.sql_client() as client:
            table_rows = {t: client.execute_sql(f"select count(*) from {t}")[0][0] for t in p["count_tables"]}
    return {"wall_s": wall, "campaigns": report.fetched, "messages_report": dict(report.messages),
            "table_rows": table_rows, "new": report.new, "refreshed": report.refreshed,
            "still_open": report.still_open, "listed": report.listed_total, "http": report.http,
            "rows": report.rows, "phases": phases, "checks": checks.get("summary"),
            "failed_checks": [r["name"] for r in checks.get("results", []) if r.get("outcome") == "FAIL"],
            "rss_after_mb": round(self_peak_rss_mb(), 1), "rss_peak_by_phase_mb": rss_by_phase}


def main(p: Dict[str, Any]) -> Dict[str, Any]:
    from bsg_campaigns.app.runner import make_pipeline

    from benchmarks import experiments

    experiments.apply(p.get("experiment"))

    workdir = Path(p["workdir"])
    pipeline = make_pipeline(pipelines_dir=str(workdir / "pipelines"), duckdb_path=p["duckdb_path"],
                             pipeline_name=p.get("pipeline_name", "bsg_bench"))
    if p.get("profile"):  # a wall-clock sample of every thread (benchmarks/sampler.py)
        from benchmarks.sampler import StackSampler

        with StackSampler(Path(p["profile"])):
            first = one_run(pipeline, p)
    else:
        first = one_run(pipeline, p)
    later: List[Dict[str, Any]] = []
    if p.get("runs"):  # the parent reads the simulator's counts after the child: keep run 1's here
        first["server_requests"] = _admin(p["base_url"], "GET", "/_sim/stats")
    for step in p.get("runs", []):
        if step.get("advance"):
            _admin(p["base_url"], "POST", "/_sim/advance", step["advance"])
        _admin(p["base_url"], "POST", "/_sim/reset_stats")
        result = one_run(pipeline, p)
        result["server_requests"] = _admin(p["base_url"], "GET", "/_sim/stats")
        later.append(result)
    return {**first, "later_runs": later}


if __name__ == "__main__":
    child_main(main)
