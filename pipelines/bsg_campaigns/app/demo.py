"""`bsg-campaigns demo`: the whole product offline. Starts the simulator on a free loopback port,
loads it into a local DuckDB file, advances the simulated clock by a day and runs again.

The demo starts from nothing every time, yet deletes only what it created: it works in a folder
that is new, empty or marked as its own (DEMO_MARKER), and in a marked folder it removes only the
entries it wrote there. A non-empty folder without the marker is refused rather than shared:
the demo's `bsg.duckdb` is also the name `bsg-campaigns run` writes in the working directory, so
`--dir .` beside a real load would otherwise mix simulated data into it."""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

from bsg_campaigns import settings as defaults
from bsg_campaigns.app.console import clear_progress, print_table
from bsg_campaigns.contract.privacy import generate_key
from bsg_campaigns.report import RunReport

DEMO_DB = defaults.DEFAULT_DUCKDB_FILE
REFRESH_ROUNDS = 6
REFRESH_STEP_HOURS = 4
DEMO_MARKER = ".bsg-campaigns-demo"
# What the demo writes in its folder even when a run is killed before recording what it made
# (the DuckDB file, its WAL, dlt's pipelines dir): in a marked folder these names are the demo's.
DEMO_OWN_NAMES = (DEMO_DB, DEMO_DB + ".wal", "pipelines")


def run_demo(workdir: Path, *, campaigns: int, seed: int,
             progress: Optional[Callable[[RunReport], None]] = None, refresh_rounds: int = REFRESH_ROUNDS) -> int:
    workdir = workdir.resolve()
    with demo_folder(workdir):
        return _run_demo(workdir, campaigns=campaigns, seed=seed, progress=progress, refresh_rounds=refresh_rounds)


def _run_demo(workdir: Path, *, campaigns: int, seed: int,
              progress: Optional[Callable[[RunReport], None]], refresh_rounds: int) -> int:
    from bsg_campaigns.app.runner import make_pipeline, run
    from bsg_campaigns.simulator import Simulator, SimulatorConfig

    db_path = workdir / DEMO_DB
    pipeline = make_pipeline(pipelines_dir=str(workdir / "pipelines"), duckdb_path=str(db_path))

    with Simulator(SimulatorConfig(seed=seed, campaigns=campaigns)).start() as sim:
        print(f"Simulator serving {campaigns} campaigns at {sim.base_url} (simulated now {sim.now:%Y-%m-%d %H:%M} UTC)")
        # Messages on (off by default for production runs: they cost requests). The demo's data is
        # simulated, so its hash key is made up per demo and never written to the user's secrets.
        source_args: Dict[str, Any] = {"base_url": sim.base_url, "api_key": sim.api_key, "concurrency": 16,
                                       "messages": True, "recipient_hash_key": generate_key()}

        print("\n== Run 1: first load ==")
        first = run(pipeline, RunReport(_on_progress=progress), **source_args)
        first.finish("ok")
        clear_progress()
        print(first.summary_text())
        print("\nPer sender (current counts, primary channel):")
        print_table(*_query(pipeline, SENDER_SUMMARY))

        sim.advance(hours=24)
        print(f"\n== Run 2: the simulated clock moved a day (now {sim.now:%Y-%m-%d %H:%M} UTC) ==")
        second = run(pipeline, RunReport(_on_progress=progress), **source_args)
        second.finish("ok")
        clear_progress()
        print(second.summary_text())
        print(f"\nRun 2 fetched {second.new} new campaigns and refreshed {second.refreshed} still-open "
              f"ones; {second.settled} settled and will not be read again.")
        if second.checks.get("text"):
            print(second.checks["text"])

        # A scheduler would keep running; a few short steps give the growth curves some history.
        print(f"\n== {refresh_rounds} more scheduled runs, every {REFRESH_STEP_HOURS} simulated hours ==")
        for _ in range(refresh_rounds):
            sim.advance(hours=REFRESH_STEP_HOURS)
            step = run(pipeline, RunReport(), **source_args)
            print(f"  {sim.now:%Y-%m-%d %H:%M}  new {step.new:3d}  refreshed {step.refreshed:3d}  "
                  f"settled {step.settled:3d}  still open {step.still_open:3d}  requests {step.http.get('requests', 0)}"
                  f"  (messages of {step.messages.get('campaigns', 0)} campaigns whose counts moved: "
                  f"{step.messages.get('requests', 0)} requests)")

    _print_rates(pipeline)
    rel = db_path.relative_to(Path.cwd()) if db_path.is_relative_to(Path.cwd()) else db_path
    print(f"\nDuckDB file: {rel}  (dataset/schema `{defaults.DATASET_NAME}`)")
    print("Query it, e.g.:")
    print(f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{rel}', read_only=True)"
          f".sql('select * from {defaults.DATASET_NAME}.campaign_rates limit 10'))\"")
    print("  make notebook   # the analyst notebook on this file")
    return 0


