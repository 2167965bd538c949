"""The SQL over the message-level tables: stg_messages, the four message marts and the
reconciliation checks (messages_match_statistics: settled campaigns, an error;
messages_match_statistics_open: the others, a warning), on the crafted rows of message_data.py
(values computed by hand there) on DuckDB and on PostgreSQL in a Tokyo session; then the
simulator's messages and details through the contract, which the reconciliation must find equal
until one message's status is altered."""

from __future__ import annotations

from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Dict, List, Tuple

import dlt
import pytest

from bsg_campaigns.analyst import models
from bsg_campaigns.analyst.models import CheckContext, run_checks
from bsg_campaigns.contract import batches, tables
from bsg_campaigns.contract.campaigns import CampaignRecord, parse_detail
from bsg_campaigns.contract.message_pages import MessageColumns, parse_message_page
from bsg_campaigns.contract.messages import MessageRecord
from bsg_campaigns.contract.privacy import generate_key, recipient_policy
from bsg_campaigns.simulator import Simulator, SimulatorConfig

from .analyst_data import duckdb_pipeline, query
from .test_postgres import assert_same_rows
from .message_data import HASH, load_all, load_messages, read
from test_simulator_messages import Api

D = Decimal


@pytest.fixture(scope="module")
def messages_duckdb(tmp_path_factory) -> dlt.Pipeline:
    pipeline = duckdb_pipeline(tmp_path_factory.mktemp("messages"), "messages")
    load_all(pipeline)
    models.build_models(pipeline)
    return pipeline


@pytest.fixture(scope="module")
def messages_postgres(postgres_factory) -> dlt.Pipeline:
    # a session far from UTC: the UTC dates must not move
    pipeline = postgres_factory("messages", session_timezone="Asia/Tokyo")
    load_all(pipeline)
    models.build_models(pipeline)
    return pipeline


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def loaded(request) -> dlt.Pipeline:
    return request.getfixturevalue(f"messages_{request.param}")


@pytest.mark.postgres
@pytest.mark.parametrize("view, order_by", [
    ("stg_messages", "message_id"), ("message_daily_rates", "message_date, country, channel"),
    ("delivery_times", "campaign_id, country, channel"), ("recipients_reached", "campaign_id, recipient_scheme"),
    ("message_costs", "campaign_id, country, currency")])
def test_message_views_match_duckdb_row_for_row(messages_duckdb, messages_postgres, view, order_by):
    duck, pg = rows(messages_duckdb, view, order_by), rows(messages_postgres, view, order_by)
    assert duck
    assert_same_rows(duck, pg)


def rows(pipeline: dlt.Pipeline, view: str, order_by: str) -> List[Dict[str, Any]]:
    return query(pipeline, f"select * from {{ds}}.{view} order by {order_by}")


def as_tuples(found: List[Dict[str, Any]], columns: Tuple[str, ...]) -> List[tuple]:
    return [tuple(row[c] for c in columns) for row in found]


# ---------------------------------------------------------------------------------------------
# staging
# ---------------------------------------------------------------------------------------------


def test_stg_messages_marks_fallbacks_and_maps_not_service_user(loaded):
    found = {r["message_id"]: r for r in rows(loaded, "stg_messages", "message_id")}
    assert len(found) == 23
    assert sorted(m for m, r in found.items() if r["is_fallback"]) == [1016, 1017, 1019]
    # not_service_user in the statistics' words, by channel; every other status as it is
    assert (found[1013]["status"], found[1013]["statistics_status"]) == ("not_service_user", "not_rcs_user")
    assert (found[1071]["status"], found[1071]["statistics_status"]) == ("not_service_user", "not_viber_user")
    assert {r["statistics_status"] for m, r in found.items() if m not in (1013, 1071)} == {
        "delivered", "read", "expired", "undelivered", "unknown", "failed", "sent", "clicked"}
    # UTC days (sent 23:30 UTC is 08:30 the next day in Tokyo) and seconds to delivery
    assert (str(found[1021]["sent_date"]), str(found[1021]["created_date"])) == ("2024-05-01", "2024-05-01")
    assert found[1022]["sent_date"] is None and str(found[1022]["created_date"]) == "2024-05-01"
    assert (found[1081]["delivery_seconds"], found[1011]["delivery_seconds"]) == (1.5, 10.0)
    assert found[1013]["delivery_seconds"] is None
    assert found[1011]["price"] == D("0.5") and found[1011]["recipient_scheme"] == HASH


# ---------------------------------------------------------------------------------------------
# marts
# ---------------------------------------------------------------------------------------------

DAILY = ("message_date", "country", "channel", "messages", "delivered", "read", "failed", "pending",
         "unknown_messages", "other_messages", "fallback_messages", "delivery_rate", "read_rate")


