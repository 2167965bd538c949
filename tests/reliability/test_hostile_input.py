"""The hostile-payload corpus (corpus.json): each payload parses per the documented tolerance with
the expected values, or is rejected with its raw payload and a specific reason - through
`parse_detail` directly and end to end in one pipeline run, where every campaign listed is either
loaded or rejected (in = loaded + rejected: nothing is silently dropped)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Union

import pytest

from bsg_campaigns.contract.batches import campaigns_table, history_table, rejected_table, statistics_table
from bsg_campaigns.contract.campaigns import CampaignRecord, Rejection, parse_detail
from bsg_campaigns.simulator import Simulator, SimulatorConfig
from conftest import Harness
from test_warehouses import PG_SKIP, PostgresHarness

from .util import TABLE_KEYS

SECTION = "Hostile and malformed input"
CORPUS = json.loads(Path(__file__).with_name("corpus.json").read_text(encoding="utf-8"))["cases"]
FETCHED = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
FIRST_ID = 91_000_000


def materialize(case: Dict[str, Any], campaign_id: int) -> Union[str, bytes]:
    """The body exactly as the API would send it (bytes when the case says a non-UTF-8 encoding)."""
    text = case["payload"]
    for placeholder, (unit, count) in case.get("expand", {}).items():
        text = text.replace(placeholder, unit * count)
    if "deep" in case:
        depth = case["deep"]["depth"]
        text = text.replace(case["deep"]["placeholder"], "[" * depth + "]" * depth)
    text = text.replace("__ID__", str(campaign_id))
    return text.encode(case["encoding"]) if "encoding" in case else text


def as_text(body: Union[str, bytes]) -> str:
    """The raw payload as rejected_records keeps it: characters no warehouse can store (invalid
    UTF-8 bytes, a raw NUL) are replaced with U+FFFD; everything else verbatim."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    return text.replace("\x00", "\ufffd")


def record_values(record: CampaignRecord) -> Dict[str, Any]:
    """A record in the corpus' vocabulary (strings for money and times, dicts for counts)."""
    iso = lambda moment: None if moment is None else moment.isoformat()  # noqa: E731
    return {
        "name": record.name, "sender": record.sender, "status": record.status, "type": record.type,
        "currency": record.currency, "total_messages": record.total_messages,
        "total_price": None if record.total_price is None else str(record.total_price),
        "created_at": iso(record.created_at), "finished_at": iso(record.finished_at),
        "start_at": iso(record.start_at), "real_start_at": iso(record.real_start_at),
        "statistics": {s.status: s.message_count for s in record.statistics if not s.is_fallback},
        "fallback": {s.status: s.message_count for s in record.statistics if s.is_fallback},
        "extra_fields": json.loads(json.dumps(record.extra_fields, default=str)),
        "name_length": len(record.name or ""), "sender_length": len(record.sender or ""),
    }


def check_case(case: Dict[str, Any], result: Any, body: Union[str, bytes], campaign_id: int) -> List[str]:
    """What is wrong with one parse result (empty: as the corpus expects)."""
    if case["expect"] == "parsed":
        if not isinstance(result, CampaignRecord):
            return [f"expected a record, got rejection: {result.reason}"]
        problems = [] if result.campaign_id == campaign_id else [f"campaign_id {result.campaign_id}"]
        values = record_values(result)
        problems += [f"{key}: expected {want!r}, got {values[key]!r}"[:200]
                     for key, want in case.get("values", {}).items() if values[key] != want]
        try:  # a parsed record must always be loadable (the crashes these cases used to cause)
            campaigns_table([result]), statistics_table([result]), history_table([result])
        except Exception as exc:  # noqa: BLE001
            problems.append(f"record cannot be turned into tables: {exc!r}"[:200])
        return problems
    if not isinstance(result, Rejection):
        return ["expected a rejection, got a record"]
    problems = [] if case["reason"] in result.reason else [f"reason {result.reason!r}"]
    if result.payload != as_text(body):
        problems.append("the rejection does not carry the raw payload")
    if result.campaign_id != campaign_id:
        problems.append(f"rejection campaign_id {result.campaign_id}")
    try:
        rejected_table([result])
    except Exception as exc:  # noqa: BLE001
        problems.append(f"rejection cannot be stored: {exc!r}"[:200])
    return problems


