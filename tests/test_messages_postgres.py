"""Messages on PostgreSQL: a run loads exactly what DuckDB loads from the same simulator (the three
message tables and the messages' rejected_records, row by row: DECIMAL prices, UTC times, JSON
content), and a second run after sim.advance merges the updates (statuses moved, no duplicates),
on both engines, equal to the simulator's truth. Skipped like tests/test_warehouses.py when no
PostgreSQL answers (BSG_REQUIRE_POSTGRES=1 makes that a failure there)."""

from __future__ import annotations

from datetime import timezone
from decimal import Decimal
from typing import Dict, List

import pytest

from bsg_campaigns.contract.privacy import generate_key
from bsg_campaigns.simulator import Simulator, SimulatorConfig
from conftest import Harness
from test_warehouses import PG_SKIP, PostgresHarness, normalized

MESSAGE_TABLES = {
    "messages": "message_id, fetched_at",
    "message_fallbacks": "message_id, fallback_message_id",
    "message_reads": "campaign_id, read_at",
    "rejected_records": "campaign_id, fetched_at, reason",
}
# seed 6, 8 campaigns, 12 new a day: at +4 h 2,208 messages; 6 h later 5,634, and 151 of the
# first 2,208 have moved status (measured), so the second run merges real updates.
SIM = dict(seed=6, campaigns=8, new_per_day=12, message_corrupt_rate=0.02)


def message_snapshot(harness: Harness) -> Dict[str, List[tuple]]:
    return {name: harness.query(f"select * from {name} order by {order}") for name, order in MESSAGE_TABLES.items()}


def truth(sim: Simulator) -> Dict[int, dict]:
    return {m["id"]: m for cid in sim.visible_campaign_ids("rcs") + sim.visible_campaign_ids("sms")
            for m in sim.expected_messages(cid)}


def _check_against_truth(harness: Harness, sim: Simulator) -> Dict[int, str]:
    """Every loaded message equals the simulator's (status, price, currency, times in UTC); every
    message is loaded or rejected; no message id twice. Returns id -> status."""
    expected = truth(sim)
    rows = harness.query("select message_id, status, price, currency, created_at, delivered_at, channel "
                         "from messages")
    assert len(rows) == len({r[0] for r in rows}) == harness.query(
        "select count(distinct message_id) from messages")[0][0]
    # rejected_records appends: a campaign read twice rejects its broken messages twice
    rejected = harness.query("select count(distinct reason) from rejected_records "
                             "where reason like 'message %' or reason like 'data[%'")[0][0]
    assert 0 < rejected and len(rows) + rejected == len(expected)
    for message_id, status, price, currency, created_at, delivered_at, channel in rows:
        msg = expected[message_id]
        served = {"not_service_user": {"rcs": "not_rcs_user"}}.get(msg["status"], {}).get(channel, msg["status"])
        assert status in (msg["status"], served)
        assert isinstance(price, Decimal) and price == Decimal(msg["amount"]["value"])
        assert currency == msg["amount"]["currency"] == "EUR"
        assert created_at.tzinfo is not None
        assert created_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") == msg["created_at"]
        assert (delivered_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
                if delivered_at is not None else None) == msg["delivered_at"]
    return {r[0]: r[1] for r in rows}


@pytest.mark.postgres
@pytest.mark.skipif(bool(PG_SKIP), reason=PG_SKIP or "postgres available")
def test_postgres_messages_equal_duckdb_and_merge_updates(tmp_path):
    key = generate_key()  # one key: the same hashes on both engines
    args = dict(messages=True, recipient_hash_key=key, store_message_text=True, message_page_size=100)
    with Simulator(SimulatorConfig(**SIM)).start() as sim:
        sim.advance(hours=4)
        duck = Harness(tmp_path / "duck", sim, "duck")
        pg = PostgresHarness(tmp_path / "pg", sim)
        try:
            statuses: List[Dict[int, str]] = []
            for hours in (0, 6):  # a first run, then one after the campaigns moved on
                sim.advance(hours=hours)
                for harness in (duck, pg):
                    harness.run(**args)
                loaded = message_snapshot(duck)
                assert normalized(message_snapshot(pg)) == normalized(loaded)
                statuses.append(_check_against_truth(pg, sim))
                assert _check_against_truth(duck, sim) == statuses[-1]
                assert len(loaded["message_fallbacks"]) > 0 and len(loaded["message_reads"]) >= 8
            before, after = statuses
            moved = {i for i in before if before[i] != after.get(i)}
            assert len(moved) > 100 and len(after) > len(before)  # updates merged, new rows inserted
            for name in ("message_fallbacks", "message_reads"):
                key_columns = MESSAGE_TABLES[name]
                assert pg.query(f"select count(*) - count(distinct ({key_columns})) from {name}")[0][0] == 0
            types = dict(pg.query(f"select column_name, data_type from information_schema.columns "
                                  f"where table_schema = '{pg.dataset}' and table_name = 'messages'"))
            assert types["price"] == "numeric" and types["created_at"] == "timestamp with time zone"
            assert types["rcs_options"] == "jsonb"
        finally:
            pg.drop()
