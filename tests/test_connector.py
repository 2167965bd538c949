"""The connector end to end over loopback HTTP against the simulator: the data contract with exact
values, variants, incremental behaviour, interruptions, auth and transient faults."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from bsg_campaigns.report import RunReport
from bsg_campaigns.exceptions import RunFailed, UserError
from bsg_campaigns.simulator import Simulator, SimulatorConfig

from conftest import Harness

UTC = timezone.utc

RCS_WITH_FALLBACK = """{"data": {"id": 90000001, "name": "RCS api campaign / 2026-10-30 10:00:00",
 "sender": "Кафе Ромашка", "status": "sending", "type": "rcs", "started_at": "2026-10-30 10:05:00",
 "actual_start_at": "2026-10-30 10:05:07", "finished_at": null, "created_at": "2026-10-30 10:00:00",
 "statistics": {"delivered": 5, "sent": 0, "read": 3, "expired": 2, "not_rcs_user": 1, "clicked": 4},
 "alternative_channels": {"sms": {"statistics": {"delivered": 2, "undelivered": 1}}},
 "total_messages": 15, "total_phones": 14, "total_price": 1.2345678, "currency": "UAH",
 "channel_options": {"ttl": 3600}}}"""

SMS_SPEC_SHAPE = {"en-US": {
    "id": 90000002, "name": "SMS api campaign / 2026-10-29 23:30:00", "sender": "testsms", "status": "done",
    "message_type": "sms", "start_date": "2026-10-29 23:30:00", "real_start_at": "2026-10-29 23:30:17",
    "finished_at": "2026-10-29 23:31:00", "created_at": "2026-10-29 23:30:00",
    "statistics": [{"delivered": 7, "undelivered": 3}], "total_messages": 10, "total_phones": 10,
    "total_price": "0.1600000", "currency": "USD", "alternative_channels": None}}


def test_contract_exact_values(harness: Harness, sim: Simulator):
    sim.configure(server_timezone="Europe/Kyiv")
    sim.put_detail(90000001, RCS_WITH_FALLBACK, created_at="2026-10-30 10:00:00", type="rcs")
    sim.put_detail(90000002, SMS_SPEC_SHAPE, created_at="2026-10-29 23:30:00", type="sms")
    report = harness.run(timezone="Europe/Kyiv")
    assert report.rejected == 0 and report.failed == 0
    assert "channel_options" in report.new_extra_fields
    fetched = sim.now

    rows = {r[0]: r for r in harness.query(
        "select campaign_id, name, sender, status, type, start_at, real_start_at, finished_at, created_at, "
        "total_messages, total_phones, total_price, currency, fetched_at, extra_fields "
        "from campaigns where campaign_id >= 90000000")}
    assert json.loads(rows[90000001][14]) == {"channel_options": {"ttl": 3600}}
    assert rows[90000001][:14] == (
        90000001, "RCS api campaign / 2026-10-30 10:00:00", "Кафе Ромашка", "sending", "rcs",
        datetime(2026, 10, 30, 8, 5, tzinfo=UTC), datetime(2026, 10, 30, 8, 5, 7, tzinfo=UTC), None,
        datetime(2026, 10, 30, 8, 0, tzinfo=UTC), 15, 14, Decimal("1.2345678"), "UAH", fetched)
    assert rows[90000002] == (
        90000002, "SMS api campaign / 2026-10-29 23:30:00", "testsms", "done", "sms",
        datetime(2026, 10, 29, 21, 30, tzinfo=UTC), datetime(2026, 10, 29, 21, 30, 17, tzinfo=UTC),
        datetime(2026, 10, 29, 21, 31, tzinfo=UTC), datetime(2026, 10, 29, 21, 30, tzinfo=UTC),
        10, 10, Decimal("0.1600000"), "USD", fetched, None)

    stats = harness.query("select campaign_id, channel, is_fallback, status, message_count from campaign_statistics "
                          "where campaign_id >= 90000000 order by 1, 2, 3, 4")
    assert stats == [
        (90000001, "rcs", False, "clicked", 4), (90000001, "rcs", False, "delivered", 5),
        (90000001, "rcs", False, "expired", 2), (90000001, "rcs", False, "not_rcs_user", 1),
        (90000001, "rcs", False, "read", 3), (90000001, "rcs", False, "sent", 0),
        (90000001, "sms", True, "delivered", 2), (90000001, "sms", True, "undelivered", 1),
        (90000002, "sms", False, "delivered", 7), (90000002, "sms", False, "undelivered", 3),
    ]
    history = harness.query("select campaign_id, channel, is_fallback, status, message_count, fetched_at "
                            "from campaign_statistics_history where campaign_id >= 90000000 order by 1, 2, 3, 4")
    assert [h[:5] for h in history] == stats and {h[5] for h in history} == {fetched}
    types = dict(harness.query("select column_name, data_type from information_schema.columns "
                               "where table_name = 'campaigns' and table_schema = 'bsg_campaigns'"))
    assert types["total_price"] == "DECIMAL(38,7)" and types["campaign_id"] == "BIGINT"
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE" and types["extra_fields"] == "JSON"


def test_catalogue_matches_simulator_truth(harness: Harness, sim: Simulator):
    harness.run()
    ids = sim.visible_campaign_ids("rcs") + sim.visible_campaign_ids("sms")
    loaded = {r[0]: r for r in harness.query("select campaign_id, status, total_messages, total_price from campaigns")}
    assert sorted(loaded) == sorted(ids)
    for campaign_id in ids[::7]:
        truth = sim.expected_detail(campaign_id)
        assert loaded[campaign_id][1:] == (truth["status"], truth["total_messages"], Decimal(truth["total_price"]))
        counts = dict(harness.query(f"select status, message_count from campaign_statistics "
                                    f"where campaign_id = {campaign_id} and not is_fallback"))
        assert counts == truth["statistics"]
        assert sum(counts.values()) == truth["total_messages"]


def test_mixed_variants_all_parse_identically(tmp_path):
    """Every documented variant (envelopes, aliases, price forms, statistics forms, no-fallback
    forms) loads to the same tables as the real shape."""
    snapshots = []
    for variants in ("real", "mixed"):
        with Simulator(SimulatorConfig(seed=5, campaigns=150, variants=variants)).start() as simulator:
            harness = Harness(tmp_path / variants, simulator)
            report = harness.run()
            assert report.rejected == 0
            snapshots.append(harness.snapshot())
    assert snapshots[0] == snapshots[1]
    assert len(snapshots[0]["campaigns"]) > 100


def test_second_run_fetches_only_new_and_open(harness: Harness, sim: Simulator):
    first = harness.run()
    open_ids = {int(k) for k in harness.source_state["open"]}
    assert first.still_open == len(open_ids) > 0
    before_ids = set(sim.visible_campaign_ids("rcs") + sim.visible_campaign_ids("sms"))

    sim.advance(hours=30)
    new_ids = set(sim.visible_campaign_ids("rcs") + sim.visible_campaign_ids("sms")) - before_ids
    assert new_ids
    sim.reset_stats()
    second = harness.run()
    assert sim.stats()["detail"] == len(open_ids) + len(new_ids)
    assert (second.new, second.refreshed) == (len(new_ids), len(open_ids))
    assert second.settled > 0

    sim.reset_stats()
    third = harness.run()  # right after: only campaigns still open
    assert third.new == 0 and sim.stats()["detail"] == third.refreshed == second.still_open
    assert sim.stats()["login"] == 1

    # No duplicates, no stale rows: current counts equal the simulator's truth for every open campaign.
    assert harness.query("select count(*) - count(distinct campaign_id) from campaigns") == [(0,)]
    assert harness.query("select count(*) from (select campaign_id, channel, is_fallback, status "
                         "from campaign_statistics group by all having count(*) > 1)") == [(0,)]
    for campaign_id in sorted(open_ids)[:10]:
        truth = sim.expected_detail(campaign_id)
        counts = dict(harness.query(f"select status, message_count from campaign_statistics "
                                    f"where campaign_id = {campaign_id} and not is_fallback"))
        assert counts == truth["statistics"]
        fallback = truth["alternative_channels"]
        expected_fallback = fallback["sms"]["statistics"] if fallback else {}
        assert dict(harness.query(f"select status, message_count from campaign_statistics "
                                  f"where campaign_id = {campaign_id} and is_fallback")) == expected_fallback


def api_time(value: str) -> datetime:
    """A naive timestamp as the simulator serves it (its time zone is UTC unless configured)."""
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def test_settled_campaigns_are_not_fetched_again(harness: Harness, sim: Simulator):
    """After ten days, a campaign stays open exactly when the simulator's truth says it may still
    change: not in a final status, or finished less than the refresh window (168 h) ago; every
    other one is settled and the next run reads only the open ones."""
    harness.run()
    sim.advance(hours=24 * 10)  # past every refresh window
    second = harness.run()
    state = json.loads(json.dumps(harness.source_state))  # as the second run left it
    now, window = sim.now, timedelta(hours=168)
    expected_open, settled = set(), set()
    for campaign_id in sim.visible_campaign_ids("rcs") + sim.visible_campaign_ids("sms"):
        truth = sim.expected_detail(campaign_id)
        finished = api_time(truth["finished_at"]) if truth["finished_at"] else None
        if truth["status"] not in ("done", "stopped", "spam"):
            expected_open.add(str(campaign_id))
        elif finished is not None:
            (expected_open if finished + window > now else settled).add(str(campaign_id))
    assert settled and second.settled > 0
    assert expected_open <= set(state["open"]) and not settled & set(state["open"])
    sim.reset_stats()
    harness.run()
    assert sim.stats()["detail"] == len(state["open"]) + len(state["retry"])


def test_status_disappearing_is_removed(harness: Harness, sim: Simulator):
    body = json.loads(RCS_WITH_FALLBACK)
    sim.put_detail(90000001, body, created_at="2026-10-30 10:00:00", type="rcs")
    harness.run()
    body["data"]["statistics"] = {"delivered": 9, "read": 6}
    body["data"]["alternative_channels"] = []
    sim.put_detail(90000001, body)
    sim.advance(hours=1)
    harness.run()
    assert harness.query("select status, message_count, is_fallback from campaign_statistics "
                         "where campaign_id = 90000001 order by status") == [("delivered", 9, False), ("read", 6, False)]
    assert harness.query("select count(distinct fetched_at) from campaign_statistics_history "
                         "where campaign_id = 90000001") == [(2,)]


def test_malformed_records_are_quarantined(harness: Harness, sim: Simulator):
    bad = '{"data": {"id": 90000003, "statistics": {"delivered": "12a"}}}'
    sim.put_detail(90000003, bad, created_at="2026-10-30 11:00:00", type="sms")
    sim.put_detail(90000004, "<html><body>Gateway error</body></html>", created_at="2026-10-30 11:00:00", type="sms")
    report = harness.run()
    assert report.rejected == 2
    rows = harness.query("select campaign_id, reason, payload from rejected_records order by campaign_id")
    assert rows[0] == (90000003, "statistics.delivered is not an integer: '12a'", bad)
    assert rows[1][0] == 90000004 and "not valid JSON" in rows[1][1] and rows[1][2].startswith("<html>")
    campaigns = harness.query("select count(*) from campaigns")[0][0]
    listed = len(sim.visible_campaign_ids("rcs") + sim.visible_campaign_ids("sms"))
    assert campaigns + report.rejected == listed  # nothing silently dropped
    assert set(harness.source_state["retry"]) == {"90000003", "90000004"}


def test_gone_campaigns_stop_being_refreshed(harness: Harness, sim: Simulator):
    harness.run()
    victim = int(next(iter(harness.source_state["open"])))
    sim.remove(victim)
    report = harness.run()
    assert report.gone == 1 and str(victim) not in harness.source_state["open"]
    sim.reset_stats()
    harness.run()
    assert sim.stats()["detail"] == len(harness.source_state["open"])


def test_explicit_ids_and_backfill_do_not_move_the_cursor(harness: Harness, sim: Simulator):
    harness.run()
    cursors = dict(harness.source_state["cursors"])
    some = sim.visible_campaign_ids("sms")[:3]
    sim.reset_stats()
    report = harness.run(campaign_ids=some)
    assert report.explicit == 3 and sim.stats()["detail"] == 3 and sim.stats()["list"] == 0
    sim.advance(hours=1)  # the backfill's reads carry their own fetched_at
    sim.reset_stats()
    report = harness.run(backfill_start="2026-10-01", backfill_end="2026-10-15")
    assert harness.source_state["cursors"] == cursors
    # Exactly the campaigns created in the range were read (the end day's own campaigns may or may
    # not count: the range ends at 2026-10-15 00:00 and the API filters by date).
    fetched = {row[0]: row[1] for row in harness.query(
        "select campaign_id, created_at from campaigns where fetched_at = (select max(fetched_at) from campaigns)")}
    created = {i: api_time(sim.expected_detail(i)["created_at"])
               for i in sim.visible_campaign_ids("rcs") + sim.visible_campaign_ids("sms")}
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 15, tzinfo=UTC)
    inside = {i for i, t in created.items() if start <= t < end}
    assert inside and len(inside) < len(created)  # the range is a real subset of the catalogue
    assert inside <= set(fetched) and all(start <= t < end + timedelta(days=1) for t in fetched.values())
    assert report.backfilled == len(fetched) == sim.stats()["detail"]


def test_interrupted_run_then_rerun_equals_uninterrupted(tmp_path):
    """An outage mid-extract: the run fails, state does not move; the re-run ends identical."""
    with Simulator(SimulatorConfig(seed=3, campaigns=200)).start() as simulator:
        reference = Harness(tmp_path / "ref", simulator, "ref")
        reference.run()
        interrupted = Harness(tmp_path / "cut", simulator, "cut")

        def cut_when_busy():
            while simulator.stats()["detail"] < 60:
                time.sleep(0.002)
            simulator.configure(outage=True)

        simulator.reset_stats()
        threading.Thread(target=cut_when_busy, daemon=True).start()
        with pytest.raises(RunFailed):
            interrupted.run(max_attempts=2)
        assert interrupted.pipeline.state.get("sources", {}).get("bsg", {}).get("cursors") in (None, {})
        simulator.configure(outage=False)
        interrupted.run()
        assert interrupted.snapshot() == reference.snapshot()


def test_crash_between_extract_and_load_is_completed_by_next_run(tmp_path, sim: Simulator):
    from bsg_campaigns import bsg_source

    reference = Harness(tmp_path / "ref", sim, "ref")
    reference.run()
    crashed = Harness(tmp_path / "crash", sim, "crash")
    crashed.pipeline.extract(bsg_source(**crashed.source_args()))  # "killed" before normalize/load
    assert crashed.pipeline.has_pending_data
    report = crashed.run()
    assert report.new == 0  # the pending package carried the first run's data and state
    assert crashed.snapshot()["campaigns"] == reference.snapshot()["campaigns"]
    assert crashed.snapshot()["campaign_statistics"] == reference.snapshot()["campaign_statistics"]



def test_extract_and_load_refuses_pending_data(tmp_path, sim: Simulator):
    """Pending packages must be settled first (finish_interrupted_load): extract_and_load never
    loads them behind that step's back, not even under `python -O`."""
    from bsg_campaigns import bsg_source
    from bsg_campaigns.load.steps import extract_and_load

    crashed = Harness(tmp_path, sim, "crash")
    crashed.pipeline.extract(bsg_source(**crashed.source_args()))  # "killed" before normalize/load
    source = bsg_source(**crashed.source_args())
    requests = sim.stats()["total"]
    with pytest.raises(RunFailed, match="'bsg_test_crash' has data of an interrupted run pending"):
        extract_and_load(crashed.pipeline, source, RunReport(), "")
    assert sim.stats()["total"] == requests  # nothing extracted
    assert crashed.pipeline.has_pending_data and crashed.tables() == set()  # nothing loaded

