"""The `bsg-campaigns` command as a user runs it: a subprocess configured only through dlt's
environment variables, talking to the simulator over loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from bsg_campaigns.simulator import Simulator, SimulatorConfig


@pytest.fixture(scope="module")
def cli_sim():
    with Simulator(SimulatorConfig(seed=21, campaigns=80)).start() as simulator:
        yield simulator


def bsg(args, tmp_path: Path, sim: Simulator, **env_overrides):
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    env.update({
        "SOURCES__BSG__BASE_URL": sim.base_url,
        "SOURCES__BSG__API_KEY": sim.api_key,
        "SOURCES__BSG__RETRY_BACKOFF_SECONDS": "0.01",
        "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "cli.duckdb"),
        "DLT_DATA_DIR": str(tmp_path / "dlt_data"),
    })
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run([sys.executable, "-m", "bsg_campaigns.app.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)


def test_run_with_env_config_then_status(tmp_path, cli_sim):
    result = bsg(["run", "--json", "--no-models"], tmp_path, cli_sim)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "ok" and summary["new"] == summary["fetched"] > 50
    assert summary["http"]["logins"] == 1
    assert (tmp_path / "cli.duckdb").exists()  # DESTINATION__DUCKDB__CREDENTIALS was honoured
    assert list((tmp_path / "dlt_data").rglob("last_run.json"))  # DLT_DATA_DIR holds the pipeline state

    status = bsg(["status", "--json"], tmp_path, cli_sim)
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert set(info["cursors"]) == {"rcs", "sms"}
    assert info["open_campaigns"] == summary["still_open"] == len(info["open"])
    assert info["last_run"]["new"] == summary["new"]

    again = bsg(["run", "--no-models"], tmp_path, cli_sim)
    assert again.returncode == 0 and "refreshed" in again.stdout and "Traceback" not in again.stderr


def test_wrong_api_key_exit_2_one_paragraph(tmp_path, cli_sim):
    result = bsg(["run"], tmp_path, cli_sim, SOURCES__BSG__API_KEY="live_not_a_real_key")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "live_not_a_real_key" not in result.stderr + result.stdout
    assert "api_key" in result.stderr and "SOURCES__BSG__API_KEY" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_api_key_exit_2(tmp_path, cli_sim):
    result = bsg(["run"], tmp_path, cli_sim, SOURCES__BSG__API_KEY=None)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "`api_key`" in result.stderr and "SOURCES__BSG__API_KEY" in result.stderr


def test_bad_setting_exit_2_names_it(tmp_path, cli_sim):
    result = bsg(["run"], tmp_path, cli_sim, SOURCES__BSG__PAGE_SIZE="1000")
    assert result.returncode == 2 and "`page_size`" in result.stderr and "Traceback" not in result.stderr


def test_strict_exits_3_on_rejected_records(tmp_path):
    """--strict: 3 for a run that rejected a record, 0 for one that did not (the same API)."""
    with Simulator(SimulatorConfig(seed=22, campaigns=60, corrupt_rate=0.1)).start() as simulator:
        lenient = bsg(["run", "--json", "--no-models"], tmp_path / "a", simulator)
        assert lenient.returncode == 0, lenient.stderr
        assert json.loads(lenient.stdout)["rejected"] > 0
        with duckdb.connect(str(tmp_path / "a" / "cli.duckdb"), read_only=True) as con:
            rejected = {row[0] for row in con.execute("select campaign_id from bsg_campaigns.rejected_records").fetchall()}
        good = next(i for i in simulator.visible_campaign_ids() if i not in rejected)
        strict_good = bsg(["run", "--strict", "--no-models", "--campaign-id", str(good)], tmp_path / "b", simulator)
        assert strict_good.returncode == 0, strict_good.stdout + strict_good.stderr
        strict_bad = bsg(["run", "--strict", "--no-models", "--campaign-id", str(min(rejected))], tmp_path / "b",
                         simulator)
        assert strict_bad.returncode == 3, strict_bad.stdout + strict_bad.stderr
        strict_all = bsg(["run", "--strict", "--no-models"], tmp_path / "c", simulator)
        assert strict_all.returncode == 3


def test_outage_exit_1_says_next_run_resumes(tmp_path):
    with Simulator(SimulatorConfig(seed=23, campaigns=30, outage=True)).start() as simulator:
        result = bsg(["run", "--no-models"], tmp_path, simulator, SOURCES__BSG__MAX_ATTEMPTS="2")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "next run resumes" in result.stderr
    assert not list(tmp_path.rglob("*.wal")), "a DuckDB file was left open by a failed run"  # console_main


def test_help_everywhere(tmp_path, cli_sim):
    for command in ([], ["run"], ["demo"], ["status"], ["models"], ["simulator"]):
        result = bsg([*command, "--help"], tmp_path, cli_sim)
        assert result.returncode == 0 and "usage: bsg-campaigns" in result.stdout


def test_simulator_takes_the_same_options_both_ways(tmp_path, cli_sim):
    """`bsg-campaigns simulator` and `python -m bsg_campaigns.simulator`: one declaration."""
    import re

    via_cli = bsg(["simulator", "--help"], tmp_path, cli_sim).stdout
    via_module = subprocess.run([sys.executable, "-m", "bsg_campaigns.simulator", "--help"], capture_output=True,
                                text=True, timeout=60).stdout
    options = sorted(set(re.findall(r"--[a-z][a-z-]+", via_module)))
    assert options == sorted(set(re.findall(r"--[a-z][a-z-]+", via_cli)))
    assert {"--port", "--max-page-size", "--fault-rate", "--api-key"} <= set(options)


def test_the_command_ends_like_python_would_without_the_teardown(tmp_path, cli_sim):
    """console_main ends the process with os._exit after main: what a finished run relies on
    must still happen. An atexit handler (here from a sitecustomize, the way coverage hooks a
    subprocess) runs; the whole JSON summary reaches a pipe (block-buffered: lost without the
    flush); every DuckDB file is closed (no write-ahead log beside any); main's code is the
    process's (exit 2 and 3 elsewhere in this file)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    marker = tmp_path / "atexit.ran"
    (hook / "sitecustomize.py").write_text(
        f"import atexit\natexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n")
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    # a user's default: stdout to a pipe is block-buffered (this suite may run with it unbuffered)
    result = bsg(["run", "--json"], tmp_path / "run", cli_sim, PYTHONPATH=path, PYTHONUNBUFFERED=None)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "ok" and summary["fetched"] == summary["new"] > 50
    assert summary["checks"]["ok"] and summary["models"]
    assert marker.read_text() == "ran"
    databases = list((tmp_path / "run").rglob("*.duckdb"))
    assert len(databases) >= 2  # the published file and its working copy
    assert not list((tmp_path / "run").rglob("*.wal")), "a DuckDB file was left open at exit"
    with duckdb.connect(str(tmp_path / "run" / "cli.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from bsg_campaigns.campaigns").fetchone()[0] == summary["fetched"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_that_cannot_be_written_is_not_a_success(tmp_path, cli_sim):
    """stdout on a full disk: the summary is lost, so the exit code says so (120, as Python's own
    exit would), with one line on stderr, instead of console_main's flush swallowing it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["DLT_DATA_DIR"] = str(tmp_path / "dlt_data")
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "bsg_campaigns.app.cli", "status"], cwd=tmp_path, env=env,
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 120, result.stderr
    assert "could not write the output" in result.stderr and "Traceback" not in result.stderr
