"""Message-level facts end to end: the connector against the simulator over HTTP on loopback.

Every message the API serves is loaded exactly as served (values, not counts); a run in which no
campaign's counts moved asks for no message; moved campaigns are read again and merged, so the
tables equal what the API serves at that moment; a settled campaign whose messages disagree with
its statistics is read again in full, a bounded number of times; the hash key is generated on
first use and a different key is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import stat
import subprocess
import sys
import tomllib
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

import pytest

from bsg_campaigns.api.client import BsgClient
from bsg_campaigns.config import SourceSettings
from bsg_campaigns.contract.privacy import generate_key, key_fingerprint, recipient_policy
from bsg_campaigns.exceptions import ConfigError, UserError
from bsg_campaigns.extract.messages import MessageReader
from bsg_campaigns.incremental.messages import PlannedRead
from bsg_campaigns.report import RunReport
from bsg_campaigns.simulator import Simulator, SimulatorConfig
from bsg_campaigns.simulator.listing import TYPES
from bsg_campaigns.simulator.messages import message_corruption_of
from bsg_campaigns.source import _read_messages

from conftest import Harness

KEY = generate_key()
MESSAGE_COLUMNS = ("message_id, campaign_id, reference_id, channel, source, status, recipient, recipient_scheme, "
                   "country, parts, sender, created_at, sent_at, delivered_at, price, currency, validity_hours, text, "
                   "rcs_options")


def _utc(text: Optional[str]) -> Optional[datetime]:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def expected_rows(sim: Simulator, key: str = KEY, campaign_ids: Optional[List[int]] = None) -> List[Tuple[Any, ...]]:
    """What the messages table must hold: every message the API serves now, as the contract maps
    it (the simulator's zone is UTC), the phone as HMAC-SHA256(key, digits)."""
    secret = bytes.fromhex(key)
    scheme = f"hmac-sha256:{key_fingerprint(secret)}"
    rows = []
    for campaign_id in campaign_ids or sim.visible_campaign_ids():
        for m in sim.expected_messages(campaign_id):
            amount = m.get("amount") or {}
            price = Decimal(amount["value"]) if amount.get("value") is not None else None
            recipient = hmac.new(secret, str(m["phone"]).encode(), hashlib.sha256).hexdigest()
            rows.append((m["id"], m["campaign_id"], m["reference_id"], m["type"], m["source"], m["status"], recipient,
                         scheme, m["country"], m["parts"], m["sender"], _utc(m["created_at"]), _utc(m["sent_at"]),
                         _utc(m["delivered_at"]), price, amount.get("currency"), m["validity"], None, None))
    return sorted(rows)


def expected_fallbacks(sim: Simulator) -> List[Tuple[int, int, str, int, Optional[int]]]:
    rows = []
    for campaign_id in sim.visible_campaign_ids():
        for m in sim.expected_messages(campaign_id):
            for channel, block in (m.get("alternative_channels") or {}).items():
                for fallback_id in block["id"]:
                    rows.append((m["id"], campaign_id, channel, fallback_id, block.get("parts")))
    return sorted(rows)


def message_requests(sim: Simulator) -> int:
    return int(sim.stats()["messages"])


def loaded(harness: Harness) -> List[Tuple[Any, ...]]:
    return harness.query(f"select {MESSAGE_COLUMNS} from messages order by message_id")


def statistics_moved(before: Dict[int, Any], after: Dict[int, Any]) -> Set[int]:
    return {cid for cid in after if cid not in before or before[cid]["statistics"] != after[cid]["statistics"]
            or (before[cid].get("alternative_channels") or {}) != (after[cid].get("alternative_channels") or {})}


@pytest.fixture
def msim():
    with Simulator(SimulatorConfig(seed=23, campaigns=40)).start() as simulator:
        yield simulator


def test_messages_are_off_by_default_and_their_tables_exist_empty(tmp_path, msim):
    harness = Harness(tmp_path, msim)
    report = harness.run()
    assert report.fetched > 0 and message_requests(msim) == 0 and report.messages == {}
    for table in ("messages", "message_fallbacks", "message_reads"):
        assert harness.query(f"select count(*) from {table}") == [(0,)]
    assert "messages" not in harness.source_state


def test_every_message_is_loaded_as_the_api_serves_it_then_runs_read_only_what_moved(tmp_path, msim):
    harness = Harness(tmp_path, msim)
    first = harness.run(messages=True, recipient_hash_key=KEY)
    ids = msim.visible_campaign_ids()
    assert loaded(harness) == expected_rows(msim)
    assert harness.query("select message_id, campaign_id, channel, fallback_message_id, fallback_parts "
                         "from message_fallbacks order by 1, 4") == expected_fallbacks(msim) != []
    # both directions of the link: a fallback SMS finds its RCS message, an RCS message its SMS
    rcs_with_fallback, fallback = expected_fallbacks(msim)[0][0], expected_fallbacks(msim)[0][3]
    assert harness.query(f"select m.channel from message_fallbacks f join messages m on m.message_id = "
                         f"f.fallback_message_id where f.message_id = {rcs_with_fallback}") == [("sms",)]
    assert harness.query(f"select m.channel from message_fallbacks f join messages m on m.message_id = f.message_id "
                         f"where f.fallback_message_id = {fallback}") == [("rcs",)]
    reads = harness.query("select campaign_id, messages, rejected, complete, matches_statistics from message_reads "
                          "order by 1")
    assert reads == [(cid, msim.expected_message_count(cid), 0, True, True) for cid in ids]
    pages = sum(max(1, -(-msim.expected_message_count(cid) // 500)) for cid in ids)
    assert first.messages["campaigns"] == len(ids) and first.messages["requests"] == pages == message_requests(msim)

    # nothing moved: no message request at all
    second = harness.run(messages=True, recipient_hash_key=KEY)
    assert message_requests(msim) == pages and second.messages["requests"] == 0

    # moved: exactly the open campaigns whose counts moved are read again, and merged
    before = {cid: msim.expected_detail(cid) for cid in ids}
    open_before = {int(k) for k in harness.source_state["open"]}
    msim.advance(hours=5)
    after = {cid: msim.expected_detail(cid) for cid in msim.visible_campaign_ids()}
    moved = statistics_moved(before, after)
    moved_open_or_new = {cid for cid in moved if cid in open_before or cid not in before}
    assert moved_open_or_new, "the simulator moved nothing in 5 hours: the test would prove nothing"
    msim.reset_stats()
    third = harness.run(messages=True, recipient_hash_key=KEY)
    assert third.messages["campaigns"] == len(moved_open_or_new)
    assert third.messages["requests"] == message_requests(msim) == sum(
        max(1, -(-msim.expected_message_count(cid) // 500)) for cid in moved_open_or_new)
    assert loaded(harness) == expected_rows(msim)  # every moved status, price and time updated
    assert harness.query("select count(*) = count(distinct message_id) from messages") == [(True,)]


@pytest.mark.parametrize("knobs", [{"max_page_size": 70}, {"page_total": False}, {"max_page_size": 70,
                                                                                  "page_total": False}],
                         ids=["short pages", "no total", "short pages without total"])
def test_paging_variants_read_every_message_once(tmp_path, knobs):
    with Simulator(SimulatorConfig(seed=29, campaigns=12, message_counts={}, **knobs)).start() as sim:
        harness = Harness(tmp_path, sim)
        report = harness.run(messages=True, recipient_hash_key=KEY, message_page_size=200, concurrency=4)
        assert loaded(harness) == expected_rows(sim)
        assert report.messages["matched"] == len(sim.visible_campaign_ids())
        assert report.messages["rows"] == sim.expected_message_count()


def test_a_large_campaign_is_paged_concurrently_and_completely(tmp_path):
    with Simulator(SimulatorConfig(seed=31, campaigns=3, latency_ms=5)).start() as sim:
        big = sim.visible_campaign_ids()[0]
    with Simulator(SimulatorConfig(seed=31, campaigns=3, latency_ms=5, message_counts={big: 12_345})).start() as sim:
        harness = Harness(tmp_path, sim)
        harness.run(messages=True, recipient_hash_key=KEY, concurrency=6, message_page_size=500)
        assert harness.query(f"select count(*), count(distinct message_id), min(message_id), max(message_id) "
                             f"from messages where campaign_id = {big}") == [
            (sim.expected_message_count(big), sim.expected_message_count(big),
             sim.expected_messages(big)[0]["id"], sim.expected_messages(big)[-1]["id"])]
        assert loaded(harness) == expected_rows(sim)
        # pages overlapped: the server saw several message requests at once (counted there, not timed)
        assert sim.stats()["max_in_flight"]["messages"] > 1


def test_a_settled_campaign_that_disagrees_is_read_again_in_full_a_bounded_number_of_times(tmp_path, msim):
    settled = next(cid for cid in msim.visible_campaign_ids("rcs")
                   if msim.settles_at(cid) < msim.now and msim.expected_message_count(cid) > 0)
    wrong = msim.expected_detail(settled)
    wrong["statistics"]["delivered"] += 1  # the detail counts one message the messages do not show
    msim.put_detail(settled, {"data": wrong})
    pages = max(1, -(-msim.expected_message_count(settled) // 500))
    harness = Harness(tmp_path, msim)
    harness.run(messages=True, recipient_hash_key=KEY, message_mismatch_rereads=2)
    assert harness.query(f"select complete, matches_statistics from message_reads where campaign_id = {settled}") == [
        (True, False)]
    assert list(harness.source_state["messages"]["reread"]) == [str(settled)]
    requests = []
    for _ in range(3):
        msim.reset_stats()
        report = harness.run(messages=True, recipient_hash_key=KEY, message_mismatch_rereads=2)
        requests.append((message_requests(msim), report.messages["given_up"]))
    assert requests == [(pages, 0), (pages, 1), (0, 0)]  # two re-reads, then given up: no more requests
    assert harness.source_state["messages"]["reread"] == {}
    assert loaded(harness) == expected_rows(msim)  # the messages themselves are what the API serves


def test_an_incomplete_read_is_read_again_on_the_next_run(tmp_path):
    with Simulator(SimulatorConfig(seed=37, campaigns=8)).start() as sim:
        big = sim.visible_campaign_ids("rcs")[0]
    with Simulator(SimulatorConfig(seed=37, campaigns=8, message_counts={big: 6_000})).start() as sim:
        harness = Harness(tmp_path, sim)
        harness.run(messages=True, recipient_hash_key=KEY)  # everything read once
        sim.advance(hours=2)
        sim.configure(fault_rate=0.5, fault_kinds=["500"], fault_endpoints=["messages"])
        report = harness.run(messages=True, recipient_hash_key=KEY, max_attempts=1, concurrency=2)
        incomplete = report.messages["incomplete"]
        assert incomplete >= 1, "no read failed: the test would prove nothing"
        assert harness.query("select count(*) from message_reads where not complete") == [(incomplete,)]
        sim.configure(fault_rate=0.0)
        report = harness.run(messages=True, recipient_hash_key=KEY)
        assert report.messages["incomplete"] == 0 and report.messages["campaigns"] >= incomplete
        assert loaded(harness) == expected_rows(sim)
        assert harness.query("select count(*) from message_reads where not complete") == [(0,)]


def test_message_pages_the_api_refuses_are_not_an_outage_and_are_read_again(tmp_path, msim):
    # More refused campaigns than the outage streak allows (max(20, 2 x concurrency)): a 4xx is the
    # server answering about a campaign, so the run goes on; those reads are incomplete and the
    # next run reads them again.
    ids = msim.visible_campaign_ids()
    refused = ids[:-2]
    assert len(refused) > 20, "too few campaigns to outlast the outage streak"
    msim.configure(message_client_errors={cid: 422 for cid in refused})
    harness = Harness(tmp_path, msim)
    report = harness.run(messages=True, recipient_hash_key=KEY, concurrency=2)
    assert report.messages["incomplete"] == len(refused)
    assert harness.query("select campaign_id from message_reads where not complete order by 1") == \
        [(cid,) for cid in sorted(refused)]
    assert loaded(harness) == expected_rows(msim, campaign_ids=sorted(ids[-2:]))
    msim.configure(message_client_errors={})
    report = harness.run(messages=True, recipient_hash_key=KEY, concurrency=2)
    assert report.messages["incomplete"] == 0 and report.messages["campaigns"] == len(refused)
    assert loaded(harness) == expected_rows(msim)


def test_the_hash_key_is_generated_on_first_use_and_a_different_key_is_refused(tmp_path, msim, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)  # the project folder whose .dlt/secrets.toml receives the key
    harness = Harness(tmp_path, msim)
    with caplog.at_level(logging.WARNING, logger="bsg_campaigns"):
        harness.run(messages=True)
    secrets_file = tmp_path / ".dlt" / "secrets.toml"
    key = tomllib.loads(secrets_file.read_text())["sources"]["bsg"]["recipient_hash_key"]
    assert len(key) == 64 and stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert str(secrets_file) in caplog.text and key not in caplog.text
    assert loaded(harness) == expected_rows(msim, key=key)
    assert harness.source_state["messages"]["key_fingerprint"] == key_fingerprint(bytes.fromhex(key))

    before = harness.query("select count(*) from messages")
    msim.advance(hours=5)
    with pytest.raises(UserError) as refused:
        harness.run(messages=True, recipient_hash_key=generate_key())
    assert "not the key this dataset's recipients were hashed with" in str(refused.value)
    assert harness.query("select count(*) from messages") == before  # nothing loaded with the other key
    harness.run(messages=True)  # the generated key, from the secrets: joins stay stable
    assert loaded(harness) == expected_rows(msim, key=key)


def test_a_hashed_dataset_without_its_key_stops_the_run():
    settings = SourceSettings()
    settings.messages = True
    with pytest.raises(ConfigError) as missing:
        settings.recipient_policy("0123abcd")
    assert "fingerprint 0123abcd" in str(missing.value) and "backup" in str(missing.value)


def test_the_cli_keeps_the_generated_key_across_processes(tmp_path, msim):
    """Two `bsg-campaigns run` processes in a fresh folder: the first generates the key into
    ./.dlt/secrets.toml, the second reads it, so a recipient's hash is the same in both."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "DLT_"))}
    env.update({"SOURCES__BSG__BASE_URL": msim.base_url, "SOURCES__BSG__API_KEY": msim.api_key,
                "SOURCES__BSG__MESSAGES": "true", "DLT_DATA_DIR": str(tmp_path / "dlt")})
    bsg = str(Path(sys.executable).with_name("bsg-campaigns"))
    summaries = []
    for _ in range(2):
        result = subprocess.run([bsg, "run", "--json", "--no-models"], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=180)
        assert result.returncode == 0, result.stderr
        summaries.append(json.loads(result.stdout))
        msim.advance(hours=3)
    key = tomllib.loads((tmp_path / ".dlt" / "secrets.toml").read_text())["sources"]["bsg"]["recipient_hash_key"]
    assert summaries[0]["messages"]["campaigns"] > 0
    import duckdb

    with duckdb.connect(str(tmp_path / "bsg.duckdb"), read_only=True) as connection:
        schemes = connection.execute("select distinct recipient_scheme from bsg_campaigns.messages").fetchall()
        recipients = connection.execute("select message_id, recipient from bsg_campaigns.messages").fetchall()
    assert schemes == [(f"hmac-sha256:{key_fingerprint(bytes.fromhex(key))}",)]
    secret = bytes.fromhex(key)
    phones = {m["id"]: str(m["phone"]) for cid in msim.visible_campaign_ids() for m in msim.expected_messages(cid)}
    assert recipients and all(hmac.new(secret, phones[mid].encode(), hashlib.sha256).hexdigest() == recipient
                              for mid, recipient in recipients)


def test_rejections_are_handed_on_in_bounded_chunks_and_none_is_lost():
    """Rejections stay Python objects with their raw payloads until their table is built, so a
    chunk is handed to dlt after `batch_rejections` of them however few messages it holds (a
    campaign of broken messages must not pile up ~1 KB each in memory). Messages never fill a
    chunk here (batch_rows is out of reach): only the rejection bound can cut one."""
    rate, seed = 0.3, 6
    with Simulator(SimulatorConfig(seed=seed, campaigns=10, message_corrupt_rate=rate)).start() as sim:
        ids = sim.visible_campaign_ids()
        corrupted = {cid: sum(message_corruption_of(seed, m["id"], rate) is not None
                              for m in sim.expected_messages(cid)) for cid in ids}
        client = BsgClient(sim.base_url, sim.api_key)
        client.login()
        reader = MessageReader(client, recipient_policy("hash", KEY), timezone.utc, concurrency=4, page_size=100)
        channel = {cid: kind for kind in TYPES for cid in sim.visible_campaign_ids(kind)}
        reads = [PlannedRead(cid, {}, channel[cid], "changed") for cid in ids]
        outcomes: List[Any] = []
        chunks = list(_read_messages(reader, reads, outcomes, batch_rows=10**9, report=RunReport(),
                                     batch_rejections=100))
    assert sum(corrupted.values()) > 300  # enough for several chunks
    sizes = [len(chunk.rejections) for chunk in chunks]
    assert len(chunks) >= sum(corrupted.values()) // 200 and all(100 <= n < 200 for n in sizes[:-1]), sizes
    by_campaign = Counter(rejection.campaign_id for chunk in chunks for rejection in chunk.rejections)
    assert by_campaign == {cid: n for cid, n in corrupted.items() if n}  # every broken message, once
    assert sum(chunk.rows for chunk in chunks) == sim.expected_message_count() - sum(corrupted.values())
    assert sorted(read["campaign_id"] for chunk in chunks for read in chunk.reads) == sorted(ids)
