"""`sql/` as a dbt package, installed the way a dbt user installs it, over a simulator load: `dbt
build` (dbt-duckdb) passes, its tests (the checks of sql/checks) pass, and its `campaign_rates`
equals the connector's view row for row. Skipped when dbt (the `dbt` extra) is not installed.

The user's project names the package with `local:` in packages.yml (a user writes `git:` +
`subdirectory: "sql"`; the test has no network). As README "dbt" advises for DuckDB, dbt writes
its own file and attaches the connector's read-only (a run republishes that file, so views written
into it would not last), which exercises both vars: bsg_campaigns_database and _schema.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, List

import duckdb
import pytest
import yaml

from bsg_campaigns import settings
from bsg_campaigns.analyst import sqlcompile
from bsg_campaigns.app.runner import make_pipeline

from conftest import Harness

pytestmark = pytest.mark.skipif(importlib.util.find_spec("dbt.adapters.duckdb") is None,
                                reason="dbt-duckdb is not installed (pip install '.[dbt]')")

DBT = Path(sys.executable).with_name("dbt")
DATASET = "bsg_sms"  # not the default: the var bsg_campaigns_schema must point the sources at it
SOURCE_ALIAS = "bsg"  # the connector's file as attached by dbt
TARGET_SCHEMA = "analytics"


def dbt(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_VERSION_CHECK": "false",
           "DO_NOT_TRACK": "1", "DBT_PROFILES_DIR": str(project)}
    return subprocess.run([str(DBT), *args, "--project-dir", str(project)], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)


def user_project(root: Path, connector_file: Path, **extra_vars: Any) -> Path:
    project = root / "analytics_project"
    project.mkdir()
    (project / "dbt_project.yml").write_text(yaml.safe_dump({
        "name": "analytics_project", "version": "1.0.0", "config-version": 2, "profile": "bsg_campaigns",
        "vars": {"bsg_campaigns_database": SOURCE_ALIAS, "bsg_campaigns_schema": DATASET, **extra_vars}}))
    (project / "packages.yml").write_text(yaml.safe_dump({"packages": [{"local": str(sqlcompile.SQL_DIR)}]}))
    (project / "profiles.yml").write_text(yaml.safe_dump({"bsg_campaigns": {"target": "dev", "outputs": {"dev": {
        "type": "duckdb", "path": str(root / "dbt.duckdb"), "schema": TARGET_SCHEMA, "threads": 1,
        "attach": [{"path": str(connector_file), "alias": SOURCE_ALIAS, "read_only": True}]}}}}))
    return project


def explain(done: subprocess.CompletedProcess) -> str:
    return f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"


def campaign_rates(root: Path, connector_file: Path) -> tuple:
    with duckdb.connect(str(root / "dbt.duckdb"), read_only=True) as con:
        con.execute(f"attach '{connector_file}' as {SOURCE_ALIAS} (read_only)")
        ours = con.execute(f"select * from {SOURCE_ALIAS}.{DATASET}.campaign_rates order by campaign_id")
        columns = [d[0] for d in ours.description]
        connector_rows = ours.fetchall()
        dbt_rows = con.execute(f"select {', '.join(columns)} from {TARGET_SCHEMA}.campaign_rates"
                               " order by campaign_id").fetchall()
        dbt_columns = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name ="
            " 'campaign_rates' order by ordinal_position", [TARGET_SCHEMA]).fetchall()]
    return columns, connector_rows, dbt_columns, dbt_rows


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
        report = harness.run(build_models=True)
    finally:
        simulator.stop()
    assert report.models == [Path(p).stem for p in sqlcompile.MODELS]
    assert report.checks["ok"], report.checks["text"]
    return harness.db_path


def test_dbt_build_of_the_package_equals_the_connector_views(loaded, tmp_path):
    project = user_project(tmp_path, loaded)
    deps = dbt(project, "deps")
    assert deps.returncode == 0, explain(deps)
    build = dbt(project, "build")
    assert build.returncode == 0, explain(build)

    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    by_kind: dict = {}
    for result in results:
        kind = result["unique_id"].split(".")[0]
        by_kind.setdefault(kind, {})[result["unique_id"].split(".")[2]] = result["status"]
    assert by_kind["model"] == {Path(p).stem: "success" for p in sqlcompile.MODELS}
    # every check of sql/checks ran as a dbt test, and passed (the simulator's data is clean)
    assert {name: status for name, status in by_kind["test"].items()
            if name in {Path(p).stem for p in sqlcompile.CHECKS}} == {Path(p).stem: "pass" for p in sqlcompile.CHECKS}

    columns, connector_rows, dbt_columns, dbt_rows = campaign_rates(tmp_path, loaded)
    assert dbt_columns == columns
    assert len(connector_rows) == 120 and any(row[columns.index("read_rate")] for row in connector_rows)
    assert dbt_rows == connector_rows


def test_dbt_defaults_equal_the_connectors():
    """What dbt's stand-ins read (checks/done_but_pending under dbt) is what a run uses by default."""
    project = yaml.safe_load((sqlcompile.SQL_DIR / settings.DBT_PROJECT_FILE).read_text())
    assert project["vars"]["bsg_campaigns_refresh_window_hours"] == settings.DEFAULT_REFRESH_WINDOW_HOURS
    assert project["vars"]["bsg_campaigns_schema"] == settings.DATASET_NAME
    assert project["name"] == project["profile"] == "bsg_campaigns"
    assert project["model-paths"] == ["staging", "marts"] and project["test-paths"] == ["checks"]
    sources: List[dict] = yaml.safe_load((sqlcompile.SQL_DIR / "staging/_bsg_campaigns__sources.yml").read_text())["sources"]
    assert [s["name"] for s in sources] == ["bsg_campaigns"]
    assert sorted(t["name"] for t in sources[0]["tables"]) == sorted(sqlcompile.SOURCE_TABLES)
