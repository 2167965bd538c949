"""Scheduling recipes, tested as far as this machine allows: every command they run parses with
the real CLI, the workflow is valid YAML with secrets only from the repo's secrets, the systemd
units pass a pure-Python check everywhere and `systemd-analyze verify` where it exists, the cron
line is well-formed (every field in its range), and the Airflow DAG's tasks load, build the
views and fail on a failed check."""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
import yaml
from croniter import croniter

from bsg_campaigns import ChecksFailed, build_models_and_checks
from bsg_campaigns.analyst.sqlcompile import model_names
from bsg_campaigns.app.cli import _parser

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def cli_args(command: str):
    words = shlex.split(command.split(">")[0])
    index = next(i for i, w in enumerate(words) if w.endswith("bsg-campaigns"))
    return _parser().parse_args(words[index + 1:])


CRON_FIELDS = [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7)]


def cron_field_errors(field: str, name: str, low: int, high: int) -> List[str]:
    """crontab(5) numeric fields: `*`, `a`, `a-b`, each optionally `/step`, comma-separated."""
    errors = []
    for item in field.split(","):
        match = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", item)
        if match is None:
            errors.append(f"{name} {item!r} is not cron syntax")
            continue
        numbers = [int(n) for n in match.group(2, 3) if n is not None]
        if any(not low <= n <= high for n in numbers) or (len(numbers) == 2 and numbers[0] > numbers[1]):
            errors.append(f"{name} {item!r} outside {low}-{high}")
        if match.group(4) is not None and int(match.group(4)) < 1:
            errors.append(f"{name} step {item!r} below 1")
    return errors


def cron_line_errors(line: str) -> List[str]:
    fields = line.split(None, 5)
    if len(fields) < 6:
        return [f"{len(fields)} fields, a cron line needs 5 and a command"]
    errors = [e for field, (name, low, high) in zip(fields, CRON_FIELDS) for e in cron_field_errors(field, name, low, high)]
    if not errors and not croniter.is_valid(" ".join(fields[:5])):  # a second opinion (dlt depends on croniter)
        errors.append("croniter rejects the schedule")
    return errors


def test_cron_line_checker_rejects_what_cron_would():
    assert cron_line_errors("15 */6 * * * cd /opt && run") == []
    for bad in ("15 30 * * * run", "60 1 * * * run", "15 1 0 * * run", "15 1 * 13 * run", "15 5-2 * * * run",
                "15 */0 * * * run", "15 1 * * 8 run", "x 1 * * * run", "15 1 * * run"):
        assert cron_line_errors(bad), bad


def test_cron_line_is_valid_and_runs_a_real_command():
    lines = [l for l in (DEPLOY / "cron/bsg-campaigns.cron").read_text().splitlines()
             if l.strip() and not l.startswith("#") and "=" not in l.split()[0]]
    assert len(lines) == 1
    assert cron_line_errors(lines[0]) == []
    assert cli_args(lines[0].split(None, 5)[5].split("&&", 1)[1]).command == "run"


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


# What the units may say, per section (systemd.unit(5), .service(5), .exec(5), .timer(5)): the
# pure-Python check below catches a misspelt key the way `systemd-analyze verify` warns about it.
UNIT_KEYS = {"Unit": {"Description", "Documentation", "Wants", "Requires", "After", "Before", "OnFailure"},
             "Service": {"Type", "WorkingDirectory", "EnvironmentFile", "Environment", "ExecStart", "User", "Group",
                         "TimeoutStartSec", "Nice", "MemoryMax"},
             "Timer": {"OnCalendar", "RandomizedDelaySec", "Persistent", "AccuracySec", "Unit"},
             "Install": {"WantedBy"}}
# systemd.time(5) calendar events of the form the timer uses: `*-*-* H[/step]:MM:SS`.
CALENDAR = re.compile(r"\*-\*-\* (\d{1,2})(?:/(\d{1,2}))?:(\d{2}):(\d{2})")


