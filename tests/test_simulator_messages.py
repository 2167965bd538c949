"""GET /api/messages on the simulator, over real HTTP on 127.0.0.1: the message schema of the
vendor's OpenAPI spec (bsgworld/go-sdk api/openapi.yaml, MessageApiSchema), messages grouped by
status equal to the detail's statistics at the same simulated time, statuses that only move
forward, fallback SMS linked both ways, paging, filters and validation, and a 2,000,000-message
campaign paged lazily (time and memory reported, not asserted)."""

from __future__ import annotations

import re
import resource
import time
from collections import Counter
from datetime import datetime
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from bsg_campaigns.simulator import Simulator, SimulatorConfig
from bsg_campaigns.simulator.campaign import make_profile
from bsg_campaigns.simulator.catalogue import Catalogue
from bsg_campaigns.simulator.messages import (STAT_KEY_OF_STATUS, CampaignMessages,
                                              prefix_count, split_rank)

# MessageApiSchema's properties (in the spec's order) and enums.
SPEC_KEYS = ["id", "campaign_id", "reference_id", "type", "source", "text", "phone", "validity",
             "status", "amount", "sender", "created_at", "sent_at", "delivered_at", "country",
             "parts", "rcs_options", "alternative_channels"]
MESSAGE_TYPES = {"sms", "viber", "hlr", "rcs", "whatsapp"}
MESSAGE_SOURCES = {"web", "rest", "smpp", "xml", "twoway", "twoway_api", "2fa", "voicebot"}
MESSAGE_STATUSES = {"scheduled", "moderation", "accepted", "sending", "sent", "delivered",
                    "expired", "failed", "undelivered", "unknown", "read", "not_viber_user",
                    "not_service_user"}
CALLING_CODES = {"UA": "380", "PL": "48", "KZ": "7", "DE": "49", "GB": "44", "ES": "34", "RO": "40"}
TS_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
FINAL = {"failed", "undelivered", "expired", "unknown", "not_service_user", "read"}
STAGE = {"moderation": 0, "scheduled": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5,
         **{s: 5 for s in FINAL if s != "read"}}


