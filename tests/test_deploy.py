"""Scheduling recipes, tested as far as this machine allows: every command they run parses with
the real CLI, the workflow is valid YAML with secrets only from the repo's secrets, the systemd
units pass systemd-analyze where it exists, the cron line is well-formed, and the Airflow DAG's
tasks load, build the views and fail on a failed check."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bsg_campaigns import ChecksFailed, build_models_and_checks
from bsg_campaigns.cli import _parser

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def cli_args(command: str):
    words = shlex.split(command.split(">")[0])
    index = next(i for i, w in enumerate(words) if w.endswith("bsg-campaigns"))
    return _parser().parse_args(words[index + 1:])


def test_cron_line_is_valid_and_runs_a_real_command():
    lines = [l for l in (DEPLOY / "cron/bsg-campaigns.cron").read_text().splitlines()
             if l.strip() and not l.startswith("#") and "=" not in l.split()[0]]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    for field, (low, high) in zip(fields[:5], [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]):
        for part in re.split(r"[,/]", field.replace("*", str(low))):
            for number in part.split("-"):
                assert low <= int(number) <= max(high, 59)
    assert cli_args(fields[5].split("&&", 1)[1]).command == "run"


def test_github_workflow_uses_repo_secrets_and_real_commands():
    workflow = yaml.safe_load((DEPLOY / "github-actions/bsg-campaigns.yml").read_text())
    job = workflow["jobs"]["load"]
    assert all(v.startswith("${{ secrets.") or "runner.temp" in v
               for k, v in job["env"].items())
    runs = [step["run"] for step in job["steps"] if "run" in step and "bsg-campaigns" in step["run"]]
    assert runs and all(cli_args(r).command == "run" for r in runs)
    args = cli_args(runs[0])
    assert args.destination == "postgres" and args.strict and args.json
    assert workflow["concurrency"]["cancel-in-progress"] is False  # never two loads at once


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_units_verify(tmp_path):
    for name in ("bsg-campaigns.service", "bsg-campaigns.timer"):
        shutil.copy(DEPLOY / "systemd" / name, tmp_path / name)
    exec_start = re.search(r"^ExecStart=(.*)$", (tmp_path / "bsg-campaigns.service").read_text(), re.M).group(1)
    assert cli_args(exec_start).command == "run"
    calendar = re.search(r"^OnCalendar=(.*)$", (tmp_path / "bsg-campaigns.timer").read_text(), re.M).group(1)
    result = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def airflow_dag_module():
    spec = importlib.util.spec_from_file_location("bsg_campaigns_dag", DEPLOY / "airflow/bsg_campaigns_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_airflow_dag_tasks_load_then_build_models_and_fail_on_a_failed_check(tmp_path, sim, monkeypatch):
    # Airflow is not in the dev environment (146 packages): the DAG file's task callables run
    # here exactly as its two Airflow tasks run them, configured through the environment.
    dag_file = airflow_dag_module()
    assert dag_file.dag is None  # imported outside Airflow: no DAG object, callables only
    for name, value in {"BSG_DESTINATION": "duckdb", "BSG_PIPELINES_DIR": str(tmp_path / "pipelines"),
                        "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "bsg.duckdb"),
                        "SOURCES__BSG__BASE_URL": sim.base_url, "SOURCES__BSG__API_KEY": sim.api_key}.items():
        monkeypatch.setenv(name, value)
    sim.configure(corrupt_rate=0.05)  # a few payloads are rejected: listed, but not loaded
    loaded = dag_file.load()
    assert loaded["dataset"] == "bsg_campaigns" and len(loaded["load_ids"]) == 1
    built = dag_file.models_and_checks()
    assert built["views"][-3:] == ["campaign_rates", "daily_rates", "statistics_growth"]
    pipeline = dag_file.bsg_pipeline()
    listed = set(sim.visible_campaign_ids("rcs")) | set(sim.visible_campaign_ids("sms"))
    with pipeline.sql_client() as client:
        rejected = {row[0] for row in client.execute_sql("select campaign_id from rejected_records")}
        assert {row[0] for row in client.execute_sql("select campaign_id from campaign_rates")} == listed - rejected
    assert rejected
    # the checks compare the run's own counts, read from the state it committed
    context = build_models_and_checks(pipeline).checks.context
    assert (context.campaigns_listed, context.campaigns_loaded) == (len(listed), len(listed - rejected))
    with pipeline.sql_client() as client:
        client.execute_sql("update campaign_statistics set message_count = -1 where campaign_id = "
                           f"{min(listed - rejected)} and status = 'delivered'")
    with pytest.raises(ChecksFailed, match="negative_counts"):
        dag_file.models_and_checks()


@pytest.mark.skipif(not os.environ.get("BSG_AIRFLOW_PYTHON"),
                    reason="set BSG_AIRFLOW_PYTHON to a python with apache-airflow and this package installed")
def test_airflow_dag_runs_in_airflow(tmp_path, sim):
    # Opt-in (Airflow 3.3 is 146 packages): `airflow dags test` runs the DAG file from a DAGs folder.
    python = os.environ["BSG_AIRFLOW_PYTHON"]
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    shutil.copy(DEPLOY / "airflow/bsg_campaigns_dag.py", home / "dags")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "AIRFLOW"))}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "BSG_DESTINATION": "duckdb",
                "BSG_PIPELINES_DIR": str(tmp_path / "pipelines"),
                "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "bsg.duckdb"),
                "SOURCES__BSG__BASE_URL": sim.base_url, "SOURCES__BSG__API_KEY": sim.api_key})
    airflow = [python, "-m", "airflow"]
    subprocess.run(airflow + ["db", "migrate"], env=env, cwd=tmp_path, check=True, capture_output=True)
    done = subprocess.run(airflow + ["dags", "test", "bsg_campaigns_load", "2026-12-01"], env=env, cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "DagRun Finished: dag_id=bsg_campaigns_load" in done.stdout + done.stderr
    assert "state=success" in done.stdout + done.stderr
    import duckdb

    with duckdb.connect(str(tmp_path / "bsg.duckdb"), read_only=True) as db:
        loaded = {row[0] for row in db.execute("select campaign_id from bsg_campaigns.campaign_rates").fetchall()}
    assert loaded == set(sim.visible_campaign_ids("rcs")) | set(sim.visible_campaign_ids("sms"))