def test_corpus_is_large_and_balanced():
    names = [c["name"] for c in CORPUS]
    assert len(CORPUS) >= 40 and len(set(names)) == len(names)
    assert sum(c["expect"] == "rejected" for c in CORPUS) >= 40
    assert all(c["expect"] == "parsed" or c.get("reason") for c in CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_parse_detail_on_corpus(case):
    """Bytes (as the fetcher passes them) and text give the same verdict; never an exception."""
    campaign_id = 7
    body = materialize(case, campaign_id)
    result = parse_detail(body if isinstance(body, bytes) else body.encode("utf-8"),
                          fetched_at=FETCHED, expected_id=campaign_id)
    assert check_case(case, result, body, campaign_id) == []
    if isinstance(body, str):
        as_str = parse_detail(body, fetched_at=FETCHED, expected_id=campaign_id)
        assert type(as_str) is type(result)
        assert getattr(as_str, "reason", None) == getattr(result, "reason", None)


def test_corpus_summary(record):
    """One row for the report: every corpus payload through the parser."""
    failures = []
    for case in CORPUS:
        body = materialize(case, 7)
        result = parse_detail(body if isinstance(body, bytes) else body.encode("utf-8"), fetched_at=FETCHED, expected_id=7)
        failures += [f"{case['name']}: {p}" for p in check_case(case, result, body, 7)]
    parsed = sum(c["expect"] == "parsed" for c in CORPUS)
    record(SECTION, f"corpus of {len(CORPUS)} payloads through parse_detail", ok=not failures, trials=len(CORPUS),
           lost=None, duplicates=None, outcome=f"{parsed} parsed as documented, {len(CORPUS) - parsed} rejected "
           "with their raw payload and a specific reason" if not failures else "; ".join(failures[:3]))
    assert failures == []


def put_fixture(sim: Simulator, campaign_id: int, body: Union[str, bytes], created_at: str) -> None:
    """Serve `body` as this campaign's detail, listed as a plain campaign. The simulator derives a
    fixture's list row from its body, which hostile bodies break (a lone surrogate cannot be
    encoded, deep junk exhausts its JSON parser): list it with a harmless body, then swap."""
    sim.put_detail(campaign_id, "{}", created_at=created_at, type="sms")
    raw = body.encode("utf-8") if isinstance(body, str) else body
    with sim.state_lock:
        sim.fixtures = {**sim.fixtures, campaign_id: dataclasses.replace(sim.fixtures[campaign_id], body=raw)}


def _duplicates(harness: Harness) -> int:
    """Rows beyond the first per table key, summed over the tables (any engine)."""
    return sum(harness.query(f"select count(*) - count(distinct ({key})) from {name}")[0][0]
               for name, key in TABLE_KEYS.items())


def _corpus_end_to_end(make_harness: Callable[[Simulator], Harness], record: Any, where: str) -> None:
    bodies: Dict[int, Union[str, bytes]] = {}
    with Simulator(SimulatorConfig(seed=1, campaigns=0, new_per_day=0)).start() as sim:
        for index, case in enumerate(CORPUS):
            campaign_id = FIRST_ID + index
            bodies[campaign_id] = materialize(case, campaign_id)
            put_fixture(sim, campaign_id, bodies[campaign_id], f"2026-10-30 10:{index // 60:02d}:{index % 60:02d}")
        harness = make_harness(sim)
        report = harness.run(max_attempts=2)
        listed = set(sim.visible_campaign_ids("sms"))
    loaded = {row[0] for row in harness.query("select campaign_id from campaigns")}
    rejected = {row[0]: (row[1], row[2]) for row in harness.query("select campaign_id, reason, payload from rejected_records")}
    problems = []
    for index, case in enumerate(CORPUS):
        campaign_id = FIRST_ID + index
        if case["expect"] == "parsed" and campaign_id not in loaded:
            problems.append(f"{case['name']}: not loaded ({rejected.get(campaign_id, ('?',))[0]})")
        if case["expect"] == "rejected":
            reason, payload = rejected.get(campaign_id, (None, None))
            if reason is None or case["reason"] not in reason or payload != as_text(bodies[campaign_id]):
                problems.append(f"{case['name']}: rejected as {reason!r}")
    stored = dict(harness.query(f"select campaign_id, sender from campaigns where campaign_id in "
                                f"({', '.join(str(i) for i in loaded)})"))
    for index, case in enumerate(CORPUS):  # text values survive the trip through the warehouse
        want = case.get("values", {}).get("sender")
        if want is not None and stored.get(FIRST_ID + index) != want:
            problems.append(f"{case['name']}: sender stored as {stored.get(FIRST_ID + index)!r}")
    dups = _duplicates(harness)
    balanced = listed == set(bodies) and loaded | set(rejected) == listed and not loaded & set(rejected)
    ok = balanced and not problems and report.rejected == len(rejected) and report.failed == 0 and dups == 0
    record(SECTION, f"corpus of {len(CORPUS)} payloads end to end, one run, {where}", ok=ok, trials=len(CORPUS),
           lost=len(listed - loaded - set(rejected)), duplicates=dups,
           outcome=(f"in {len(listed)} = loaded {len(loaded)} + rejected {len(rejected)}; run reported "
                    f"{report.rejected} rejected") if ok else "; ".join(problems[:3]))
    assert listed == set(bodies)
    assert report.failed == 0 and report.gone == 0
    assert loaded | set(rejected) == listed and not loaded & set(rejected)
    assert report.rejected == len(rejected)
    assert problems == []
    assert dups == 0


def test_corpus_end_to_end_in_one_run(tmp_path, record):
    """All payloads served by the simulator and loaded in ONE run: the run finishes, reports the
    rejected count, and every campaign is loaded or rejected - with its raw payload."""
    _corpus_end_to_end(lambda sim: Harness(tmp_path, sim, "hostile"), record, "DuckDB")


def test_corpus_end_to_end_into_postgres(tmp_path, record):
    """The same into PostgreSQL, which is stricter about text than DuckDB (no U+0000 in text or
    jsonb, valid UTF-8 only): one unstorable value would fail the load of the whole package."""
    if PG_SKIP:
        pytest.skip(PG_SKIP)
    created: List[PostgresHarness] = []

    def make(sim: Simulator) -> Harness:
        created.append(PostgresHarness(tmp_path, sim, "hostile"))
        return created[-1]

    try:
        _corpus_end_to_end(make, record, "PostgreSQL")
    finally:
        for harness in created:
            harness.drop()
