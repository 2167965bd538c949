"""Shared fixtures: a simulator on 127.0.0.1 and a pipeline writing to a temporary DuckDB file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import pytest

# Tests never read the developer's own .dlt/ or ~/.dlt config: each pipeline gets its own dirs.
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")

from bsg_campaigns.report import RunReport  # noqa: E402
from bsg_campaigns.app.runner import make_pipeline, run  # noqa: E402
from bsg_campaigns.simulator import Simulator, SimulatorConfig  # noqa: E402

TABLE_ORDER = {
    "campaigns": "campaign_id",
    "campaign_statistics": "campaign_id, channel, is_fallback, status",
    "campaign_statistics_history": "campaign_id, fetched_at, channel, is_fallback, status",
    "rejected_records": "campaign_id, fetched_at, reason",
}


@pytest.fixture
def sim():
    simulator = Simulator(SimulatorConfig(seed=11, campaigns=120)).start()
    yield simulator
    simulator.stop()


class Harness:
    """A pipeline bound to a simulator: `run()` does what `bsg-campaigns run` does."""

    def __init__(self, root: Path, simulator: Simulator, name: str = "p") -> None:
        self.root = root
        self.sim = simulator
        self.db_path = root / f"{name}.duckdb"
        self.pipeline = make_pipeline(pipelines_dir=str(root / f"{name}_pipelines"), duckdb_path=str(self.db_path),
                                      pipeline_name=f"bsg_test_{name}")

    def source_args(self, **overrides: Any) -> Dict[str, Any]:
        args = {"base_url": self.sim.base_url, "api_key": self.sim.api_key, "concurrency": 4,
                "retry_backoff_seconds": 0.01, "max_retry_after_seconds": 0.5, "request_timeout_seconds": 5}
        args.update(overrides)
        return args

    def run(self, build_models: bool = False, **overrides: Any) -> RunReport:
        report = RunReport()
        run(self.pipeline, report, build_models=build_models, **self.source_args(**overrides))
        report.finish("ok")
        return report

    def query(self, sql: str) -> List[tuple]:
        with self.pipeline.sql_client() as client:
            return [tuple(row) for row in client.execute_sql(sql)]

    def tables(self) -> Set[str]:
        """The tables the dataset holds (none before the first load)."""
        with self.pipeline.sql_client() as client:
            rows = client.execute_sql("select table_name from information_schema.tables where table_schema = %s",
                                      client.dataset_name)
        return {row[0] for row in rows}

    def table(self, name: str, present: Optional[Set[str]] = None) -> List[tuple]:
        """Every row, ordered; [] only for a table that does not exist yet (checked, so that an SQL
        error is a failure, never an empty table that compares equal to another)."""
        if name not in (self.tables() if present is None else present):
            return []
        return self.query(f"select * from {name} order by {TABLE_ORDER[name]}")

    def snapshot(self) -> Dict[str, List[tuple]]:
        present = self.tables()
        return {name: self.table(name, present) for name in TABLE_ORDER}

    @property
    def source_state(self) -> Dict[str, Any]:
        return self.pipeline.state["sources"]["bsg"]


@pytest.fixture
def harness(tmp_path, sim):
    return Harness(tmp_path, sim)