def test_message_daily_rates(loaded):
    found = rows(loaded, "message_daily_rates", "message_date, country, channel")
    assert [(str(r[0]),) + r[1:] for r in as_tuples(found, DAILY)] == [
        ("2024-05-01", "PL", "rcs", 1, 1, 0, 0, 0, 0, 0, 0, 1.0, 0.0),
        # 8 own RCS: delivered 1011/1015/1020 + read 1012/1018; failed: expired and not_service_user
        ("2024-05-01", "UA", "rcs", 8, 5, 2, 2, 0, 1, 0, 0, 0.625, 0.4),
        # the three fallback SMS of 101 and campaign 105's own SMS: sms has no read receipts
        ("2024-05-01", "UA", "sms", 4, 3, 0, 1, 0, 0, 0, 3, 0.75, None),
        ("2024-05-01", "UA", "viber", 1, 0, 0, 1, 0, 0, 0, 0, 0.0, None),
        ("2024-05-02", "UA", "rcs", 1, 1, 0, 0, 0, 0, 0, 0, 1.0, 0.0),
        ("2024-05-03", "DE", "rcs", 4, 1, 0, 1, 1, 0, 1, 0, 0.25, 0.0),
        ("2024-05-04", "KZ", "rcs", 4, 2, 0, 1, 0, 1, 0, 0, 0.5, 0.0),
    ]


TIMES = ("campaign_id", "country", "channel", "delivered_messages", "p50_delivery_seconds",
         "p90_delivery_seconds", "p99_delivery_seconds", "min_delivery_seconds", "max_delivery_seconds")


def test_delivery_times_percentiles_interpolate(loaded):
    found = as_tuples(rows(loaded, "delivery_times", "campaign_id, country, channel"), TIMES)
    assert [r[:4] for r in found] == [
        (101, "PL", "rcs", 1), (101, "UA", "rcs", 5), (101, "UA", "sms", 2), (102, "DE", "rcs", 1),
        (104, "UA", "rcs", 1), (105, "UA", "sms", 1), (107, "KZ", "rcs", 2),
    ]
    by_key = {r[:3]: r[4:] for r in found}
    # 10, 20, 30, 40, 100 s: p90 at position 3.6 = 40 + 0.6 * 60, p99 at 3.96
    assert by_key[(101, "UA", "rcs")] == pytest.approx((30.0, 76.0, 97.6, 10.0, 100.0))
    assert by_key[(101, "UA", "sms")] == pytest.approx((6.0, 6.8, 6.98, 5.0, 7.0))
    # 1.5 and 9 s (microsecond timestamps): p50 5.25, p90 1.5 + 0.9 * 7.5
    assert by_key[(107, "KZ", "rcs")] == pytest.approx((5.25, 8.25, 8.925, 1.5, 9.0))
    assert by_key[(104, "UA", "rcs")] == (60.0,) * 5


REACHED = ("campaign_id", "recipient_scheme", "messages", "messages_without_recipient", "recipients",
           "reached_primary", "reached_only_fallback", "reached", "not_reached", "recipient_reach_rate")


def test_recipients_reached_counts_each_recipient_once(loaded):
    found = as_tuples(rows(loaded, "recipients_reached", "campaign_id, recipient_scheme"), REACHED)
    assert found[:6] == [
        # A twice delivered, B read, F read + fallback delivered, H: primary 4; C by its fallback
        # only; D not at all; the message without recipient in no recipient count
        (101, HASH, 12, 1, 6, 4, 1, 5, 1, pytest.approx(5 / 6)),
        (102, HASH, 2, 0, 2, 1, 0, 1, 1, 0.5),
        (103, HASH, 2, 0, 1, 0, 0, 0, 1, 0.0),
        (104, HASH, 1, 0, 1, 1, 0, 1, 0, 1.0),
        (105, HASH, 1, 0, 1, 1, 0, 1, 0, 1.0),
        (106, HASH, 1, 0, 1, 0, 0, 0, 1, 0.0),
    ]
    # schemes apart; under last_digits two numbers ending 1234 are one ending
    assert found[6:] == [
        (107, "drop", 1, 1, 0, 0, 0, 0, 0, None),
        (107, "last_digits:4", 3, 0, 2, 1, 0, 1, 1, 0.5),
    ]


COSTS = ("campaign_id", "country", "currency", "messages", "priced_messages", "delivered", "priced_delivered",
         "total_price", "cost_per_delivered")


