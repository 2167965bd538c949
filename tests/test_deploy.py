"""Scheduling recipes, tested as far as this machine allows: every command they run parses with
the real CLI, the workflow is valid YAML with secrets only from the repo's secrets, the systemd
units pass systemd-analyze where it exists, the cron line is well-formed, and the Airflow DAG
only uses dlt's integration API as it exists in the installed dlt."""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

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


def test_airflow_dag_matches_dlt_integration_api():
    # dlt's helper imports Airflow itself, which is not installed here: read its signatures.
    import dlt.helpers

    helper = ast.parse((Path(dlt.helpers.__file__).parent / "airflow_helper.py").read_text())
    group = next(n for n in ast.walk(helper) if isinstance(n, ast.ClassDef) and n.name == "PipelineTasksGroup")
    methods = {f.name: {a.arg for a in f.args.args + f.args.kwonlyargs}
               for f in group.body if isinstance(f, ast.FunctionDef)}
    tree = ast.parse((DEPLOY / "airflow/bsg_campaigns_dag.py").read_text())
    calls = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            calls[name] = {kw.arg for kw in node.keywords}
    assert calls["PipelineTasksGroup"] <= methods["__init__"]
    assert calls["add_run"] <= methods["add_run"]
