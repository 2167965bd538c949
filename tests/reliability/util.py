"""Helpers shared by the reliability proofs: reading the destination, counting what was lost or
duplicated, the destination's copy of the incremental state, and running the CLI as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set

import duckdb

from bsg_campaigns import settings
from bsg_campaigns.simulator import Simulator

DATASET = "bsg_campaigns"
# Same order as tests/conftest.py's Harness.snapshot, so snapshots compare row by row.
TABLE_ORDER = {
    "campaigns": "campaign_id",
    "campaign_statistics": "campaign_id, channel, is_fallback, status",
    "campaign_statistics_history": "campaign_id, fetched_at, channel, is_fallback, status",
    "rejected_records": "campaign_id, fetched_at, reason",
}
# What makes a row unique in each table (a second row with the same key is a duplicate).
TABLE_KEYS = {
    "campaigns": "campaign_id",
    "campaign_statistics": "campaign_id, channel, is_fallback, status",
    "campaign_statistics_history": "campaign_id, fetched_at, channel, is_fallback, status",
    "rejected_records": "campaign_id, fetched_at",
}
Snapshot = Dict[str, List[tuple]]


def _tables(con: duckdb.DuckDBPyConnection, dataset: str) -> Set[str]:
    rows = con.execute("select table_name from information_schema.tables where table_schema = ?", [dataset])
    return {r[0] for r in rows.fetchall()}


def snapshot_db(db_path: Path, dataset: str = DATASET) -> Snapshot:
    """Every row of the four tables, ordered; a table that does not exist yet is empty."""
    if not Path(db_path).exists():
        return {name: [] for name in TABLE_ORDER}
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        present = _tables(con, dataset)
        return {name: (con.execute(f'select * from "{dataset}"."{name}" order by {order}').fetchall()
                       if name in present else [])
                for name, order in TABLE_ORDER.items()}
    finally:
        con.close()


def duplicate_rows(db_path: Path, dataset: str = DATASET) -> Dict[str, int]:
    """Rows beyond the first per table key, per table (all must be 0)."""
    out = {name: 0 for name in TABLE_KEYS}
    if not Path(db_path).exists():
        return out
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        present = _tables(con, dataset)
        for name, key in TABLE_KEYS.items():
            if name in present:
                out[name] = con.execute(f'select count(*) - count(distinct ({key})) from "{dataset}"."{name}"').fetchone()[0]
    finally:
        con.close()
    return out


def snapshot_duplicates(snap: Snapshot) -> int:
    """Exact duplicate rows in a snapshot (every column equal)."""
    return sum(len(rows) - len(set(rows)) for rows in snap.values())


def loaded_ids(snap: Snapshot) -> Set[int]:
    return {row[0] for row in snap["campaigns"]}


def rejected_ids(snap: Snapshot) -> Set[int]:
    return {row[0] for row in snap["rejected_records"]}


def compare(expected: Snapshot, actual: Snapshot) -> Dict[str, Any]:
    """Figures for one comparison: campaigns lost, extra rows, whether every table is identical."""
    lost = len(loaded_ids(expected) - loaded_ids(actual)) + len(rejected_ids(expected) - rejected_ids(actual))
    extra_rows = sum(max(len(actual[t]) - len(expected[t]), 0) for t in TABLE_ORDER)
    return {"identical": expected == actual, "lost": lost, "extra_rows": extra_rows,
            "duplicates": snapshot_duplicates(actual),
            "differing_tables": [t for t in TABLE_ORDER if expected[t] != actual[t]]}


def all_campaign_ids(sim: Simulator, types: Sequence[str] = ("rcs", "sms")) -> Set[int]:
    return {cid for t in types for cid in sim.visible_campaign_ids(t)}


# -- the incremental state as the destination holds it ---------------------------------------

def destination_state(db_path: Path, dataset: str = DATASET) -> Optional[Dict[str, Any]]:
    """The committed pipeline state at the destination, as dlt itself reads it when it restores
    (a state row counts only once its load package completed: joined to `_dlt_loads`, status 0).
    A state row of a load that was killed half-way may sit in `_dlt_pipeline_state`; dlt ignores it."""
    from dlt.common.versioned_state import decompress_state

    if not Path(db_path).exists():
        return None
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        if not {"_dlt_pipeline_state", "_dlt_loads"} <= _tables(con, dataset):
            return None
        row = con.execute(f'select s.state from "{dataset}"."_dlt_pipeline_state" s join "{dataset}"."_dlt_loads" l '
                          "on l.load_id = s._dlt_load_id where l.status = 0 "
                          "order by l.load_id desc, s.version desc limit 1").fetchone()
    finally:
        con.close()
    return None if row is None else decompress_state(row[0])


def uncommitted_state_rows(db_path: Path, dataset: str = DATASET) -> int:
    """State rows whose load never completed (written by a load that was killed half-way)."""
    if not Path(db_path).exists():
        return 0
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        present = _tables(con, dataset)
        if "_dlt_pipeline_state" not in present:
            return 0
        if "_dlt_loads" not in present:
            return con.execute(f'select count(*) from "{dataset}"."_dlt_pipeline_state"').fetchone()[0]
        return con.execute(f'select count(*) from "{dataset}"."_dlt_pipeline_state" s where not exists (select 1 '
                           f'from "{dataset}"."_dlt_loads" l where l.load_id = s._dlt_load_id and l.status = 0)'
                           ).fetchone()[0]
    finally:
        con.close()


def state_violations(source_state: Optional[Mapping[str, Any]], snap: Snapshot, sim: Simulator) -> List[str]:
    """The state may never be ahead of the rows: every campaign it calls open was loaded; every
    campaign created up to a cursor was loaded or rejected (else the cursor skipped it)."""
    if not source_state:
        return []
    problems: List[str] = []
    loaded, rejected = loaded_ids(snap), rejected_ids(snap)
    retry = {int(k) for k in source_state.get("retry", {})}
    for key in source_state.get("open", {}):
        if int(key) not in loaded:
            problems.append(f"open campaign {key} is not in campaigns")
    for campaign_type, cursor in source_state.get("cursors", {}).items():
        limit = datetime.fromisoformat(cursor)
        for cid in sim.visible_campaign_ids(campaign_type):
            created = _created(sim, cid)
            if created is not None and created <= limit and cid not in loaded | rejected | retry:
                problems.append(f"{campaign_type} cursor {cursor} is past campaign {cid} (created {created}), "
                                "which was never loaded")
    return problems


def _created(sim: Simulator, cid: int) -> Optional[datetime]:
    try:
        text = sim.expected_detail(cid)["created_at"]
    except (KeyError, TypeError):
        return None
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


# -- the CLI, as a user runs it ---------------------------------------------------------------

@dataclass
class CliPaths:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / "bsg.duckdb"

    @property
    def data_dir(self) -> Path:
        return self.root / "dlt_data"

    @property
    def pipelines_dir(self) -> Path:
        return self.data_dir / "pipelines"

    @property
    def working_dir(self) -> Path:
        return self.pipelines_dir / settings.PIPELINE_NAME


def cli_env(sim: Simulator, paths: CliPaths, **overrides: Optional[str]) -> Dict[str, str]:
    """Configuration only through dlt's environment variables (nothing from the developer's .dlt)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "BSG_"))}
    env.update({
        "SOURCES__BSG__BASE_URL": sim.base_url,
        "SOURCES__BSG__API_KEY": sim.api_key,
        "SOURCES__BSG__RETRY_BACKOFF_SECONDS": "0.01",
        "SOURCES__BSG__MAX_RETRY_AFTER_SECONDS": "0.5",
        "DESTINATION__DUCKDB__CREDENTIALS": str(paths.db),
        "DLT_DATA_DIR": str(paths.data_dir),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    })
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


CLI = [sys.executable, "-m", "bsg_campaigns.app.cli"]


def run_cli(args: Iterable[str], sim: Simulator, paths: CliPaths, timeout: float = 180,
            **env: Optional[str]) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=paths.root, env=cli_env(sim, paths, **env),
                          capture_output=True, text=True, timeout=timeout)


def start_cli(args: Iterable[str], sim: Simulator, paths: CliPaths, **env: Optional[str]) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *args], cwd=paths.root, env=cli_env(sim, paths, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def files_under(root: Path) -> List[Path]:
    return [p for p in Path(root).rglob("*") if p.is_file()]