def test_message_costs_are_decimal_per_currency(loaded):
    found = as_tuples(rows(loaded, "message_costs", "campaign_id, country, currency"), COSTS)
    assert found == [
        (101, "PL", "PLN", 1, 1, 1, 1, D("0.2"), D("0.2")),
        # 7 RCS at 0.5 + 3 SMS at 0.1 = 3.8 over 5 + 2 delivered
        (101, "UA", "UAH", 10, 10, 7, 7, D("3.8"), D("0.5428571")),
        (101, "UA", None, 1, 0, 0, 0, None, None),
        (102, "DE", "EUR", 2, 2, 1, 1, D("0.6"), D("0.6")),
        (103, "DE", "EUR", 2, 2, 0, 0, D("0.6"), None),
        (104, "UA", "UAH", 1, 1, 1, 1, D("0.5"), D("0.5")),
        (105, "UA", "UAH", 1, 1, 1, 1, D("0.1"), D("0.1")),
        (106, "UA", "UAH", 1, 1, 0, 0, D("0.4"), None),
        # a delivered message without a price (but a currency) is left out of cost_per_delivered
        (107, "KZ", "KZT", 4, 3, 2, 1, D("6"), D("6")),
    ]
    assert all(isinstance(r[7], Decimal) for r in found if r[7] is not None)


# ---------------------------------------------------------------------------------------------
# the reconciliation checks
# ---------------------------------------------------------------------------------------------

MISMATCH = ("campaign_id", "is_fallback", "status", "messages_counted", "statistics_count")


def mismatches(report: Any, name: str) -> List[tuple]:
    result = report.result(name)
    assert result.error is None, result.error
    assert result.offending_rows == len(result.sample)  # all of them (fewer than the sample size)
    return as_tuples(result.sample, MISMATCH)


def test_settled_mismatch_is_an_error_open_one_a_warning(loaded):
    report = run_checks(loaded, CheckContext())
    # 102 (stopped, settled): one delivered message where the statistics count two, and a failed
    # one they do not count; 101 and 106 agree (not_service_user = not_rcs_user / not_viber_user);
    # 104 disagrees but its read is not complete: not checked
    assert report.result("messages_match_statistics").severity == "error"
    assert mismatches(report, "messages_match_statistics") == [
        (102, False, "delivered", 1, 2), (102, False, "failed", 1, 0)]
    assert report.result("messages_match_statistics_open").severity == "warning"
    assert mismatches(report, "messages_match_statistics_open") == [
        (103, False, "clicked", 1, 0), (103, False, "delivered", 0, 1), (103, False, "sent", 1, 0),
        (105, False, "undelivered", 0, 1)]
    assert {r.name for r in report.failures} == {"messages_match_statistics"}
    assert {r.name for r in report.warnings} == {"messages_match_statistics_open"}


def test_the_refresh_window_decides_when_a_campaign_is_settled(loaded):
    # 105 finished 24 h before its fetch: settled under a 12-hour window
    report = run_checks(loaded, CheckContext(refresh_window_hours=12))
    assert mismatches(report, "messages_match_statistics") == [
        (102, False, "delivered", 1, 2), (102, False, "failed", 1, 0), (105, False, "undelivered", 0, 1)]
    assert mismatches(report, "messages_match_statistics_open") == [
        (103, False, "clicked", 1, 0), (103, False, "delivered", 0, 1), (103, False, "sent", 1, 0)]


def test_the_final_statuses_setting_decides_when_a_campaign_is_settled(loaded):
    # final_statuses = ["done"]: 102 (stopped) is still open, so its disagreement is a warning
    report = run_checks(loaded, CheckContext(final_statuses=("done",)))
    assert mismatches(report, "messages_match_statistics") == []
    opened = report.result("messages_match_statistics_open")
    assert opened.offending_rows == 4 + 2  # 103's and 105's, and now 102's two
    assert {"campaign_id": 102, "is_fallback": False, "status": "delivered", "messages_counted": 1,
            "statistics_count": 2} in opened.sample


# ---------------------------------------------------------------------------------------------
# the simulator's messages through the contract
# ---------------------------------------------------------------------------------------------


class SimulatorApi(Api):
    """The simulator's answers, parsed by the contract."""

    def detail(self, campaign_id: int) -> CampaignRecord:
        response = self.http.get(f"{self.sim.base_url}/api/campaigns/{campaign_id}/detail")
        assert response.status_code == 200, response.text
        record = parse_detail(response.content, fetched_at=parsedate_to_datetime(response.headers["Date"]),
                              expected_id=campaign_id)
        assert isinstance(record, CampaignRecord), record
        return record

    def messages(self, campaign_id: int, policy: Any) -> List[MessageRecord]:
        records: List[MessageRecord] = []
        while True:
            response = self.http.get(f"{self.sim.base_url}/api/messages", params={
                "filter[campaign_id]": campaign_id, "page[limit]": 500, "page[offset]": len(records)})
            assert response.status_code == 200, response.text
            page = parse_message_page(response.content, fetched_at=parsedate_to_datetime(response.headers["Date"]),
                                      policy=policy, campaign_id=campaign_id)
            assert not page.rejections, page.rejections
            records += page.records
            if not page.records or len(records) >= page.meta["page"]["total"]:
                return records


