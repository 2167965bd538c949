"""The connector inside the user's own dlt pipeline: a script a user would write, run as a
subprocess from its own folder, loads the same simulator into DuckDB and PostgreSQL as the
runner (`bsg-campaigns run`) does, value for value; the public calls (exclusive_run,
build_models_and_checks) work on that pipeline; no dlt warning is printed; the project's own names
work on DuckDB and a colliding choice is refused before anything is extracted."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import dlt
import pytest

from bsg_campaigns import bsg_source, build_models_and_checks, exclusive_run, run
from bsg_campaigns.exceptions import RunFailed
from bsg_campaigns.settings import DATASET_NAME, PIPELINE_NAME
from bsg_campaigns.simulator import Simulator, SimulatorConfig

from conftest import TABLE_ORDER, Harness
from test_warehouses import PG_SKIP, PG_URL, PostgresHarness, normalized

USER_SCRIPT = '''
import json, logging, sys

import dlt
from bsg_campaigns import bsg_source, build_models_and_checks, exclusive_run
from bsg_campaigns.settings import DATASET_NAME, PIPELINE_NAME

dlt_warnings = []


class KeepWarnings(logging.Handler):
    def emit(self, record):
        dlt_warnings.append(record.getMessage())


logging.getLogger("dlt").addHandler(KeepWarnings(logging.WARNING))  # dlt's loggers do not propagate

if sys.argv[1] == "duckdb":  # the project's own names ("bsg", "bsg_campaigns"): writes ./bsg.duckdb
    pipeline = dlt.pipeline(PIPELINE_NAME, destination="duckdb", dataset_name=DATASET_NAME)
else:
    pipeline = dlt.pipeline(PIPELINE_NAME, destination="postgres", dataset_name=sys.argv[2])

with exclusive_run(pipeline):
    pipeline.run(bsg_source())
result = build_models_and_checks(pipeline)
run_warnings = list(dlt_warnings)  # reading jsonb back through dataset() on PostgreSQL warns, below

dataset = pipeline.dataset()
with pipeline.sql_client() as client:  # the views are not in dlt's schema, so not in dataset()
    rates = client.execute_sql("select * from campaign_rates")
out = {"views": result.views, "failed_checks": [c.name for c in result.checks.failures],
       "campaigns": len(dataset["campaigns"].df()), "rates": len(rates), "warnings": run_warnings}
try:
    out["arrow_rows"] = dataset["campaigns"].arrow().num_rows
except AttributeError as exc:  # dlt 1.31 with duckdb 2.x: no fetch_arrow_table
    out["arrow_error"] = str(exc)
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def simulator():
    # "" as a sender: PostgreSQL's CSV COPY would load it as NULL; extra fields fill the JSON column.
    with Simulator(SimulatorConfig(seed=23, campaigns=40, senders=("", "ShopMart", "Кафе Ромашка"),
                                   extra_fields=True)).start() as sim:
        yield sim


def run_user_script(folder: Path, sim: Simulator, *args: str, env_extra: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "load_bsg.py").write_text(textwrap.dedent(USER_SCRIPT))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "DLT_"))}
    env.update({"SOURCES__BSG__BASE_URL": sim.base_url, "SOURCES__BSG__API_KEY": sim.api_key,
                "DESTINATION__POSTGRES__CREDENTIALS": PG_URL, "DLT_DATA_DIR": str(folder / "dlt_data"),
                "RUNTIME__DLTHUB_TELEMETRY": "false", **(env_extra or {})})
    done = subprocess.run([sys.executable, "load_bsg.py", *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def dlt_warnings() -> Iterator[List[str]]:
    """WARNING records of dlt's logger (it does not propagate, so caplog cannot see them)."""
    kept: List[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: kept.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("dlt").addHandler(handler)
    try:
        yield kept
    finally:
        logging.getLogger("dlt").removeHandler(handler)


def run_public(harness: Harness) -> None:
    """The public full run (bsg_campaigns.run, what the CLI runs), printing no dlt warning."""
    with dlt_warnings() as warned:
        run(harness.pipeline, **harness.source_args())
    assert warned == []


def snapshot(query) -> Dict[str, List[tuple]]:
    return {name: query(f"select * from {name} order by {order}") for name, order in TABLE_ORDER.items()
            if name != "rejected_records"} | {"campaign_rates": query("select * from campaign_rates order by 1")}


def assert_user_run_ok(out: Dict[str, Any]) -> None:
    assert out["warnings"] == [], "\n".join(out["warnings"])
    assert out["failed_checks"] == []
    assert {"stg_campaigns", "campaign_rates", "daily_rates"} <= set(out["views"])
    assert out["campaigns"] == out["rates"] > 0


def test_user_pipeline_on_duckdb_loads_what_the_runner_loads(tmp_path, simulator):
    out = run_user_script(tmp_path / "user", simulator, "duckdb")
    assert_user_run_ok(out)
    import duckdb

    if duckdb.__version__.startswith("1."):
        assert out["arrow_rows"] == out["campaigns"]
    else:
        assert "fetch_arrow_table" in out["arrow_error"], out  # dlt 1.31 needs duckdb 1.x for .arrow()

    runner = Harness(tmp_path / "cli", simulator, "cli")
    run_public(runner)
    with duckdb.connect(str(tmp_path / "user" / f"{PIPELINE_NAME}.duckdb"), read_only=True) as user_db:
        user_db.execute(f"use {PIPELINE_NAME}.{DATASET_NAME}")
        embedded = snapshot(lambda sql: [tuple(r) for r in user_db.execute(sql).fetchall()])
    assert embedded == snapshot(runner.query)
    assert ("",) in runner.query("select distinct sender from campaigns")


# The message tables as loaded, less the moment of reading (the two runs read at different times).
MESSAGE_QUERIES = {
    "messages": "select * exclude (fetched_at) from messages order by message_id",
    "message_fallbacks": "select * from message_fallbacks order by message_id, fallback_message_id",
    "message_reads": "select * exclude (read_at) from message_reads order by campaign_id",
}


def test_user_pipeline_reads_messages_with_the_key_it_generated(tmp_path, simulator):
    """messages = true in the user's own pipeline: the key is generated into the user's
    ./.dlt/secrets.toml on first use, no dlt warning is printed, and the message tables equal
    what the runner loads with that key."""
    import tomllib

    import duckdb

    out = run_user_script(tmp_path / "user", simulator, "duckdb", env_extra={"SOURCES__BSG__MESSAGES": "true"})
    assert_user_run_ok(out)
    secrets = tomllib.loads((tmp_path / "user" / ".dlt" / "secrets.toml").read_text())
    key = secrets["sources"]["bsg"]["recipient_hash_key"]
    runner = Harness(tmp_path / "cli", simulator, "cli")
    with dlt_warnings() as warned:
        run(runner.pipeline, **runner.source_args(messages=True, recipient_hash_key=key))
    assert warned == []
    with duckdb.connect(str(tmp_path / "user" / f"{PIPELINE_NAME}.duckdb"), read_only=True) as user_db:
        user_db.execute(f"use {PIPELINE_NAME}.{DATASET_NAME}")
        embedded = {name: [tuple(r) for r in user_db.execute(sql).fetchall()] for name, sql in MESSAGE_QUERIES.items()}
    expected = {name: runner.query(sql) for name, sql in MESSAGE_QUERIES.items()}
    assert embedded == expected and all(expected.values())


@pytest.mark.skipif(bool(PG_SKIP), reason=PG_SKIP or "postgres available")
def test_user_pipeline_on_postgres_loads_what_the_runner_loads(tmp_path, simulator):
    dataset = f"bsg_user_{uuid.uuid4().hex[:10]}"
    runner = PostgresHarness(tmp_path, simulator, "cli")
    try:
        out = run_user_script(tmp_path / "user", simulator, "postgres", dataset)
        assert_user_run_ok(out)
        run_public(runner)
        embedded = snapshot(lambda sql: runner.query(sql.replace(" from ", f" from {dataset}.", 1)))
        assert normalized(embedded) == normalized(snapshot(runner.query))
        senders = runner.query(f"select count(*) filter (where sender = ''), count(*) filter (where sender is null) "
                               f"from {dataset}.campaigns")
        assert senders[0][0] > 0 and senders[0][1] == 0  # "" stays "", never NULL
    finally:
        runner.drop()
        with runner.pipeline.sql_client() as client:
            for schema in (dataset, f"{dataset}_staging"):
                client.execute_sql(f"drop schema if exists {schema} cascade")


def test_a_catalog_named_like_the_dataset_is_refused_before_extracting(tmp_path, simulator):
    # dlt.pipeline("bsg_campaigns", destination="duckdb", dataset_name="bsg_campaigns") writes
    # bsg_campaigns.duckdb: DuckDB would reject every table name of the load as ambiguous.
    pipeline = dlt.pipeline("bsg_campaigns", destination=dlt.destinations.duckdb(str(tmp_path / "bsg_campaigns.duckdb")),
                            dataset_name="bsg_campaigns", pipelines_dir=str(tmp_path / "pipelines"))
    simulator.reset_stats()
    with pytest.raises(Exception) as failed:
        pipeline.run(bsg_source(base_url=simulator.base_url, api_key=simulator.api_key))
    message = str(failed.value)
    assert "catalog 'bsg_campaigns', the name of the dataset 'bsg_campaigns'" in message
    assert "DESTINATION__DUCKDB__CREDENTIALS" in message
    assert not pipeline.has_pending_data and simulator.stats()["detail"] == 0


def test_the_cli_answers_a_colliding_dataset_name_with_exit_2(tmp_path, simulator):
    from test_cli import bsg

    done = bsg(["run", "--dataset", "cli", "--no-models"], tmp_path, simulator)  # writes cli.duckdb
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "catalog 'cli', the name of the dataset 'cli'" in done.stderr and "--dataset" in done.stderr


def test_exclusive_run_loads_an_interrupted_run_first_and_then_the_new_data(tmp_path, sim):
    pipeline = dlt.pipeline("bsg_interrupted", destination=dlt.destinations.duckdb(str(tmp_path / "bsg.duckdb")),
                            dataset_name="bsg_campaigns", pipelines_dir=str(tmp_path / "pipelines"))
    source_args = {"base_url": sim.base_url, "api_key": sim.api_key}
    pipeline.extract(bsg_source(**source_args))
    pipeline.normalize()  # killed before the load: the package is pending
    assert pipeline.has_pending_data
    sim.advance(hours=30)
    with exclusive_run(pipeline):
        with pytest.raises(RunFailed, match="Another run of pipeline 'bsg_interrupted' is in progress"):
            with exclusive_run(pipeline):
                pass
        pipeline.run(bsg_source(**source_args))
    listed = set(sim.visible_campaign_ids("rcs")) | set(sim.visible_campaign_ids("sms"))
    with pipeline.sql_client() as client:
        fetch_times = client.execute_sql("select count(distinct fetched_at) from campaign_statistics_history")
        campaigns = client.execute_sql("select campaign_id from campaigns")
    # dlt's run() alone loads only the pending package and ignores the new data: 1 fetch time.
    assert fetch_times == [(2,)]
    assert {row[0] for row in campaigns} == listed
    result = build_models_and_checks(pipeline)
    assert result.checks.ok and "campaign_rates" in result.views
