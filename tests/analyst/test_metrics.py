"""Every metric of the marts, on hand-computed campaigns (see conftest.clean_dataset), on DuckDB."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Dict

import duckdb
import pytest

from bsg_campaigns import settings

from .analyst_data import query

APPROX = dict(rel=1e-12, abs=1e-12)


def assert_row(actual: Dict[str, Any], expected: Dict[str, Any]) -> None:
    for key, value in expected.items():
        assert key in actual, f"missing column {key}"
        if isinstance(value, float):
            assert actual[key] == pytest.approx(value, **APPROX), key
        else:
            assert actual[key] == value, f"{key}: {actual[key]!r} != {value!r}"


# campaign_id -> every campaign_rates metric, computed by hand from conftest.clean_dataset()
CAMPAIGN_RATES = {
    # RCS + SMS fallback. primary: delivered 40, read 30, expired 10, failed 5, sent 5, unknown 2,
    # not_rcs_user 8 (=100); fallback: delivered 12, undelivered 3, sent 1 (=16); price 10 USD
    1: dict(
        type="rcs", currency="USD", total_price=Decimal("10"), created_date=date(2024, 5, 1),
        messages=100, delivered=70, read=30, failed=10 + 5 + 8, pending=5, unknown_messages=2,
        other_messages=0, fallback_messages=16, fallback_delivered=12, fallback_failed=3, fallback_pending=1,
        delivery_rate=70 / 100, read_rate=30 / 70, fallback_rate=16 / 100, fallback_delivery_rate=12 / 16,
        reach_rate=(70 + 12) / 100, pending_rate=5 / 100, failed_rate=23 / 100,
        cost_per_delivered=Decimal("0.1219512"),  # 10 / 82 = 0.12195121..
    ),
    # SMS: no read receipts -> read_rate NULL even though delivered > 0; no fallback -> 0/0 NULL
    2: dict(
        type="sms", messages=10, delivered=7, read=0, failed=3, pending=0,
        fallback_messages=0, fallback_delivered=0,
        delivery_rate=0.7, read_rate=None, fallback_rate=0.0, fallback_delivery_rate=None,
        reach_rate=0.7, pending_rate=0.0, failed_rate=0.3,
        cost_per_delivered=Decimal("0.2285714"),  # 1.6 / 7 = 0.22857142..
    ),
    # fallback-only delivery: every RCS expired, 15 of 20 fallback SMS delivered; price 3 EUR
    3: dict(
        currency="EUR", messages=20, delivered=0, read=0, failed=20, fallback_messages=20, fallback_delivered=15,
        delivery_rate=0.0, read_rate=None,  # 0 read / 0 delivered
        fallback_rate=1.0, fallback_delivery_rate=0.75, reach_rate=0.75, pending_rate=0.0, failed_rate=1.0,
        cost_per_delivered=Decimal("0.2"),  # 3 / (0 + 15)
    ),
    # no statistics at all: every denominator is zero -> NULL, never 0
    4: dict(
        status="scheduled", messages=0, delivered=0, read=0, failed=0, pending=0, fallback_messages=0,
        fallback_delivered=0, delivery_rate=None, read_rate=None, fallback_rate=None,
        fallback_delivery_rate=None, reach_rate=None, pending_rate=None, failed_rate=None,
        cost_per_delivered=None, total_price=Decimal("0"),
    ),
    5: dict(
        currency="UAH", messages=2, delivered=2, read=1, delivery_rate=1.0, read_rate=0.5, reach_rate=1.0,
        cost_per_delivered=Decimal("2"),
    ),
    # created 23:30 UTC: still 2024-05-01; RCS with nothing read yet: read_rate 0.0 (not NULL)
    6: dict(
        created_date=date(2024, 5, 1), messages=10, delivered=1, read=0, pending=9, delivery_rate=0.1,
        read_rate=0.0, pending_rate=0.9, reach_rate=0.1, cost_per_delivered=Decimal("2"),
    ),
    # one message under every documented status: the buckets partition them
    7: dict(
        messages=13, delivered=2, read=1, failed=5, pending=5, unknown_messages=1, other_messages=0,
        delivery_rate=2 / 13, read_rate=1 / 2, pending_rate=5 / 13, failed_rate=5 / 13, reach_rate=2 / 13,
        cost_per_delivered=Decimal("0.65"),
    ),
    # price unknown: cost NULL, rates still computed
    8: dict(messages=10, delivered=10, delivery_rate=1.0, total_price=None, cost_per_delivered=None),
}


@pytest.fixture(scope="module")
def campaign_rates(clean_duckdb):
    rows = query(clean_duckdb, "select * from {ds}.campaign_rates order by campaign_id")
    return {row["campaign_id"]: row for row in rows}


def test_campaign_rates_one_row_per_campaign(campaign_rates):
    assert sorted(campaign_rates) == list(range(1, 9))


@pytest.mark.parametrize("campaign_id", sorted(CAMPAIGN_RATES))
def test_campaign_rates_metrics(campaign_rates, campaign_id):
    assert_row(campaign_rates[campaign_id], CAMPAIGN_RATES[campaign_id])


def test_buckets_partition_the_documented_statuses(campaign_rates):
    """Campaign 7 has one message under each documented status: each status lands in exactly the
    bucket settings.py gives it (delivered = delivered + read)."""
    row = campaign_rates[7]
    assert row["delivered"] == len(settings.DELIVERED_STATUSES)
    assert row["read"] == 1
    assert row["failed"] == len(settings.FAILED_STATUSES)
    assert row["pending"] == len(settings.PENDING_STATUSES)
    assert row["unknown_messages"] == len(settings.UNKNOWN_STATUSES)
    assert row["delivered"] + row["failed"] + row["pending"] + row["unknown_messages"] == row["messages"]


def test_read_receipts_follow_settings(campaign_rates):
    assert {r["type"]: r["has_read_receipts"] for r in campaign_rates.values()} == {
        t: t in settings.READ_RECEIPT_CHANNELS for t in ("rcs", "sms")
    }


def test_rates_are_floats_and_counts_integers(campaign_rates):
    row = campaign_rates[1]
    assert isinstance(row["delivery_rate"], float)
    assert isinstance(row["messages"], int) and isinstance(row["fallback_delivered"], int)
    assert isinstance(row["cost_per_delivered"], Decimal)


# (created_date, sender, type, currency) -> daily_rates metrics, by hand
DAILY_RATES = {
    # campaigns 1 + 6: sums first, then ratios
    (date(2024, 5, 1), "Acme", "rcs", "USD"): dict(
        campaigns=2, messages=110, delivered=71, read=30, failed=23, pending=14, fallback_messages=16,
        fallback_delivered=12, total_price=Decimal("12"), priced_delivered=83,
        delivery_rate=71 / 110, read_rate=30 / 71, fallback_rate=16 / 110, fallback_delivery_rate=12 / 16,
        reach_rate=83 / 110, pending_rate=14 / 110, failed_rate=23 / 110,
        cost_per_delivered=Decimal("0.1445783"),  # 12 / 83 = 0.14457831..
    ),
    # same day, sender and type, other currency: its own row, money never added to USD
    (date(2024, 5, 1), "Acme", "rcs", "UAH"): dict(
        campaigns=1, messages=2, delivered=2, read=1, total_price=Decimal("4"), delivery_rate=1.0,
        read_rate=0.5, cost_per_delivered=Decimal("2"),
    ),
    (date(2024, 5, 1), "Acme", "sms", "USD"): dict(
        campaigns=1, messages=10, delivered=7, read_rate=None, delivery_rate=0.7, fallback_delivery_rate=None,
        total_price=Decimal("1.6"),
    ),
    # campaigns 3 + 4 (4 has no messages): fallback-only delivery, read_rate 0/0
    (date(2024, 5, 2), "Beta", "rcs", "EUR"): dict(
        campaigns=2, messages=20, delivered=0, fallback_messages=20, fallback_delivered=15,
        delivery_rate=0.0, read_rate=None, fallback_rate=1.0, fallback_delivery_rate=0.75, reach_rate=0.75,
        total_price=Decimal("3"), priced_delivered=15, cost_per_delivered=Decimal("0.2"),
    ),
    # campaigns 7 + 8 (8 unpriced): cost is 1.3 / 2, not 1.3 / 12
    (date(2024, 5, 3), "Gamma", "rcs", "EUR"): dict(
        campaigns=2, messages=23, delivered=12, read=1, failed=5, pending=5, delivery_rate=12 / 23,
        read_rate=1 / 12, pending_rate=5 / 23, failed_rate=5 / 23, total_price=Decimal("1.3"),
        priced_delivered=2, cost_per_delivered=Decimal("0.65"),
    ),
}


@pytest.fixture(scope="module")
def daily_rates(clean_duckdb):
    rows = query(clean_duckdb, "select * from {ds}.daily_rates")
    return {(r["created_date"], r["sender"], r["type"], r["currency"]): r for r in rows}


def test_daily_rates_grain(daily_rates):
    assert set(daily_rates) == set(DAILY_RATES)


@pytest.mark.parametrize("key", sorted(DAILY_RATES, key=str))
def test_daily_rates_metrics(daily_rates, key):
    assert_row(daily_rates[key], DAILY_RATES[key])


def test_daily_rates_are_ratios_of_sums_not_averages(daily_rates, campaign_rates):
    row = daily_rates[(date(2024, 5, 1), "Acme", "rcs", "USD")]
    average_of_ratios = (campaign_rates[1]["delivery_rate"] + campaign_rates[6]["delivery_rate"]) / 2
    assert average_of_ratios == pytest.approx(0.4)
    assert row["delivery_rate"] == pytest.approx(71 / 110)
    assert row["delivery_rate"] != pytest.approx(average_of_ratios)


def test_daily_money_per_currency(daily_rates):
    totals: Dict[str, Decimal] = {}
    for (_, _, _, currency), row in daily_rates.items():
        totals[currency] = totals.get(currency, Decimal(0)) + row["total_price"]
    assert totals == {"USD": Decimal("13.6"), "UAH": Decimal("4"), "EUR": Decimal("4.3")}


# statistics_growth of campaign 1: three fetches (the second loaded twice, counted once)
GROWTH_C1 = [
    dict(fetch_number=1, hours_since_start=1.0, messages=100, delivered=25, read=5, pending=75, failed=0,
         fallback_messages=0, fallback_delivered=0, delivery_rate=0.25, read_rate=5 / 25, reach_rate=0.25,
         delivered_share_of_latest=25 / 70, read_share_of_latest=5 / 30),
    dict(fetch_number=2, hours_since_start=6.0, messages=100, delivered=60, read=20, pending=30, failed=10,
         fallback_messages=10, fallback_delivered=5, delivery_rate=0.6, read_rate=20 / 60,
         reach_rate=(60 + 5) / 100, delivered_share_of_latest=60 / 70, read_share_of_latest=20 / 30),
    dict(fetch_number=3, hours_since_start=25 + 55 / 60, messages=100, delivered=70, read=30, pending=5,
         failed=23, fallback_messages=16, fallback_delivered=12, delivery_rate=0.7, read_rate=30 / 70,
         reach_rate=0.82, delivered_share_of_latest=1.0, read_share_of_latest=1.0),
]


@pytest.fixture(scope="module")
def growth(clean_duckdb):
    rows = query(clean_duckdb, "select * from {ds}.statistics_growth order by campaign_id, fetched_at")
    by_campaign: Dict[int, list] = {}
    for row in rows:
        by_campaign.setdefault(row["campaign_id"], []).append(row)
    return by_campaign


def test_growth_grain(growth):
    assert {k: len(v) for k, v in growth.items()} == {1: 3, 2: 1, 6: 1}


@pytest.mark.parametrize("index", range(3))
def test_growth_campaign_1(growth, index):
    assert_row(growth[1][index], GROWTH_C1[index])


def test_growth_sms_and_nothing_read(growth):
    sms = growth[2][0]
    assert sms["read_rate"] is None and sms["read_share_of_latest"] is None
    assert sms["hours_since_start"] == pytest.approx(20 + 59 / 60)
    rcs_unread = growth[6][0]
    assert rcs_unread["read_rate"] == 0.0
    assert rcs_unread["read_share_of_latest"] is None  # 0 / 0 read at the latest fetch


def test_dates_do_not_depend_on_the_session_time_zone(clean_duckdb):
    """created_date is the UTC day even when the reading session runs in Tokyo (UTC+9), where
    campaign 6 (23:30 UTC) was created on 2 May."""
    path = clean_duckdb.destination_client().config.credentials.database
    con = duckdb.connect(path, read_only=True)
    try:
        con.execute("SET TimeZone = 'Asia/Tokyo'")
        catalog = con.execute("select current_database()").fetchone()[0]
        rows = con.execute(
            f'select campaign_id, created_date from "{catalog}".bsg_campaigns.campaign_rates order by 1'
        ).fetchall()
        hours = con.execute(
            f'select hours_since_start from "{catalog}".bsg_campaigns.statistics_growth where campaign_id = 6'
        ).fetchone()[0]
    finally:
        con.close()
    assert dict(rows)[6] == date(2024, 5, 1)
    assert hours == pytest.approx(12 + 29 / 60)