def test_token_expiry_mid_run(tmp_path):
    with Simulator(SimulatorConfig(seed=4, campaigns=150, token_lifetime_s=1.0, latency_ms=15)).start() as simulator:
        harness = Harness(tmp_path, simulator)
        report = harness.run(concurrency=2)
        stats = simulator.stats()
        assert stats["refresh"] + stats["login"] >= 3  # the token was renewed during the run
        assert report.failed == 0 and report.rejected == 0
        assert len(harness.table("campaigns")) == len(simulator.visible_campaign_ids("rcs") +
                                                      simulator.visible_campaign_ids("sms"))


def test_transient_faults_recover_to_identical_tables(tmp_path):
    snapshots = []
    for fault_rate in (0.0, 0.25):
        config = SimulatorConfig(seed=9, campaigns=150, fault_rate=fault_rate,
                                 fault_kinds=("429", "429_retry_after_seconds", "429_retry_after_date",
                                              "500", "502", "503", "504", "truncated", "non_json", "html_200"))
        with Simulator(config).start() as simulator:
            harness = Harness(tmp_path / str(fault_rate), simulator)
            report = harness.run(max_attempts=10)
            if fault_rate:
                assert simulator.stats()["faults"] > 20 and report.http["retries"] >= simulator.stats()["faults"] - 5
            snapshots.append(harness.snapshot())
    assert snapshots[0] == snapshots[1]


