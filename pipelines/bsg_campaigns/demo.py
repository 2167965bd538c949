"""`bsg-campaigns demo`: the whole product offline. Starts the simulator on a free loopback port,
loads it into a local DuckDB file, advances the simulated clock by a day and runs again."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Optional

from . import settings as defaults
from .report import RunReport

DEMO_DB = defaults.DEFAULT_DUCKDB_FILE
REFRESH_ROUNDS = 6
REFRESH_STEP_HOURS = 4


def run_demo(workdir: Path, *, campaigns: int, seed: int,
             progress: Optional[Callable[[RunReport], None]] = None) -> int:
    from .cli import _clear_progress, print_table
    from .runner import make_pipeline, run
    from .simulator import Simulator, SimulatorConfig

    workdir = workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)  # the demo always starts from nothing
    workdir.mkdir(parents=True)
    db_path = workdir / DEMO_DB
    pipeline = make_pipeline(pipelines_dir=str(workdir / "pipelines"), duckdb_path=str(db_path))

    with Simulator(SimulatorConfig(seed=seed, campaigns=campaigns)).start() as sim:
        print(f"Simulator serving {campaigns} campaigns at {sim.base_url} (simulated now {sim.now:%Y-%m-%d %H:%M} UTC)")
        source_args = {"base_url": sim.base_url, "api_key": sim.api_key, "concurrency": 16}

        print("\n== Run 1: first load ==")
        first = run(pipeline, RunReport(_on_progress=progress), **source_args)
        first.finish("ok")
        _clear_progress()
        print(first.summary_text())
        print("\nPer sender (current counts, primary channel):")
        print_table(*_query(pipeline, SENDER_SUMMARY))

        sim.advance(hours=24)
        print(f"\n== Run 2: the simulated clock moved a day (now {sim.now:%Y-%m-%d %H:%M} UTC) ==")
        second = run(pipeline, RunReport(_on_progress=progress), **source_args)
        second.finish("ok")
        _clear_progress()
        print(second.summary_text())
        print(f"\nRun 2 fetched {second.new} new campaigns and refreshed {second.refreshed} still-open "
              f"ones; {second.settled} settled and will not be read again.")
        if second.checks.get("text"):
            print(second.checks["text"])

        # A scheduler would keep running; a few short steps give the growth curves some history.
        print(f"\n== {REFRESH_ROUNDS} more scheduled runs, every {REFRESH_STEP_HOURS} simulated hours ==")
        for _ in range(REFRESH_ROUNDS):
            sim.advance(hours=REFRESH_STEP_HOURS)
            step = run(pipeline, RunReport(), **source_args)
            print(f"  {sim.now:%Y-%m-%d %H:%M}  new {step.new:3d}  refreshed {step.refreshed:3d}  "
                  f"settled {step.settled:3d}  still open {step.still_open:3d}  requests {step.http.get('requests', 0)}")

    _print_rates(pipeline)
    rel = db_path.relative_to(Path.cwd()) if db_path.is_relative_to(Path.cwd()) else db_path
    print(f"\nDuckDB file: {rel}  (dataset/schema `{defaults.DATASET_NAME}`)")
    print("Query it, e.g.:")
    print(f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{rel}', read_only=True)"
          f".sql('select * from {defaults.DATASET_NAME}.campaign_rates limit 10'))\"")
    print("  make notebook   # the analyst notebook on this file")
    return 0


SENDER_SUMMARY = f"""
select c.sender, count(distinct c.campaign_id) as campaigns,
       sum(s.message_count) as messages,
       sum(case when s.status in ('delivered', 'read') then s.message_count else 0 end) as delivered,
       sum(case when s.status = 'read' then s.message_count else 0 end) as read
from {defaults.DATASET_NAME}.campaigns c
join {defaults.DATASET_NAME}.campaign_statistics s on s.campaign_id = c.campaign_id and not s.is_fallback
group by c.sender order by campaigns desc, c.sender
"""


def _query(pipeline: Any, sql: str):
    with pipeline.sql_client() as client:
        with client.execute_query(sql) as cursor:
            headers = [d[0] for d in cursor.description]
            return cursor.fetchall(), headers


def _print_rates(pipeline: Any) -> None:
    from .cli import print_table

    read_types = ", ".join(f"'{t}'" for t in defaults.READ_RECEIPT_CHANNELS)
    try:
        rows, headers = _query(pipeline, f"""
            select sender, type, currency, sum(messages) as messages,
                   round(sum(delivered) * 1.0 / nullif(sum(messages), 0), 3) as delivery_rate,
                   case when type in ({read_types})
                        then round(sum(read) * 1.0 / nullif(sum(delivered), 0), 3) end as read_rate,
                   round(sum(fallback_messages) * 1.0 / nullif(sum(messages), 0), 3) as fallback_rate,
                   sum(total_price) as total_price
            from {defaults.DATASET_NAME}.daily_rates group by 1, 2, 3 order by 1, 2, 3""")
    except Exception:  # the analyst layer is not built (e.g. models skipped)
        return
    print("\nRates by sender and type (from the daily_rates model; ratios of sums):")
    print_table(rows, headers)