def simulator_campaigns(sim: Simulator) -> List[int]:
    """Four small settled campaigns of the catalogue: RCS ones with an SMS fallback first, an SMS one."""
    cat = sim.catalogue
    old = [i for i in range(len(cat)) if cat.created[i] < sim.now_ts - 20 * 86400
           and 50 <= sim.expected_message_count(cat.ids[i]) <= 1500]
    with_fallback = [cat.ids[i] for i in old if cat.kind(i) == "rcs" and cat.profile(i).fallback]
    sms = [cat.ids[i] for i in old if cat.kind(i) == "sms"]
    return with_fallback[:3] + sms[:1]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Tuple[dlt.Pipeline, List[CampaignRecord], List[MessageRecord]]:
    with Simulator(SimulatorConfig(seed=7, campaigns=200)).start() as sim:
        api = SimulatorApi(sim)
        policy = recipient_policy("hash", key=generate_key())
        ids = simulator_campaigns(sim)
        assert len(ids) == 4
        details = [api.detail(cid) for cid in ids]
        messages = [m for cid in ids for m in api.messages(cid, policy)]
    pipeline = duckdb_pipeline(tmp_path_factory.mktemp("simulated"), "simulated")
    info = pipeline.run([
        dlt.resource(batches.campaigns_table(details), name=tables.CAMPAIGNS, columns=tables.CAMPAIGNS_COLUMNS,
                     write_disposition="replace"),
        dlt.resource(batches.statistics_table(details), name=tables.CAMPAIGN_STATISTICS,
                     columns=tables.STATISTICS_COLUMNS, write_disposition="replace"),
    ])
    assert not info.has_failed_jobs
    reads = [read(d.campaign_id, sum(m.campaign_id == d.campaign_id for m in messages)) for d in details]
    load_messages(pipeline, batches.messages_table(MessageColumns.of(messages)).to_pylist(),
                  batches.message_fallbacks_table(MessageColumns.of(messages)).to_pylist(), reads)
    models.build_models(pipeline)
    return pipeline, details, messages


def test_simulator_messages_reconcile_with_its_statistics(simulated):
    pipeline, details, messages = simulated
    # what is compared: fallbacks, not_service_user and settled campaigns are all there
    assert {m.status for m in messages} >= {"delivered", "read", "not_service_user", "expired"}
    assert len(batches.message_fallbacks_table(MessageColumns.of(messages))) > 0
    assert all(d.status == "done" for d in details)
    report = run_checks(pipeline, CheckContext())
    for name in ("messages_match_statistics", "messages_match_statistics_open"):
        assert report.result(name).passed, report.to_text()
    # the messages marts see the same counts as campaign_rates (the statistics)
    by_campaign = {r["campaign_id"]: r for r in rows(pipeline, "campaign_rates", "campaign_id")}
    costs = query(pipeline, "select campaign_id, cast(sum(delivered) as bigint) as delivered from {ds}.message_costs"
                            " group by campaign_id")
    assert {r["campaign_id"]: r["delivered"] for r in costs} == {
        cid: r["delivered"] + r["fallback_delivered"] for cid, r in by_campaign.items()}


def test_one_altered_message_status_fails_the_reconciliation(simulated, tmp_path):
    pipeline, details, messages = simulated
    rows_now = batches.messages_table(MessageColumns.of(messages)).to_pylist()
    target = next(r for r in rows_now if r["status"] == "delivered" and r["channel"] == "rcs")
    target["status"] = "failed"
    campaign_id = target["campaign_id"]
    own = [m for m in messages if m.campaign_id == campaign_id and m.channel == "rcs"]
    delivered = sum(m.status == "delivered" for m in own)
    failed = sum(m.status == "failed" for m in own)
    reads = [read(d.campaign_id, sum(m.campaign_id == d.campaign_id for m in messages)) for d in details]
    try:
        load_messages(pipeline, rows_now, batches.message_fallbacks_table(MessageColumns.of(messages)).to_pylist(), reads)
        report = run_checks(pipeline, CheckContext())
        assert mismatches(report, "messages_match_statistics") == [
            (campaign_id, False, "delivered", delivered - 1, delivered), (campaign_id, False, "failed", failed + 1, failed)]
        assert report.result("messages_match_statistics_open").passed
    finally:
        load_messages(pipeline, batches.messages_table(MessageColumns.of(messages)).to_pylist(),
                      batches.message_fallbacks_table(MessageColumns.of(messages)).to_pylist(), reads)
