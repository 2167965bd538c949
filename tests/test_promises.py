"""The README's promises that had no test of their own, each proven through the path a user takes
(the CLI in a subprocess, or the runner) against the simulator over loopback: `--strict` exit 3
on a failed check, the `models` command, exit 1 when the destination refuses the load, multi-page
and server-capped listing, `status` output, `last_run.json`, and `--campaign-id` with an id the
API does not know."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict

import duckdb
import pytest

from bsg_campaigns.exceptions import RunFailed
from bsg_campaigns.settings import PIPELINE_NAME
from bsg_campaigns.simulator import Simulator, SimulatorConfig
from conftest import Harness
from test_cli import bsg

DATASET = "bsg_campaigns"
VIEWS = {"stg_campaigns", "stg_campaign_statistics", "stg_campaign_statistics_history", "stg_messages",
         "campaign_rates", "daily_rates", "statistics_growth", "message_daily_rates", "delivery_times",
         "recipients_reached", "message_costs"}


def sms_campaign(campaign_id: int, delivered: int, total_messages: int = 10, finished_at="2026-10-31 10:05:00",
                 status: str = "done") -> Dict:
    return {"data": {"id": campaign_id, "name": "promise", "sender": "promises", "status": status, "type": "sms",
                     "started_at": "2026-10-31 10:00:00", "actual_start_at": "2026-10-31 10:00:05",
                     "finished_at": finished_at, "created_at": "2026-10-31 09:55:00",
                     "statistics": {"delivered": delivered}, "total_messages": total_messages,
                     "total_phones": total_messages, "total_price": "0.5000000", "currency": "USD"}}


def query(db: Path, sql: str) -> list:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_strict_exits_3_on_a_failed_check_and_models_builds_and_checks(tmp_path):
    """A campaign whose statuses add up to more than total_messages fails the
    `counts_exceed_total_messages` check (nothing is rejected: the record parses). `run` and
    `models` exit 0 and report it; with `--strict` both exit 3; once the API serves the corrected
    campaign, `--strict` exits 0 again (so 3 is about the check, not always on)."""
    with Simulator(SimulatorConfig(seed=24, campaigns=30)).start() as sim:
        sim.put_detail(90000010, sms_campaign(90000010, delivered=50), created_at="2026-10-31 09:55:00", type="sms")
        lenient = bsg(["run", "--json"], tmp_path, sim)
        assert lenient.returncode == 0, lenient.stderr
        summary = json.loads(lenient.stdout)
        failed = [r for r in summary["checks"]["results"] if r["outcome"] == "FAIL"]
        assert summary["rejected"] == 0 and [r["name"] for r in failed] == ["counts_exceed_total_messages"]
        assert failed[0]["sample"] == [{"campaign_id": 90000010, "total_messages": 10, "primary_messages": 50}]
        assert set(summary["models"]) == VIEWS

        strict = bsg(["run", "--strict", "--json"], tmp_path, sim)
        assert strict.returncode == 3, strict.stderr
        assert json.loads(strict.stdout)["rejected"] == 0  # 3 for the check alone

        models = bsg(["models"], tmp_path, sim)
        assert models.returncode == 0, models.stderr
        built = models.stdout.splitlines()[0]
        assert built.startswith("built views: ") and set(built[len("built views: "):].split(", ")) == VIEWS
        assert "FAIL counts_exceed_total_messages: 1 offending row(s)" in models.stdout
        assert bsg(["models", "--strict"], tmp_path, sim).returncode == 3

        # the views `models` built hold the campaign's exact figures
        db = tmp_path / "cli.duckdb"
        assert query(db, f"select messages, delivered, delivery_rate from {DATASET}.campaign_rates "
                         "where campaign_id = 90000010") == [(50, 50, 1.0)]
        assert query(db, f"select count(*) from {DATASET}.campaign_rates") == \
            query(db, f"select count(*) from {DATASET}.campaigns")

        sim.put_detail(90000010, sms_campaign(90000010, delivered=10))  # still open: re-read next run
        sim.advance(hours=1)
        fixed = bsg(["run", "--strict"], tmp_path, sim)
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert bsg(["models", "--strict"], tmp_path, sim).returncode == 0


def test_destination_refusing_the_load_exits_1_then_the_next_run_completes(tmp_path):
    """The warehouse refuses the rows (a NOT NULL constraint someone added to `finished_at`, and a
    campaign still sending has none): exit 1, one paragraph saying the data stays pending, no
    traceback, nothing of that run in the table; once the constraint is gone the next run loads
    the pending data and the campaign is there."""
    with Simulator(SimulatorConfig(seed=25, campaigns=20)).start() as sim:
        assert bsg(["run", "--no-models"], tmp_path, sim).returncode == 0
        db = tmp_path / "cli.duckdb"
        with duckdb.connect(str(db)) as con:
            con.execute(f"alter table {DATASET}.campaigns alter column finished_at set not null")
        sim.put_detail(90000011, sms_campaign(90000011, delivered=3, finished_at=None, status="sending"),
                       created_at="2026-11-01 11:55:00", type="sms")
        refused = bsg(["run", "--no-models"], tmp_path, sim)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        message = refused.stderr[refused.stderr.find("run failed:"):]
        assert message.startswith("run failed: The pipeline failed during load")
        assert "NOT NULL constraint failed: campaigns.finished_at" in message
        assert message.rstrip().endswith("Data already extracted stays pending and is loaded first by the next run.")
        assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert query(db, f"select count(*) from {DATASET}.campaigns where campaign_id = 90000011") == [(0,)]
        with duckdb.connect(str(db)) as con:
            con.execute(f"alter table {DATASET}.campaigns alter column finished_at drop not null")
        again = bsg(["run", "--no-models"], tmp_path, sim)
        assert again.returncode == 0, again.stderr
    assert query(db, f"select status, finished_at from {DATASET}.campaigns where campaign_id = 90000011") == \
        [("sending", None)]
    assert query(db, f"select status, message_count from {DATASET}.campaign_statistics "
                     "where campaign_id = 90000011") == [("delivered", 3)]


def test_listing_follows_the_pages_the_server_serves(tmp_path):
    """120 campaigns (81 rcs, 39 sms) listed in pages of 30, then asked for pages of 500 from a
    server that serves at most 20 (it reports what it served in meta.page): several pages per type
    either way, both loads hold exactly the simulator's campaigns, and the capped run made exactly
    the extra list calls that pages of 20 instead of 30 imply (a client stepping by the size it
    asked for would skip rows; one stopping after a page would miss them)."""
    loaded, list_calls = {}, {}
    for name, knobs, page_size in (("small", {}, 30), ("capped", {"max_page_size": 20}, 500)):
        with Simulator(SimulatorConfig(seed=11, campaigns=120, **knobs)).start() as sim:
            harness = Harness(tmp_path / name, sim, name)
            report = harness.run(page_size=page_size)
            list_calls[name] = sim.stats()["list"]
            loaded[name] = {row[0] for row in harness.query("select campaign_id from campaigns")}
            per_type = {t: len(sim.visible_campaign_ids(t)) for t in ("rcs", "sms")}
            truth = set(sim.visible_campaign_ids("rcs") + sim.visible_campaign_ids("sms"))
        assert loaded[name] == truth and report.listed == per_type, name
    assert all(n > 30 for n in per_type.values())  # more than one page per type in both runs
    # Same creation windows in both runs; only the pages per type differ.
    assert list_calls["capped"] - list_calls["small"] == sum(math.ceil(n / 20) - math.ceil(n / 30)
                                                             for n in per_type.values()) > 0



def test_listing_without_a_total_goes_on_until_an_empty_page(tmp_path):
    """A list answer without meta.page.total cannot say it is the last, and a short page is not
    (this server serves 20 of the 30 asked): the listing goes on until a page is empty and loads
    every campaign, at one more list call per listing that had campaigns. A server that also
    ignores page[offset] stops the run (exit 1) instead of listing the same page forever."""
    loaded, list_calls = {}, {}
    for name, knobs in (("total", {}), ("no_total", {"page_total": False})):
        with Simulator(SimulatorConfig(seed=11, campaigns=120, max_page_size=20, **knobs)).start() as sim:
            harness = Harness(tmp_path / name, sim, name)
            report = harness.run(page_size=30)
            list_calls[name] = sim.stats()["list"]
            loaded[name] = {row[0] for row in harness.query("select campaign_id from campaigns")}
            per_type = {t: len(sim.visible_campaign_ids(t)) for t in ("rcs", "sms")}
            truth = set(sim.visible_campaign_ids("rcs") + sim.visible_campaign_ids("sms"))
        assert loaded[name] == truth and report.listed == per_type, name
    assert all(n > 20 for n in per_type.values())  # several short pages per type
    assert list_calls["total"] < list_calls["no_total"] <= 2 * list_calls["total"]
    with Simulator(SimulatorConfig(seed=11, campaigns=120, page_total=False, page_offset=False)).start() as sim:
        harness = Harness(tmp_path / "no_offset", sim, "no_offset")
        with pytest.raises(RunFailed, match="answered page.offset.=30 with campaigns already listed") as info:
            harness.run(page_size=30)
        # stopped at the first repeated page: one page of 30 per type (both types list at once)
        assert sim.stats()["detail"] <= 30 * 2
    assert "Nothing was committed for this run" in str(info.value)
    assert harness.tables() == set()

def test_status_shows_the_cursors_open_campaigns_and_last_run(tmp_path):
    with Simulator(SimulatorConfig(seed=26, campaigns=60)).start() as sim:
        run = bsg(["run", "--json", "--no-models"], tmp_path, sim)
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout)
        state = json.loads(bsg(["status", "--json"], tmp_path, sim).stdout)
        status = bsg(["status"], tmp_path, sim)
    assert status.returncode == 0, status.stderr
    text = status.stdout
    # the state the run left, as the text shows it
    assert set(state["cursors"]) == {"rcs", "sms"} and 0 < state["open_campaigns"] == summary["still_open"]
    assert state["last_run"]["new"] == summary["new"] > 0
    lines = text.splitlines()
    for campaign_type, cursor in state["cursors"].items():
        assert any(line.split() == [campaign_type, cursor] for line in lines), (campaign_type, cursor, text)
    assert f"campaigns still being refreshed: {summary['still_open']}" in text
    first_open = state["open"][0]
    assert any(line.split()[:1] == [str(first_open["campaign_id"])] and first_open["status"] in line
               for line in lines), text
    assert f"new={summary['new']}" in text and f"fetched={summary['fetched']}" in text


def test_last_run_json_is_the_summary_of_the_last_run(tmp_path):
    """<pipelines dir>/<pipeline>/last_run.json: the very summary `--json` printed; after a
    failed run, that run's status and error."""
    with Simulator(SimulatorConfig(seed=27, campaigns=30)).start() as sim:
        run = bsg(["run", "--json", "--no-models"], tmp_path, sim)
        assert run.returncode == 0, run.stderr
        [last_run] = list((tmp_path / "dlt_data").rglob(f"{PIPELINE_NAME}/last_run.json"))
        written = json.loads(last_run.read_text())
        assert written == json.loads(run.stdout)
        assert written["status"] == "ok" and written["error"] is None and written["mode"] == "incremental"
        assert written["new"] == written["fetched"] == len(sim.visible_campaign_ids("rcs") + sim.visible_campaign_ids("sms"))
        sim.configure(outage=True)
        failed = bsg(["run", "--no-models"], tmp_path, sim, SOURCES__BSG__MAX_ATTEMPTS="2")
    assert failed.returncode == 1
    after = json.loads(last_run.read_text())
    assert after["status"] == "failed" and "next run resumes" in after["error"]
    assert after["error"] in failed.stderr


