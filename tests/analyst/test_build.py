"""build_models on DuckDB: what is executed, rebuilds, and datasets with missing tables."""

from __future__ import annotations

from typing import Any, List

import pytest

import dlt

from .analyst_data import Dataset, arrow, campaign, clean_dataset, duckdb_pipeline, load, query, stats
from bsg_campaigns.contract import tables
from bsg_campaigns.analyst import sqlcompile
from bsg_campaigns.analyst.models import CheckContext, build_models, run_checks


class RecordingPipeline:
    """Wraps a pipeline so every statement sent through its SQL client is recorded."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.statements: List[str] = []

    def sql_client(self) -> Any:
        client = self.pipeline.sql_client()
        execute_sql = client.execute_sql

        def recording(sql: Any, *args: Any, **kwargs: Any) -> Any:
            self.statements.append(str(sql))
            return execute_sql(sql, *args, **kwargs)

        client.execute_sql = recording
        return client


def test_executed_text_is_the_sqlglot_transpiled_text(clean_duckdb):
    recorder = RecordingPipeline(clean_duckdb)
    names = build_models(recorder, force=True)  # already built by the fixture: force the DDL
    assert names == sqlcompile.model_names()
    expected_names, drops, creates = sqlcompile.view_statements(
        "duckdb", sqlcompile.default_table_path(clean_duckdb.dataset_name)
    )
    ddl = [s for s in recorder.statements if s.startswith(("DROP VIEW", "CREATE VIEW"))]
    assert ddl == drops + creates
    # views are dropped in reverse dependency order, then created in order
    assert [d.split(".")[-1].split()[0] for d in drops] == list(reversed(names))


def test_rebuild_is_idempotent_and_keeps_results(clean_duckdb):
    before = query(clean_duckdb, "select * from {ds}.campaign_rates order by campaign_id")
    build_models(clean_duckdb)
    build_models(clean_duckdb)
    assert query(clean_duckdb, "select * from {ds}.campaign_rates order by campaign_id") == before


def test_views_are_listed_in_the_dataset(clean_duckdb):
    rows = query(
        clean_duckdb,
        "select table_name from information_schema.tables where table_schema = '{ds}' and table_type = 'VIEW'",
    )
    assert {r["table_name"] for r in rows} == set(sqlcompile.model_names())


def test_dataset_without_history_or_statistics(tmp_path):
    """Only `campaigns` loaded: the other sources are modelled as empty, every view builds, the
    campaigns show 0 messages and NULL rates, the checks run."""
    pipeline = duckdb_pipeline(tmp_path, "partial")
    data = Dataset(campaigns=[campaign(1, total_messages=5, total_price="1")], statistics=[], history=[])
    pipeline.run(
        dlt.resource(arrow(data.campaigns, tables.CAMPAIGNS_SCHEMA), name="campaigns",
                     columns=tables.CAMPAIGNS_COLUMNS, write_disposition="replace")
    )
    assert build_models(pipeline) == sqlcompile.model_names()
    rows = query(pipeline, "select campaign_id, messages, delivery_rate, cost_per_delivered from {ds}.campaign_rates")
    assert rows == [{"campaign_id": 1, "messages": 0, "delivery_rate": None, "cost_per_delivered": None}]
    assert query(pipeline, "select count(*) as n from {ds}.statistics_growth") == [{"n": 0}]
    report = run_checks(pipeline, CheckContext(campaigns_listed=1, campaigns_loaded=1))
    assert report.ok and not report.warnings, report.to_text()

    # once the statistics arrive, the next build reads them
    load(pipeline, Dataset(data.campaigns, stats(1, "rcs", {"delivered": 4, "read": 1}), []))
    build_models(pipeline)
    rows = query(pipeline, "select messages, delivered, read, delivery_rate from {ds}.campaign_rates")
    assert rows == [{"messages": 5, "delivered": 5, "read": 1, "delivery_rate": 1.0}]


def test_never_loaded_dataset(tmp_path):
    """A pipeline that never loaded anything: the dataset is created and the views are empty."""
    pipeline = duckdb_pipeline(tmp_path, "fresh", dataset_name="fresh_dataset")
    assert build_models(pipeline) == sqlcompile.model_names()
    for name in ("campaign_rates", "daily_rates", "statistics_growth"):
        assert query(pipeline, f"select count(*) as n from {{ds}}.{name}") == [{"n": 0}]
    report = run_checks(pipeline, CheckContext(campaigns_listed=3, campaigns_loaded=0))
    assert report.ok
    assert [r.name for r in report.warnings] == ["empty_run"]


def test_unsafe_dataset_name_is_refused(tmp_path):
    pipeline = duckdb_pipeline(tmp_path, "unsafe", dataset_name="fine")

    class Renamed(RecordingPipeline):
        def sql_client(self) -> Any:
            client = super().sql_client()
            client.dataset_name = "x; drop table y"
            return client

    with pytest.raises(sqlcompile.SqlModelError):
        build_models(Renamed(pipeline))


def test_clean_dataset_builder_is_consistent():
    data = clean_dataset()
    ids = [c["campaign_id"] for c in data.campaigns]
    assert len(ids) == len(set(ids))