class Api:
    """A logged-in client of one simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.http = requests.Session()
        token = self.http.post(f"{sim.base_url}/api/auth/login", json={"api_key": sim.api_key})
        self.http.headers["Authorization"] = f"Bearer {token.json()['bearer']}"

    def messages(self, **params: Any) -> requests.Response:
        return self.http.get(f"{self.sim.base_url}/api/messages", params=params)

    def page(self, **params: Any) -> Dict[str, Any]:
        resp = self.messages(**params)
        assert resp.status_code == 200, resp.text
        body: Dict[str, Any] = resp.json()
        return body

    def all(self, **params: Any) -> List[Dict[str, Any]]:
        rows: List[Dict[str, Any]] = []
        while True:
            page = self.page(**{"page[limit]": 500, "page[offset]": len(rows), **params})
            rows += page["data"]
            if not page["data"] or len(rows) >= page["meta"]["page"]["total"]:
                assert len(rows) == page["meta"]["page"]["total"]
                return rows

    def detail(self, cid: int) -> Dict[str, Any]:
        body: Dict[str, Any] = self.http.get(f"{self.sim.base_url}/api/campaigns/{cid}/detail").json()["data"]
        return body


@pytest.fixture
def api(sim: Simulator) -> Api:
    return Api(sim)


@pytest.fixture
def dense() -> Iterator[Simulator]:
    """Many campaigns a day, so that many are young at any moment."""
    with Simulator(SimulatorConfig(seed=23, campaigns=1500, history_days=30,
                                   new_per_day=60)).start() as simulator:
        yield simulator


def by_status(rows: List[Dict[str, Any]], kind: str) -> Tuple[Dict[str, int], Dict[str, int]]:
    """(own channel's messages by statistics key, fallback SMS by status), zero counts left out."""
    own: Counter[str] = Counter()
    fallback: Counter[str] = Counter()
    for m in rows:
        if m["type"] == kind:
            own[STAT_KEY_OF_STATUS.get(m["status"], {}).get(kind, m["status"])] += 1
        else:
            assert kind == "rcs" and m["type"] == "sms"
            fallback[m["status"]] += 1
    return dict(own), dict(fallback)


def nonzero(stats: Optional[Dict[str, int]]) -> Dict[str, int]:
    return {k: v for k, v in (stats or {}).items() if v}


def fallback_stats(detail: Dict[str, Any]) -> Dict[str, int]:
    alt = detail["alternative_channels"]
    return nonzero(alt["sms"]["statistics"]) if alt else {}


def assert_forward(before: str, after: str) -> None:
    assert STAGE[after] >= STAGE[before], (before, after)
    if before in FINAL:
        assert after == before, (before, after)


def young_campaigns(sim: Simulator, n: int, ahead: float = 0.0, age: float = 86400.0) -> List[int]:
    """Campaigns created within the day before now or soon after: they evolve while a test
    advances the clock. Every kind, and the RCS ones with an SMS fallback first."""
    cat = sim.catalogue
    now = sim.now_ts
    chosen = [i for i in range(len(cat)) if now - age <= cat.created[i] <= now + ahead]
    chosen.sort(key=lambda i: (not cat.profile(i).fallback, cat.kind(i), i))
    return [cat.ids[i] for i in chosen[:n]]


# ---------------------------------------------------------------- schema


def check_message(m: Dict[str, Any], now: datetime) -> None:
    assert list(m)[:16] == SPEC_KEYS[:16] and set(m) <= set(SPEC_KEYS)
    assert isinstance(m["id"], int) and m["id"] >= 1 and isinstance(m["campaign_id"], int)
    ref = m["reference_id"]
    assert ref is None or (isinstance(ref, str) and len(ref) <= 32 and ref.isalnum())
    assert m["type"] in MESSAGE_TYPES and m["source"] in MESSAGE_SOURCES
    assert m["status"] in MESSAGE_STATUSES
    assert isinstance(m["text"], str) and m["text"] and isinstance(m["sender"], str)
    assert isinstance(m["phone"], int) and 100000000 <= m["phone"] <= 999999999999999
    assert str(m["phone"]).startswith(CALLING_CODES[m["country"]])
    assert isinstance(m["validity"], int) and 1 <= m["validity"] <= 72
    assert set(m["amount"]) == {"value", "currency"} and m["amount"]["currency"] == "EUR"
    assert re.fullmatch(r"\d+\.\d{7}", m["amount"]["value"])
    assert isinstance(m["parts"], int) and m["parts"] >= 1
    times = [m["created_at"], m["sent_at"], m["delivered_at"]]
    assert TS_RE.match(m["created_at"])
    assert all(ts is None or TS_RE.match(ts) for ts in times)
    present = [ts for ts in times if ts is not None]
    assert present == sorted(present) and present[-1] <= now.strftime("%Y-%m-%d %H:%M:%S")
    assert (m["delivered_at"] is not None) == (m["status"] in ("delivered", "read"))
    assert (m["sent_at"] is None) == (m["status"] in ("moderation", "scheduled", "sending")) \
        or m["status"] == "failed"  # a spam or cancelled message was never sent
    if m["type"] == "rcs":
        assert m["rcs_options"] == {"text": m["text"]}
    alt = m["alternative_channels"]
    if alt is not None:
        assert m["type"] == "rcs" and m["status"] in ("expired", "not_service_user")
        assert set(alt) == {"sms"} and set(alt["sms"]) == {"parts", "id"}
        assert isinstance(alt["sms"]["parts"], int) and len(alt["sms"]["id"]) == 1


def test_messages_follow_the_spec_schema(sim: Simulator, api: Api) -> None:
    sim.advance(days=3)
    ids = young_campaigns(sim, 12, age=4 * 86400)
    seen_types, seen_statuses = set(), set()
    for cid in ids:
        rows = api.all(**{"filter[campaign_id]": cid})
        assert rows == sim.expected_messages(cid)
        for m in rows:
            check_message(m, sim.now)
            assert m["campaign_id"] == cid
            seen_types.add(m["type"])
            seen_statuses.add(m["status"])
    assert {"sms", "rcs"} <= seen_types
    assert {"delivered", "read", "expired", "not_service_user", "undelivered"} <= seen_statuses
    big = max(ids, key=sim.expected_message_count)
    first = api.page(**{"filter[campaign_id]": big, "page[limit]": 15})
    assert list(first) == ["data", "meta"] and len(first["data"]) == 15
    assert first["meta"] == {"page": {"total": sim.expected_message_count(big), "limit": 15,
                                      "offset": 0}}


# ---------------------------------------------------------------- consistency with the detail


def test_messages_by_status_are_the_detail_statistics_at_every_time(dense: Simulator) -> None:
    sim, api = dense, Api(dense)
    ids = young_campaigns(sim, 30, ahead=3 * 3600)
    last: Dict[int, str] = {}
    created: Dict[int, str] = {}
    seen = set()
    checked = 0
    start = sim.now_ts
    moments = {start + hours * 3600 for hours in (0, 0.01, 0.05, 0.2, 1, 3, 6, 12, 30, 60, 100)}
    cat = sim.catalogue
    for cid in ids:  # inside the short phases of the future campaigns too: moderation, sending
        p = cat.profile(cat.index_of(cid))  # type: ignore[arg-type]
        if p.created > start and p.fate != "spam":
            moments |= {(p.creation_end + p.mod_end) / 2, p.actual + p.active / 3,
                        p.actual + p.active * 2 / 3}
    for moment in sorted(moments):
        sim.advance(seconds=moment - sim.now_ts)
        for cid in ids:
            if cid not in sim.visible_campaign_ids():
                continue
            detail = api.detail(cid)
            rows = api.all(**{"filter[campaign_id]": cid})
            own, fallback = by_status(rows, detail["type"])
            assert own == nonzero(detail["statistics"]), (cid, moment)
            assert fallback == fallback_stats(detail), (cid, moment)
            assert sum(own.values()) == detail["total_messages"]
            for m in rows:
                if m["id"] in last:
                    assert_forward(last[m["id"]], m["status"])
                    assert created[m["id"]] == m["created_at"]
                last[m["id"]] = m["status"]
                created[m["id"]] = m["created_at"]
                seen.add(m["status"])
            checked += 1
    assert checked > 150
    assert {"moderation", "scheduled", "sending", "sent", "delivered", "read", "expired",
            "not_service_user"} <= seen


def test_fallback_sms_link_both_ways(sim: Simulator, api: Api) -> None:
    sim.advance(days=6)
    cat = sim.catalogue
    fallback_ids = [cat.ids[i] for i in range(cat.count_visible(sim.now_ts))
                    if cat.profile(i).fallback and cat.profile(i).m_final
                    and cat.profile(i).fate != "spam"][:8]
    assert len(fallback_ids) == 8
    for cid in fallback_ids:
        rows = api.all(**{"filter[campaign_id]": cid})
        by_id = {m["id"]: m for m in rows}
        parents = {m["alternative_channels"]["sms"]["id"][0]: m for m in rows
                   if m["alternative_channels"]}
        sms = [m for m in rows if m["type"] == "sms"]
        assert sms and sorted(parents) == [m["id"] for m in sms]  # a bijection
        assert len(parents) == sum(1 for m in rows if m["type"] == "rcs" and m["status"] in (
            "expired", "not_service_user"))
        for fid, parent in parents.items():
            [child] = api.page(**{"filter[id]": fid})["data"]
            assert child == by_id[fid]
            assert (child["campaign_id"], child["phone"], child["country"], child["text"]) == (
                cid, parent["phone"], parent["country"], parent["text"])
            assert child["alternative_channels"] is None
            assert parent["alternative_channels"]["sms"]["parts"] == child["parts"]
            assert child["created_at"] >= parent["sent_at"]


# ---------------------------------------------------------------- paging and filters


def test_paging_covers_every_message_exactly_once(sim: Simulator, api: Api) -> None:
    sim.advance(hours=20)
    rows = api.all()
    assert len(rows) == sim.expected_message_count()
    ids = [m["id"] for m in rows]
    assert ids == sorted(set(ids))
    visible = sim.visible_campaign_ids()
    assert sorted({m["campaign_id"] for m in rows}) == visible
    cid = visible[len(visible) // 2]
    assert [m for m in rows if m["campaign_id"] == cid] == sim.expected_messages(cid)
    desc = api.page(**{"way": "desc", "page[limit]": 40, "page[offset]": 17})["data"]
    assert [m["id"] for m in desc] == ids[::-1][17:57]
    odd = api.page(**{"page[limit]": 37, "page[offset]": 1001})
    assert odd["data"] == rows[1001:1038] and odd["meta"]["page"]["total"] == len(rows)


def test_filters(sim: Simulator, api: Api) -> None:
    sim.advance(days=4)
    rows = api.all()
    picked = rows[len(rows) // 3]
    assert api.page(**{"filter[id]": picked["id"]})["data"] == [picked]
    assert api.page(**{"filter[id]": picked["id"], "filter[campaign_id]": picked["campaign_id"] + 1,
                       })["data"] == []
    assert api.page(**{"filter[id]": picked["id"] + 10**6})["meta"]["page"]["total"] == 0
    with_ref = [m for m in rows if m["reference_id"]]
    assert with_ref and len(with_ref) < len(rows) // 2  # mostly null
    ref = with_ref[len(with_ref) // 2]
    assert api.page(**{"filter[reference_id]": ref["reference_id"]})["data"] == [ref]
    assert api.page(**{"filter[reference_id]": "0" * 32})["data"] == []
    # the creation window: own messages with their campaign, fallback SMS when they were issued
    lo, hi = "2026-11-01 00:00:00", "2026-11-03 12:00:00"
    expected = [m for m in rows if lo <= m["created_at"] <= hi]
    window = api.all(**{"filter[from]": lo, "filter[to]": hi})
    rcs_campaigns = {m["campaign_id"] for m in rows if m["type"] == "rcs"}
    assert window == expected
    assert any(m["type"] == "sms" and m["campaign_id"] in rcs_campaigns for m in window)
    cid = picked["campaign_id"]
    assert api.all(**{"filter[campaign_id]": cid, "filter[from]": lo, "filter[to]": hi}) == [
        m for m in expected if m["campaign_id"] == cid]


def test_sort_by_phone_and_delivered_within_a_campaign(sim: Simulator, api: Api) -> None:
    sim.advance(days=2)
    cid = young_campaigns(sim, 1)[0]
    rows = sim.expected_messages(cid)
    by_phone = api.all(**{"filter[campaign_id]": cid, "sort": "phone", "way": "desc"})
    assert by_phone == sorted(rows, key=lambda m: (m["phone"], m["id"]), reverse=True)
    by_delivered = api.all(**{"filter[campaign_id]": cid, "sort": "delivered"})
    assert by_delivered == sorted(rows, key=lambda m: (m["delivered_at"] or "", m["id"]))
    refused = api.messages(sort="phone")
    assert refused.status_code == 422 and "filter[campaign_id]" in refused.json()["errors"]["sort"][0]


@pytest.mark.parametrize("params,field,message", [
    ({"page[limit]": 14}, "pagelimit", "This value should be between 15 and 500."),
    ({"page[limit]": 501}, "pagelimit", "This value should be between 15 and 500."),
    ({"page[limit]": "x"}, "pagelimit", "This value should be between 15 and 500."),
    ({"page[offset]": -1}, "pageoffset", "This value should be greater than or equal to 0."),
    ({"sort": "date"}, "sort", "The value you selected is not a valid choice."),
    ({"way": "up"}, "way", "The value you selected is not a valid choice."),
    ({"filter[from]": "2026-11-01"}, "filter", "The date format must be Y-m-d H:i:s."),
    ({"filter[from]": "2026-06-01 00:00:00", "filter[to]": "2026-10-01 00:00:00"}, "filter",
     "The period must not exceed 3 months."),
    ({"filter[from]": "2026-10-02 00:00:00", "filter[to]": "2026-10-01 00:00:00"}, "filter",
     "The start date must be before the end date."),
    ({"filter[campaign_id]": "abc"}, "campaign_id", "The campaign id must be an integer."),
])
def test_validation_errors_use_the_list_shape(api: Api, params: Dict[str, Any], field: str,
                                              message: str) -> None:
    resp = api.messages(**params)
    assert resp.status_code == 422
    assert resp.json() == {"message": "The given data was invalid.", "errors": {field: [message]}}


def test_auth_faults_and_counting(sim: Simulator, api: Api) -> None:
    assert requests.get(f"{sim.base_url}/api/messages").json() == {
        "code": 401, "message": "JWT Token not found"}
    sim.reset_stats()
    sim.configure(fault_rate=1.0, fault_kinds=["503"])
    assert api.messages().status_code == 503
    sim.configure(fault_rate=0.0, max_page_size=20)
    page = api.page(**{"page[limit]": 100})
    assert page["meta"]["page"]["limit"] == 20 and len(page["data"]) == 20
    stats = sim.stats()
    assert stats["messages"] == 2 and stats["faults"] == 1


# ---------------------------------------------------------------- scale


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_two_million_message_campaign_pages_lazily() -> None:
    probe = Catalogue(SimulatorConfig(seed=3, campaigns=6))
    idx = next(i for i in range(6) if probe.kind(i) == "rcs")
    cid = probe.ids[idx]
    cfg = SimulatorConfig(seed=3, campaigns=6, message_counts={cid: 2_000_000})
    with Simulator(cfg).start() as sim:
        api = Api(sim)
        detail = api.detail(cid)
        assert detail["total_messages"] == 2_000_000
        sim.advance(hours=10)
        rss_before = rss_mb()
        timings = []
        for offset in (1_000_000, 0, 1_999_500, 1_234_567):
            started = time.perf_counter()
            page = api.page(**{"filter[campaign_id]": cid, "page[limit]": 500,
                               "page[offset]": offset})
            timings.append(time.perf_counter() - started)
            data = page["data"]
            assert [m["id"] for m in data] == list(range(data[0]["id"], data[0]["id"] + len(data)))
            assert page["meta"]["page"]["total"] >= 2_000_000
            cm = sim.campaign_messages(cid)
            assert data == [cm.message(offset + i) for i in range(len(data))]
        one = api.page(**{"filter[id]": data[7]["id"]})["data"]
        assert one == [data[7]]
        print(f"\n2,000,000-message campaign: {len(timings)} pages of 500, "
              f"{min(timings) * 1000:.0f}..{max(timings) * 1000:.0f} ms per page; RSS "
              f"{rss_before:.0f} MB -> {rss_mb():.0f} MB (max {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


# ---------------------------------------------------------------- the pure rule


@settings(max_examples=300, deadline=None)
@given(sizes=st.lists(st.integers(0, 60), min_size=1, max_size=6).filter(lambda s: sum(s) > 0))
def test_split_rank_is_a_bijection_that_meets_every_deadline(sizes: List[int]) -> None:
    n = sum(sizes)
    placed: Dict[int, List[int]] = {c: [] for c in range(len(sizes))}
    for pos in range(n):
        c, rank = split_rank(sizes, pos)
        assert rank == len(placed[c])  # ranks within a class follow the index order
        placed[c].append(pos)
        # member `rank` of class c sits where floor(F * P) >= rank + 1 implies floor(n * P) > pos
        assert pos <= n * (rank + 1) // sizes[c] - 1
    assert [len(placed[c]) for c in placed] == sizes
    for c in placed:
        for length in range(n + 1):
            assert prefix_count(sizes, c, length) == sum(1 for p in placed[c] if p < length)


def own_counts(cm: CampaignMessages) -> Dict[str, int]:
    counts: Counter[str] = Counter()
    for k in range(cm.own):
        status = cm.own_status(k)
        counts[STAT_KEY_OF_STATUS.get(status, {}).get(cm.kind, status)] += 1
    return dict(counts)


@settings(max_examples=60, deadline=None)
@given(cid=st.integers(53_600_000, 54_000_000), kind=st.sampled_from(["sms", "rcs", "whatsapp"]),
       offsets=st.lists(st.floats(0, 6 * 86400), min_size=2, max_size=5))
def test_index_to_status_rule_counts_exactly_and_only_moves_forward(
        cid: int, kind: str, offsets: List[float]) -> None:
    cat = Catalogue(SimulatorConfig(seed=5, campaigns=1, future_days=0))
    p = make_profile(5, cid, kind, 1, cat.created[0], 0.9)
    cat._profiles[0] = p  # the drawn campaign in place of the catalogue's own
    previous: Optional[List[str]] = None
    for dt in sorted(offsets):
        t = p.created + dt
        cm = CampaignMessages(cat, 0, t, None, "EUR")
        primary, fallback, _, _ = p.counts(t)
        assert own_counts(cm) == nonzero(primary)
        fb = Counter(cm.fallback_status(k) for k in range(cm.fallbacks))
        assert dict(fb) == nonzero(fallback)
        statuses = [cm.own_status(k) for k in range(cm.own)]
        if previous is not None:
            for before, after in zip(previous, statuses):
                assert_forward(before, after)
        previous = statuses