def test_campaign_id_unknown_to_the_api_is_reported_not_loaded(tmp_path):
    """`--campaign-id` with an id the API answers "Invalid campaign id" for, next to a real one:
    exit 0, the real one loaded, the unknown one named in the summary as gone, nowhere in the
    tables or the state (it is never retried)."""
    with Simulator(SimulatorConfig(seed=21, campaigns=20)).start() as sim:
        real = sim.visible_campaign_ids()[0]
        result = bsg(["run", "--no-models", "--campaign-id", "1", "--campaign-id", str(real)], tmp_path, sim)
        assert result.returncode == 0, result.stderr
        state = json.loads(bsg(["status", "--json"], tmp_path, sim).stdout)
    assert "gone             1  (unknown or deleted ids, no longer refreshed: 1)" in result.stdout
    assert "by id          1" in result.stdout
    db = tmp_path / "cli.duckdb"
    assert query(db, f"select campaign_id from {DATASET}.campaigns") == [(real,)]
    assert "1" not in state["retrying"] and all(entry["campaign_id"] != 1 for entry in state["open"])
    assert state["cursors"] == {}  # an explicit-id run moves no cursor


def test_out_of_memory_while_loading_exits_1_names_the_setting_and_the_next_run_loads_it(tmp_path):
    """DuckDB itself limited to 2 MB (dlt's `global_config`, which the runner's uncapped retry
    cannot lift) and the load cap at 2 MB: the load runs out of memory under the cap, again
    without it, and the run stops with exit 1 naming `duckdb_load_memory_limit`; the next run,
    with memory, loads the pending data (all of it, exactly once)."""
    db = tmp_path / "cli.duckdb"
    with Simulator(SimulatorConfig(seed=28, campaigns=60)).start() as sim:
        starved = bsg(["run", "--no-models"], tmp_path, sim, DESTINATION__DUCKDB__CREDENTIALS=None,
                      DESTINATION__DUCKDB__CREDENTIALS__DATABASE=str(db),
                      DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG=json.dumps({"memory_limit": "2MB"}),
                      SOURCES__BSG__DUCKDB_LOAD_MEMORY_LIMIT="2MB")
        assert starved.returncode == 1, starved.stdout + starved.stderr
        assert "Traceback" not in starved.stderr
        assert ("run failed: DuckDB ran out of memory while loading. Raise `duckdb_load_memory_limit` under "
                "[sources.bsg] in .dlt/config.toml (SOURCES__BSG__DUCKDB_LOAD_MEMORY_LIMIT") in starved.stderr
        assert starved.stderr.rstrip().endswith("The extracted data stays pending and the next run loads it first.")
        fed = bsg(["run", "--no-models", "--json"], tmp_path, sim)
        assert fed.returncode == 0, fed.stderr
        expected = len(sim.visible_campaign_ids("rcs") + sim.visible_campaign_ids("sms"))
    assert query(db, f"select count(*), count(distinct campaign_id) from {DATASET}.campaigns") == [(expected, expected)]
