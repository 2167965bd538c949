"""The package's precompiled SQL (analyst/compiled_sql.json, written by analyst/seed.py): it is
exactly what the SQL files compile to, and a real first run on DuckDB finds every statement that
does not depend on the run in it (so the run compiles only the four checks that read
check_context); its PostgreSQL entries are keyed as a real PostgreSQL client keys them."""

from __future__ import annotations

import json
from pathlib import Path

import dlt
import pytest

from .analyst_data import POSTGRES_URL, postgres_answers
from .conftest import _no_postgres
from bsg_campaigns import settings
from bsg_campaigns.analyst import sqlcompile, viewcache
from bsg_campaigns.analyst.models import CheckContext, cached_view_statements
from bsg_campaigns.analyst.seed import SEED_DIALECTS, generate_seed
from bsg_campaigns.app.runner import make_pipeline, run
from bsg_campaigns.contract.privacy import generate_key
from bsg_campaigns.report import RunReport
from bsg_campaigns.simulator import Simulator, SimulatorConfig

REGENERATE = "python -m bsg_campaigns.analyst.seed"


def shipped() -> dict:
    data = json.loads(viewcache.SEED_FILE.read_text(encoding="utf-8"))
    assert data["format"] == viewcache._CACHE_FORMAT
    if data["sqlglot"] != viewcache.sqlglot_version():
        # pyproject allows a range; the seed is for one release and is not read with another
        pytest.skip(f"the seed was compiled with sqlglot {data['sqlglot']}, {viewcache.sqlglot_version()} is "
                    f"installed: run `{REGENERATE}` to compile it for this one")
    return data["entries"]


def test_the_shipped_seed_is_what_the_sql_compiles_to_now():
    entries = shipped()
    # compiled afresh even when this process's memory cache already holds the statements
    table_path = sqlcompile.default_table_path(settings.DATASET_NAME)
    cached_view_statements(viewcache.SqlCache(None), "duckdb", table_path)
    fresh = generate_seed()
    # 11 views and the 9 checks that do not read check_context, per dialect
    context_free = [p for p in sqlcompile.CHECKS if not viewcache.uses_check_context(sqlcompile.load_sql_file(p).text)]
    assert len(fresh) == len(SEED_DIALECTS) * (len(sqlcompile.MODELS) + len(context_free))
    assert entries == fresh, f"analyst/compiled_sql.json is stale: run `{REGENERATE}` and commit it"


def test_a_first_run_compiles_only_what_depends_on_the_run(tmp_path):
    """Nothing in this process's memory, a new pipeline (dlt starts its working dir empty): after
    the load, building every view and running every check compiles no statement that would be
    kept, so the run writes no cache file of its own; the views and checks are those of the SQL."""
    shipped()  # skips where the seed is for another sqlglot
    viewcache.clear_memory_cache()
    with Simulator(SimulatorConfig(seed=31, campaigns=40)).start() as sim:
        pipeline = make_pipeline(pipelines_dir=str(tmp_path / "pipelines"), duckdb_path=str(tmp_path / "bsg.duckdb"))
        report = RunReport()
        run(pipeline, report, base_url=sim.base_url, api_key=sim.api_key, retry_backoff_seconds=0.01,
            messages=True, recipient_hash_key=generate_key())
    assert report.models == sqlcompile.model_names()
    assert report.checks["ok"] and len(report.checks["results"]) == len(sqlcompile.CHECKS)
    assert report.rows.get("messages", 0) > 0  # the message views were built over loaded messages
    assert not (Path(pipeline.working_dir) / viewcache.CACHE_FILE_NAME).exists(), (
        f"a first run compiled statements the seed lacks: run `{REGENERATE}`")


@pytest.mark.postgres
def test_postgres_entries_are_keyed_as_a_postgres_client_keys_them(tmp_path):
    if not postgres_answers():
        _no_postgres("no PostgreSQL server answers")  # a failure where BSG_REQUIRE_POSTGRES=1
    pipeline = dlt.pipeline(pipeline_name="seed_keys", destination=dlt.destinations.postgres(POSTGRES_URL),
                            dataset_name=settings.DATASET_NAME, pipelines_dir=str(tmp_path))
    with pipeline.sql_client() as client:
        dialect = viewcache.client_dialect(client)
        table_path = viewcache.client_table_path(client)
    assert dialect in SEED_DIALECTS
    seed = shipped()
    for sql_file in sqlcompile.model_files():
        key = viewcache.compile_key("view", sql_file.name, sql_file.text, dialect, table_path)
        assert key in seed, sql_file.name
    context = CheckContext()
    values = (context.refresh_window_hours, context.campaigns_listed, context.campaigns_loaded,
              list(context.final_statuses))
    for sql_file in sqlcompile.check_files():
        key = viewcache.compile_key("check", sql_file.name, sql_file.text, dialect, table_path, (), values)
        assert (key in seed) != viewcache.uses_check_context(sql_file.text), sql_file.name