def test_wrong_api_key_is_a_user_error_and_moves_nothing(harness: Harness):
    with pytest.raises(UserError) as info:
        harness.run(api_key="live_wrong_key")
    message = str(info.value)
    assert "api_key" in message and "SOURCES__BSG__API_KEY" in message
    assert "live_wrong_key" not in message
    assert "sources" not in harness.pipeline.state or not harness.pipeline.state["sources"].get("bsg")


@pytest.mark.parametrize("setting, value", [("page_size", 900), ("timezone", "Mars/Olympus"),
                                            ("base_url", "ftp://x"), ("concurrency", 0), ("types", [])])
def test_bad_settings_name_the_setting(harness: Harness, setting, value):
    with pytest.raises(UserError) as info:
        harness.run(**{setting: value})
    assert f"`{setting}`" in str(info.value) and f"SOURCES__BSG__{setting.upper()}" in str(info.value)


def test_bad_duckdb_load_memory_limit_names_the_setting(harness: Harness, monkeypatch):
    monkeypatch.setenv("SOURCES__BSG__DUCKDB_LOAD_MEMORY_LIMIT", "lots")
    with pytest.raises(UserError) as info:
        harness.run()
    assert "`duckdb_load_memory_limit`" in str(info.value) and "SOURCES__BSG__DUCKDB_LOAD_MEMORY_LIMIT" in str(info.value)


