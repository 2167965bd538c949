"""Upgrading from 0.1, when the project's pipeline was called `bsg_campaigns`: the first run under
the new default name (`bsg`) goes on from the old pipeline's committed state at the destination
instead of re-reading every campaign since `start_date`, and `status` shows that state before it."""

from __future__ import annotations

import json

from bsg_campaigns import settings as defaults
from bsg_campaigns.report import RunReport
from bsg_campaigns.app.runner import make_pipeline, run
from bsg_campaigns.incremental.state import open_campaigns
from test_cli import bsg


def _run(pipeline, sim) -> RunReport:
    report = RunReport()
    run(pipeline, report, build_models=False, base_url=sim.base_url, api_key=sim.api_key, concurrency=4,
        retry_backoff_seconds=0.01)
    return report


def test_first_run_under_the_new_name_adopts_the_old_pipelines_state(tmp_path, sim):
    db = tmp_path / "bsg.duckdb"
    old = make_pipeline(pipelines_dir=str(tmp_path / "old"), duckdb_path=str(db),
                        pipeline_name=defaults.LEGACY_PIPELINE_NAME)
    first = _run(old, sim)
    assert first.new == sim.config.campaigns
    old_state = old.state["sources"]["bsg"]
    still_open = len(set(old_state["open"]) | set(old_state["retry"]))
    assert 0 < still_open < first.new

    sim.reset_stats()
    upgraded = make_pipeline(pipelines_dir=str(tmp_path / "new"), duckdb_path=str(db))  # an empty pipelines dir
    assert upgraded.pipeline_name == defaults.PIPELINE_NAME != defaults.LEGACY_PIPELINE_NAME
    second = _run(upgraded, sim)
    # Incremental: nothing is new, exactly the campaigns the old pipeline left open are re-read.
    assert (second.new, second.refreshed) == (0, still_open)
    assert sim.stats()["detail"] == still_open
    assert upgraded.state["sources"]["bsg"]["cursors"] == old_state["cursors"]


def test_status_before_the_first_run_under_the_new_name_shows_the_old_state(tmp_path, sim):
    old = make_pipeline(pipelines_dir=str(tmp_path / "old"), duckdb_path=str(tmp_path / "cli.duckdb"),
                        pipeline_name=defaults.LEGACY_PIPELINE_NAME)  # the file test_cli.bsg configures
    _run(old, sim)
    old_state = json.loads(json.dumps(old.state["sources"]["bsg"], default=str))
    status = json.loads(bsg(["status", "--json"], tmp_path, sim).stdout)  # a fresh pipelines dir
    text = bsg(["status"], tmp_path, sim).stdout
    assert (status["pipeline"], status["adopted_from"]) == (defaults.PIPELINE_NAME, defaults.LEGACY_PIPELINE_NAME)
    assert (status["cursors"], status["last_run"]) == (old_state["cursors"], old_state["last_run"])
    assert status["open_campaigns"] == len(list(open_campaigns(old_state))) > 0
    assert "No runs yet" not in text and "state of pipeline 'bsg_campaigns' (the name before 0.2)" in text
    assert f"campaigns still being refreshed: {status['open_campaigns']}" in text
    # status only read it: the first run adopts it, and from then on the state is the new name's own
    summary = json.loads(bsg(["run", "--json", "--no-models"], tmp_path, sim).stdout)
    assert summary["new"] == 0 and summary["refreshed"] > 0
    after = json.loads(bsg(["status", "--json"], tmp_path, sim).stdout)
    assert after["adopted_from"] is None and after["cursors"] == old_state["cursors"]