@contextmanager
def demo_folder(workdir: Path) -> Iterator[None]:
    """Empty `workdir` of the demo's own entries (never anything else), mark it as the demo's,
    and afterwards record every entry the run added, so that the next demo removes exactly those."""
    from bsg_campaigns.exceptions import UserError

    if workdir.exists() and not workdir.is_dir():
        raise UserError(f"`--dir {workdir}` is a file, not a folder. Pass a new or empty folder for the "
                        "demo's DuckDB file and pipeline state (e.g. `--dir demo`); nothing was changed.")
    marker = workdir / DEMO_MARKER
    if workdir.is_dir() and not marker.is_file():
        foreign = sorted(entry.name for entry in workdir.iterdir())
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise UserError(
                f"`--dir {workdir}` already holds files the demo did not create ({shown}). The demo "
                "starts from nothing each run and never deletes or writes into what is not its own: "
                "pass a new or empty folder (e.g. `--dir demo`). A demo folder made by an older version "
                f"(it has no {DEMO_MARKER} file) must be removed once by hand. Nothing was changed.")
    workdir.mkdir(parents=True, exist_ok=True)
    for name in _owned_entries(workdir):
        _remove(workdir / name)
    before = {entry.name for entry in workdir.iterdir()}
    _write_marker(marker, [])
    try:
        yield
    finally:
        # An entry that appeared during the run is the demo's (the folder was the demo's alone).
        _write_marker(marker, sorted({e.name for e in workdir.iterdir()} - before - {DEMO_MARKER}))


def _owned_entries(workdir: Path) -> Set[str]:
    """Names in a marked folder the demo created: those its marker records, plus its own file
    names (a run killed before recording them). Only entries present in this very folder: a
    name in the marker cannot reach outside it."""
    marker = workdir / DEMO_MARKER
    recorded: List[str] = []
    if marker.is_file():
        try:
            recorded = [n for n in json.loads(marker.read_text(encoding="utf-8")).get("created", [])
                        if isinstance(n, str)]
        except (ValueError, AttributeError):
            recorded = []
    present = {entry.name for entry in workdir.iterdir()}
    return (set(DEMO_OWN_NAMES) | set(recorded)) & present - {DEMO_MARKER}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:  # a file, or a link (never follow it: its target is not ours)
        path.unlink(missing_ok=True)


def _write_marker(marker: Path, created: List[str]) -> None:
    marker.write_text(json.dumps({"created": created, "note": "made by `bsg-campaigns demo`; the next "
                                  "demo run deletes the entries listed here and nothing else"}, indent=1)
                      + "\n", encoding="utf-8")


SENDER_SUMMARY = f"""
select c.sender, count(distinct c.campaign_id) as campaigns,
       sum(s.message_count) as messages,
       sum(case when s.status in ('delivered', 'read') then s.message_count else 0 end) as delivered,
       sum(case when s.status = 'read' then s.message_count else 0 end) as read
from {defaults.DATASET_NAME}.campaigns c
join {defaults.DATASET_NAME}.campaign_statistics s on s.campaign_id = c.campaign_id and not s.is_fallback
group by c.sender order by campaigns desc, c.sender
"""


def _query(pipeline: Any, sql: str) -> Tuple[List[Tuple[Any, ...]], List[str]]:
    with pipeline.sql_client() as client:
        with client.execute_query(sql) as cursor:
            headers = [d[0] for d in cursor.description]
            return cursor.fetchall(), headers


def _print_rates(pipeline: Any) -> None:
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