def test_duckdb_memory_cap_holds_for_dlt_connections_during_the_load_only(harness: Harness):
    """The cap relies on DuckDB sharing one database instance per file within a process: a
    connection dlt opens while it is held (as the load does) sees it; afterwards the default is back."""
    from bsg_campaigns.load.steps import duckdb_load_settings

    harness.run()

    def setting(name: str) -> Any:
        return harness.query(f"select current_setting('{name}')")[0][0]

    default = setting("memory_limit")
    assert setting("preserve_insertion_order") is True
    with duckdb_load_settings(harness.pipeline, "64MB"):
        assert setting("memory_limit") == "61.0 MiB"  # 64 MB as DuckDB reports it
        assert setting("preserve_insertion_order") is False
    assert setting("memory_limit") == default != "61.0 MiB" and setting("preserve_insertion_order") is True
    with duckdb_load_settings(harness.pipeline, ""):  # no cap: DuckDB's own limit
        assert setting("memory_limit") == default and setting("preserve_insertion_order") is False


def test_rows_to_load_counts_the_pending_parquet_rows(harness: Harness):
    """What decides whether the DuckDB memory cap applies (loading.MAX_ROWS_UNDER_CAP)."""
    from bsg_campaigns import bsg_source
    from bsg_campaigns.load.steps import _rows_to_load

    report = RunReport()
    harness.pipeline.extract(bsg_source(report=report, **harness.source_args()))
    harness.pipeline.normalize()
    statistics_rows = report.rows["campaign_statistics"]
    expected = (report.rows["campaigns"] + statistics_rows + report.rows["campaign_statistics_history"]
                + report.rows.get("rejected_records", 0))
    assert statistics_rows > 0 and _rows_to_load(harness.pipeline) == expected
    harness.pipeline.load()
    assert _rows_to_load(harness.pipeline) == 0