def unit_errors(path: Path) -> List[str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(path.read_text())
    errors = [f"{path.name}: unknown section [{s}]" for s in parser.sections() if s not in UNIT_KEYS]
    errors += [f"{path.name}: unknown key {k!r} in [{s}]" for s in parser.sections() if s in UNIT_KEYS
               for k in parser[s] if k not in UNIT_KEYS[s]]
    if path.suffix == ".service":
        service = parser["Service"] if parser.has_section("Service") else {}
        if service.get("Type") != "oneshot" or not service.get("ExecStart", "").startswith("/"):
            errors.append(f"{path.name}: needs Type=oneshot and an absolute ExecStart")
    if path.suffix == ".timer":
        match = CALENDAR.fullmatch(parser.get("Timer", "OnCalendar", fallback=""))
        hour, step, minute, second = (int(g) if g else 1 for g in match.groups()) if match else (99, 0, 99, 99)
        if not (0 <= hour <= 23 and step >= 1 and 0 <= minute <= 59 and 0 <= second <= 59):
            errors.append(f"{path.name}: OnCalendar is not a valid `*-*-* H/step:MM:SS` event")
        if parser.get("Install", "WantedBy", fallback="") != "timers.target":
            errors.append(f"{path.name}: WantedBy=timers.target missing")
    return errors


def test_systemd_unit_checker_rejects_typos_and_bad_calendars(tmp_path):
    good = (DEPLOY / "systemd" / "bsg-campaigns.timer").read_text()
    for bad in (good.replace("OnCalendar=*-*-* 00/6:15:00", "OnCalendar=*-*-* 30/6:15:00"),
                good.replace("Persistent=", "Persistant="), good.replace("WantedBy=timers.target", "WantedBy=")):
        (tmp_path / "bad.timer").write_text(bad)
        assert unit_errors(tmp_path / "bad.timer"), bad


def test_systemd_units_check(tmp_path):
    """Always (no systemd needed): known sections and keys, a oneshot service running a real CLI
    command, a valid calendar event. `systemd-analyze verify` below adds systemd's own verdict
    where it is installed."""
    for name in ("bsg-campaigns.service", "bsg-campaigns.timer"):
        assert unit_errors(DEPLOY / "systemd" / name) == []
    exec_start = re.search(r"^ExecStart=(.*)$", (DEPLOY / "systemd/bsg-campaigns.service").read_text(), re.M).group(1)
    assert cli_args(exec_start).command == "run"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed "
                    "(Debian: apt-get install systemd); test_systemd_units_check covers the unit files without it")
def test_systemd_units_verify(tmp_path):
    """systemd's own check of both units. verify refuses an ExecStart that does not exist on this
    machine, so the copy points it at this checkout's installed `bsg-campaigns` (same arguments)."""
    installed = Path(sys.executable).with_name("bsg-campaigns")
    service = (DEPLOY / "systemd/bsg-campaigns.service").read_text()
    assert "ExecStart=/opt/bsg-campaigns/.venv/bin/bsg-campaigns " in service
    (tmp_path / "bsg-campaigns.service").write_text(
        service.replace("ExecStart=/opt/bsg-campaigns/.venv/bin/bsg-campaigns ", f"ExecStart={installed} "))
    shutil.copy(DEPLOY / "systemd/bsg-campaigns.timer", tmp_path / "bsg-campaigns.timer")
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "bsg-campaigns.service"),
                             str(tmp_path / "bsg-campaigns.timer")], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr  # warnings too (unknown keys)
    calendar = re.search(r"^OnCalendar=(.*)$", (tmp_path / "bsg-campaigns.timer").read_text(), re.M).group(1)
    shown = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "Normalized form: *-*-* 00/6:15:00" in shown.stdout, shown.stdout


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
    assert built["views"] == model_names()  # every view, in build order
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
