"""Property test: campaign_rates and daily_rates equal a plain-Python reference of the issue's
definitions, for random status counts, channels, fallbacks, prices and currencies. Runs the
runner's own DuckDB view statements on an in-memory DuckDB holding tables with the exact arrow
schemas of tables.py (fast enough for many examples; the dlt-loaded path is covered elsewhere)."""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Dict, List, Optional

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from .analyst_data import campaign, stats, utc
from bsg_campaigns import settings
from bsg_campaigns.contract import tables
from bsg_campaigns.analyst import sqlcompile

STATUSES = list(settings.KNOWN_MESSAGE_STATUSES) + ["clicked"]


def ratio(numerator: float, denominator: float) -> Optional[float]:
    return None if denominator == 0 else numerator / denominator


def buckets(counts: Dict[str, int]) -> Dict[str, int]:
    return {
        "messages": sum(counts.values()),
        "delivered": sum(counts.get(s, 0) for s in settings.DELIVERED_STATUSES),
        "read": counts.get("read", 0),
        "failed": sum(counts.get(s, 0) for s in settings.FAILED_STATUSES),
        "pending": sum(counts.get(s, 0) for s in settings.PENDING_STATUSES),
    }


def reference_rates(
    type_: str, price: Optional[Decimal], primary: Dict[str, int], fallback: Dict[str, int]
) -> Dict[str, Any]:
    p, f = buckets(primary), buckets(fallback)
    reached = p["delivered"] + f["delivered"]
    cost = None
    if price is not None and reached:
        cost = (price / reached).quantize(Decimal("0.0000001"), rounding=ROUND_HALF_UP)
    return {
        "messages": p["messages"],
        "delivered": p["delivered"],
        "read": p["read"],
        "failed": p["failed"],
        "pending": p["pending"],
        "unknown_messages": primary.get("unknown", 0),
        "other_messages": primary.get("clicked", 0),
        "fallback_messages": f["messages"],
        "fallback_delivered": f["delivered"],
        "delivery_rate": ratio(p["delivered"], p["messages"]),
        "read_rate": ratio(p["read"], p["delivered"]) if type_ in settings.READ_RECEIPT_CHANNELS else None,
        "fallback_rate": ratio(f["messages"], p["messages"]),
        "fallback_delivery_rate": ratio(f["delivered"], f["messages"]),
        "reach_rate": ratio(reached, p["messages"]),
        "pending_rate": ratio(p["pending"], p["messages"]),
        "failed_rate": ratio(p["failed"], p["messages"]),
        "cost_per_delivered": cost,
    }


counts_st = st.dictionaries(st.sampled_from(STATUSES), st.integers(0, 10_000), max_size=6)
campaign_st = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["rcs", "sms", "viber", "whatsapp", "hlr"]),
        "sender": st.sampled_from(["A", "B"]),
        "currency": st.sampled_from(["USD", "EUR"]),
        "price": st.none() | st.decimals(min_value=0, max_value=100_000, places=7),
        "primary": counts_st,
        "fallback": counts_st,
    }
)


@pytest.fixture(scope="module")
def memory_duckdb():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA ds")
    for name, schema in sqlcompile.SOURCE_TABLES.items():
        empty = pa.Table.from_pylist([], schema=schema)  # noqa: F841 (read by DuckDB's replacement scan)
        con.execute(f"CREATE TABLE ds.{name} AS SELECT * FROM empty")
    _, _, creates = sqlcompile.view_statements("duckdb", sqlcompile.default_table_path("ds"))
    for statement in creates:
        con.execute(statement)
    yield con
    con.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> List[Dict[str, Any]]:
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, r)) for r in cursor.fetchall()]


def close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-12)
    if isinstance(b, Decimal):
        return abs(Decimal(a) - b) <= Decimal("0.0000001")  # computed through a double, rounded to 7 places
    return a == b


@hsettings(max_examples=60, deadline=None, database=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(campaign_st, min_size=1, max_size=5))
def test_rates_match_the_reference(memory_duckdb, generated):
    con = memory_duckdb
    campaigns, statistics = [], []
    for i, c in enumerate(generated, start=1):
        campaigns.append(campaign(i, type=c["type"], sender=c["sender"], currency=c["currency"],
                                  total_price=c["price"], created_at=utc(2024, 6, 1, 12)))
        statistics += stats(i, c["type"], c["primary"]) + stats(i, "sms", c["fallback"], fallback=True)
    campaigns_tbl = pa.Table.from_pylist(campaigns, schema=tables.CAMPAIGNS_SCHEMA)  # noqa: F841
    statistics_tbl = pa.Table.from_pylist(statistics, schema=tables.STATISTICS_SCHEMA)  # noqa: F841
    con.execute("DELETE FROM ds.campaigns")
    con.execute("DELETE FROM ds.campaign_statistics")
    con.execute("INSERT INTO ds.campaigns SELECT * FROM campaigns_tbl")
    con.execute("INSERT INTO ds.campaign_statistics SELECT * FROM statistics_tbl")

    actual = {r["campaign_id"]: r for r in rows(con, "SELECT * FROM ds.campaign_rates")}
    assert sorted(actual) == list(range(1, len(generated) + 1))
    for i, c in enumerate(generated, start=1):
        expected = reference_rates(c["type"], c["price"], c["primary"], c["fallback"])
        wrong = {k: (actual[i][k], v) for k, v in expected.items() if not close(actual[i][k], v)}
        assert not wrong, (c, wrong)

    # daily_rates: ratios of the group's sums
    groups: Dict[tuple, List[Dict[str, Any]]] = defaultdict(list)
    for i, c in enumerate(generated, start=1):
        expected = reference_rates(c["type"], c["price"], c["primary"], c["fallback"])
        groups[(c["sender"], c["type"], c["currency"])].append(expected | {"price": c["price"]})
    daily = {(r["sender"], r["type"], r["currency"]): r for r in rows(con, "SELECT * FROM ds.daily_rates")}
    assert set(daily) == set(groups)
    for key, members in groups.items():
        total = lambda k: sum(m[k] for m in members)  # noqa: E731
        row = daily[key]
        assert row["campaigns"] == len(members)
        assert row["messages"] == total("messages") and row["delivered"] == total("delivered")
        assert close(row["delivery_rate"], ratio(total("delivered"), total("messages")))
        assert close(row["reach_rate"], ratio(total("delivered") + total("fallback_delivered"), total("messages")))
        assert close(row["fallback_delivery_rate"], ratio(total("fallback_delivered"), total("fallback_messages")))
        expected_read = ratio(total("read"), total("delivered")) if key[1] in settings.READ_RECEIPT_CHANNELS else None
        assert close(row["read_rate"], expected_read)
        priced = [m for m in members if m["price"] is not None]
        assert row["total_price"] == (sum(m["price"] for m in priced) if priced else None)
