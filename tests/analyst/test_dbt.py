"""`sql/` as a dbt package, installed the way a dbt user installs it, over a simulator load: `dbt
build` (dbt-duckdb) passes, its tests (the checks of sql/checks) pass, and its `campaign_rates`
equals the connector's view row for row; the same with dbt-postgres on PostgreSQL. Skipped when dbt
(the `dbt` extra) is not installed.

The user's project names the package with `local:` in packages.yml (a user writes `git:` +
`subdirectory: "sql"`; the test has no network). As README "dbt" advises for DuckDB, dbt writes
its own file and attaches the connector's read-only (a run republishes that file, so views written
into it would not last), which exercises both vars: bsg_campaigns_database and _schema.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Dict, List, Tuple

import duckdb
import pytest
import yaml

from bsg_campaigns import settings
from bsg_campaigns.analyst import models, sqlcompile
from bsg_campaigns.analyst.models import run_checks
from bsg_campaigns.contract.privacy import generate_key
from bsg_campaigns.app.runner import make_pipeline

from .analyst_data import clean_dataset, load
from conftest import Harness

pytestmark = pytest.mark.skipif(importlib.util.find_spec("dbt.adapters.duckdb") is None,
                                reason="dbt-duckdb is not installed (pip install '.[dbt]')")

DBT = Path(sys.executable).with_name("dbt")
DATASET = "bsg_sms"  # not the default: the var bsg_campaigns_schema must point the sources at it
SOURCE_ALIAS = "bsg"  # the connector's file as attached by dbt
TARGET_SCHEMA = "analytics"
CHECK_NAMES = [Path(p).stem for p in sqlcompile.CHECKS]


def dbt(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_VERSION_CHECK": "false",
           "DO_NOT_TRACK": "1", "DBT_PROFILES_DIR": str(project)}
    return subprocess.run([str(DBT), *args, "--project-dir", str(project)], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)


def dbt_build(root: Path, output: Dict[str, Any], commands: Tuple[str, ...] = ("deps", "build"),
              **package_vars: Any) -> Dict[str, Dict[str, Any]]:
    """A user's dbt project in `root` that installs sql/ as a package and builds it with the profile
    output `output`: `dbt deps` then `dbt build` (or `commands`, the last of which may fail), the
    others asserted to succeed; the result of each model and test by name, of the last command
    with the others' before it."""
    project = root / "analytics_project"
    project.mkdir()
    (project / "dbt_project.yml").write_text(yaml.safe_dump({
        "name": "analytics_project", "version": "1.0.0", "config-version": 2, "profile": "bsg_campaigns",
        "vars": package_vars}))
    (project / "packages.yml").write_text(yaml.safe_dump({"packages": [{"local": str(sqlcompile.SQL_DIR)}]}))
    (project / "profiles.yml").write_text(yaml.safe_dump(
        {"bsg_campaigns": {"target": "dev", "outputs": {"dev": {"threads": 1, **output}}}}))
    results: Dict[str, Dict[str, Any]] = {}
    for command in commands:
        done = dbt(project, command)
        assert done.returncode == 0 or command == commands[-1] != "build", (
            f"dbt {command}: exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
        if command != "deps":
            for result in json.loads((project / "target" / "run_results.json").read_text())["results"]:
                kind, _, name = result["unique_id"].split(".")[:3]
                results.setdefault(kind, {})[name] = result
    assert {name: r["status"] for name, r in results["model"].items()} == {
        Path(p).stem: "success" for p in sqlcompile.MODELS}
    return results


def check_statuses(results: Dict[str, Dict[str, Any]]) -> Dict[str, str]:
    """dbt's outcome of each check of sql/checks (run as a singular test)."""
    return {name: r["status"] for name, r in results["test"].items() if name in CHECK_NAMES}


def rows(cursor: Any) -> Tuple[List[str], List[tuple]]:
    return [d[0] for d in cursor.description], [tuple(row) for row in cursor.fetchall()]


def duckdb_output(root: Path, connector_file: Path) -> Dict[str, Any]:
    """dbt's own DuckDB file, with the connector's attached read-only as SOURCE_ALIAS."""
    return {"type": "duckdb", "path": str(root / "dbt.duckdb"), "schema": TARGET_SCHEMA,
            "attach": [{"path": str(connector_file), "alias": SOURCE_ALIAS, "read_only": True}]}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Path:
    """A simulator load of the connector (its views built, its checks passed) into a DuckDB file,
    dataset DATASET."""
    from bsg_campaigns.simulator import Simulator, SimulatorConfig

    root = tmp_path_factory.mktemp("dbt_load")
    simulator = Simulator(SimulatorConfig(seed=11, campaigns=120)).start()
    try:
        harness = Harness(root, simulator)
        harness.pipeline = make_pipeline(pipelines_dir=str(root / "pipelines"), duckdb_path=str(harness.db_path),
                                         pipeline_name="bsg_dbt", dataset_name=DATASET)
        report = harness.run(build_models=True, messages=True, recipient_hash_key=generate_key())
    finally:
        simulator.stop()
    assert report.models == [Path(p).stem for p in sqlcompile.MODELS]
    assert report.checks["ok"] and not report.checks["warnings"], report.checks["text"]
    assert report.messages["rows"] > 0  # the message models are built over real rows
    return harness.db_path


def test_dbt_duckdb_build_of_the_package_equals_the_connector_views(loaded, tmp_path):
    statuses = dbt_build(tmp_path, duckdb_output(tmp_path, loaded), bsg_campaigns_database=SOURCE_ALIAS,
                         bsg_campaigns_schema=DATASET)
    # every check ran as a dbt test, and passed, as it did in the connector's run
    assert check_statuses(statuses) == {name: "pass" for name in CHECK_NAMES}

    with duckdb.connect(str(tmp_path / "dbt.duckdb"), read_only=True) as con:
        con.execute(f"attach '{loaded}' as {SOURCE_ALIAS} (read_only)")
        columns, connector_rows = rows(con.execute(
            f"select * from {SOURCE_ALIAS}.{DATASET}.campaign_rates order by campaign_id"))
        dbt_columns, dbt_rows = rows(con.execute(f"select * from {TARGET_SCHEMA}.campaign_rates order by campaign_id"))
    assert dbt_columns == columns
    assert len(connector_rows) == 120 and any(row[columns.index("read_rate")] for row in connector_rows)
    assert dbt_rows == connector_rows


def test_dbt_tests_find_what_the_checks_find(bad_duckdb, tmp_path):
    """On data that breaks every check (analyst_data.bad_dataset), each dbt test fails or warns as
    its check does, on as many offending rows. (`dbt test` after `dbt run`: `dbt build` would skip
    the models downstream of a failing test.)"""
    report = run_checks(bad_duckdb)
    connector_file = tmp_path / "bad.duckdb"  # a copy: this process may still hold the pipeline's file
    shutil.copy(bad_duckdb.destination_client().config.credentials.database, connector_file)
    results = dbt_build(tmp_path, duckdb_output(tmp_path, connector_file), ("deps", "run", "test"),
                        bsg_campaigns_database=SOURCE_ALIAS, bsg_campaigns_schema=bad_duckdb.dataset_name)
    expected = {r.name: ({"ok": "pass", "WARN": "warn", "FAIL": "fail"}[r.outcome], r.offending_rows)
                for r in report.results}
    assert {name: (r["status"], r["failures"]) for name, r in results["test"].items() if name in CHECK_NAMES} == expected
    # empty_run reads the run's numbers, which dbt has not: it passes there
    assert {name for name, (status, _) in expected.items() if status == "pass"} == {"empty_run"}


@pytest.fixture(scope="module")
def clean_postgres(postgres_factory) -> Any:
    """The crafted data of analyst_data.py with an empty `rejected_records`, as a connector load
    always has one (the shared fixture leaves it out to test views over missing tables; the
    dbt sources test its columns)."""
    pipeline = postgres_factory("dbt", session_timezone="Asia/Tokyo")
    load(pipeline, dataclasses.replace(clean_dataset(), rejected=[]))
    models.build_models(pipeline)
    return pipeline


@pytest.mark.postgres
@pytest.mark.skipif(importlib.util.find_spec("dbt.adapters.postgres") is None, reason="dbt-postgres is not installed")
def test_dbt_postgres_build_of_the_package_equals_the_connector_views(clean_postgres, tmp_path):
    """The crafted data of analyst_data.py (every status, new ones, fallbacks, several currencies)
    on PostgreSQL, where dbt runs the templates' SQL untranspiled."""
    credentials = clean_postgres.destination_client().config.credentials
    schema = f"dbt_{uuid.uuid4().hex[:10]}"
    report = run_checks(clean_postgres)
    try:
        statuses = dbt_build(tmp_path, {"type": "postgres", "host": credentials.host, "port": credentials.port,
                                        "user": credentials.username, "password": credentials.password or "unused",
                                        "dbname": credentials.database, "schema": schema},
                             bsg_campaigns_schema=clean_postgres.dataset_name)
        # the same checks pass and warn under dbt as in the connector
        assert check_statuses(statuses) == {r.name: {"ok": "pass", "WARN": "warn"}[r.outcome] for r in report.results}
        with clean_postgres.sql_client() as client:
            with client.execute_query(f"select * from {clean_postgres.dataset_name}.campaign_rates order by campaign_id") as cursor:
                columns, connector_rows = rows(cursor)
            with client.execute_query(f"select * from {schema}.campaign_rates order by campaign_id") as cursor:
                dbt_columns, dbt_rows = rows(cursor)
    finally:
        with clean_postgres.sql_client() as client:
            client.execute_sql(f"drop schema if exists {schema} cascade")
    assert dbt_columns == columns
    assert len(connector_rows) > 5 and dbt_rows == connector_rows


def test_dbt_defaults_equal_the_connectors():
    """What dbt's stand-ins read (checks/done_but_pending under dbt) is what a run uses by default."""
    project = yaml.safe_load((sqlcompile.SQL_DIR / settings.DBT_PROJECT_FILE).read_text())
    assert project["vars"]["bsg_campaigns_refresh_window_hours"] == settings.DEFAULT_REFRESH_WINDOW_HOURS
    assert tuple(project["vars"]["bsg_campaigns_final_statuses"]) == settings.FINAL_STATUSES
    assert project["vars"]["bsg_campaigns_schema"] == settings.DATASET_NAME
    assert project["name"] == project["profile"] == "bsg_campaigns"
    assert project["model-paths"] == ["staging", "marts"] and project["test-paths"] == ["checks"]
    sources: List[dict] = yaml.safe_load((sqlcompile.SQL_DIR / "staging/_bsg_campaigns__sources.yml").read_text())["sources"]
    assert [s["name"] for s in sources] == ["bsg_campaigns"]
    assert sorted(t["name"] for t in sources[0]["tables"]) == sorted(sqlcompile.SOURCE_TABLES)
