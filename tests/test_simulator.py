"""The BSG One-API simulator, exercised over real HTTP on 127.0.0.1 (plus a few pure checks).

The simulator is the ground truth for integration tests and benchmarks, so these tests pin its
faithfulness to the reference: bodies, status codes, validation rules, evolution of counts."""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from bsg_campaigns.simulator import Simulator, SimulatorConfig
from bsg_campaigns.simulator.campaign import FALLBACK_KEYS, PRIMARY_KEYS, make_profile

DETAIL_KEYS = ["id", "name", "sender", "status", "type", "started_at", "actual_start_at",
               "finished_at", "created_at", "statistics", "total_messages", "total_phones",
               "total_price", "currency", "alternative_channels"]
LIST_KEYS = ["id", "name", "sender", "status", "message_type", "start_at", "real_start_at",
             "finished_at", "created_at", "statistics", "calculated_price", "currency"]
PRICE_RE = re.compile(r"^\d+\.\d{7}$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimulatorConfig(seed=7, campaigns=300)).start() as s:
        yield s


def session(sim: Simulator) -> requests.Session:
    s = requests.Session()
    resp = s.post(f"{sim.base_url}/api/auth/login", json={"api_key": sim.api_key})
    assert resp.status_code == 200
    s.headers["Authorization"] = f"Bearer {resp.json()['bearer']}"
    return s


def detail(s: requests.Session, sim: Simulator, cid: int) -> requests.Response:
    return s.get(f"{sim.base_url}/api/campaigns/{cid}/detail")


def list_all(s: requests.Session, sim: Simulator, **params: Any) -> List[Dict[str, Any]]:
    rows: List[Dict[str, Any]] = []
    offset = 0
    while True:
        resp = s.get(f"{sim.base_url}/api/campaigns",
                     params={"page[offset]": offset, "page[limit]": 500, **params})
        assert resp.status_code == 200, resp.text
        page = resp.json()
        rows += page["data"]
        offset += page["meta"]["page"]["limit"]
        if offset >= page["meta"]["page"]["total"]:
            return rows


def jwt_payload(token: str) -> Dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# ---------------------------------------------------------------- auth


def test_login_issues_hs256_jwt_with_configured_lifetime(sim: Simulator) -> None:
    resp = requests.post(f"{sim.base_url}/api/auth/login", json={"api_key": sim.api_key})
    assert resp.status_code == 200 and list(resp.json()) == ["bearer"]
    token = resp.json()["bearer"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    payload = jwt_payload(token)
    assert header["alg"] == "HS256"
    assert set(payload) == {"iat", "exp", "sub", "jti"}
    assert payload["exp"] - payload["iat"] == 30 * 24 * 3600
    assert abs(payload["iat"] - time.time()) < 5  # the real wall clock, not the simulated one


def test_login_rejections_are_422(sim: Simulator) -> None:
    url = f"{sim.base_url}/api/auth/login"
    wrong = requests.post(url, json={"api_key": "live_nope"})
    assert wrong.status_code == 422
    assert wrong.json() == {"message": "An internal error occurred",
                            "errors": {"text": "API Key not found"}}
    assert requests.post(url, data=b"{not json").status_code == 422
    assert requests.post(url).status_code == 422


def test_auth_errors_are_401_with_lexik_bodies(sim: Simulator) -> None:
    url = f"{sim.base_url}/api/campaigns"
    assert requests.get(url).json() == {"code": 401, "message": "JWT Token not found"}
    bad = requests.get(url, headers={"Authorization": "Bearer abc.def.ghi"})
    assert bad.status_code == 401 and bad.json()["message"] == "Invalid JWT Token"
    typo = requests.get(url, headers={"Authorization": "Bearer: abc"})
    assert typo.status_code == 401 and typo.json()["message"] == "JWT Token not found"


def test_token_expires_by_wall_clock_and_refresh_needs_a_valid_token() -> None:
    with Simulator(SimulatorConfig(token_lifetime_s=1)).start() as sim:
        s = session(sim)
        first = s.post(f"{sim.base_url}/api/auth/refresh")
        assert first.status_code == 200
        fresh = first.json()["bearer"]
        assert fresh != s.headers["Authorization"][7:]
        assert s.get(f"{sim.base_url}/api/campaigns").status_code == 200
        time.sleep(1.5)
        expired = s.get(f"{sim.base_url}/api/campaigns")
        assert expired.status_code == 401
        assert expired.json() == {"code": 401, "message": "Expired JWT Token"}
        assert s.post(f"{sim.base_url}/api/auth/refresh").status_code == 401
        assert session(sim).get(f"{sim.base_url}/api/campaigns").status_code == 200


def test_revoke_key(sim: Simulator) -> None:
    s = session(sim)
    sim.revoke_key()
    assert s.get(f"{sim.base_url}/api/campaigns").json()["message"] == "Invalid JWT Token"
    login = requests.post(f"{sim.base_url}/api/auth/login", json={"api_key": sim.api_key})
    assert login.status_code == 422 and login.json()["errors"]["text"] == "API Key not found"


# ---------------------------------------------------------------- list


def test_list_pages_cover_exactly_the_visible_campaigns(sim: Simulator) -> None:
    s = session(sim)
    resp = s.get(f"{sim.base_url}/api/campaigns",
                 params={"filter[type]": "rcs", "page[limit]": 30, "page[offset]": 30})
    page = resp.json()
    assert page["meta"]["page"]["limit"] == 30 and page["meta"]["page"]["offset"] == 30
    assert len(page["data"]) == 30 and list(page["data"][0]) == LIST_KEYS
    rows = list_all(s, sim, **{"filter[type]": "rcs"})
    assert [r["id"] for r in rows] == sim.visible_campaign_ids("rcs")
    assert {r["message_type"] for r in rows} == {"rcs"}
    assert all(TS_RE.match(r["created_at"]) for r in rows)
    desc = list_all(s, sim, **{"filter[type]": "rcs", "way": "desc"})
    assert [r["id"] for r in desc] == sim.visible_campaign_ids("rcs")[::-1]
    by_sender = list_all(s, sim, **{"filter[type]": "rcs", "sort": "sender"})
    assert [r["sender"] for r in by_sender] == sorted(r["sender"] for r in rows)


def test_list_defaults_to_sms(sim: Simulator) -> None:
    s = session(sim)
    rows = list_all(s, sim)
    assert rows and {r["message_type"] for r in rows} == {"sms"}
    assert [r["id"] for r in rows] == sim.visible_campaign_ids("sms")


def test_max_page_size_serves_fewer_and_says_so(sim: Simulator) -> None:
    s = session(sim)
    sim.configure(max_page_size=20)
    page = s.get(f"{sim.base_url}/api/campaigns",
                 params={"filter[type]": "rcs", "page[limit]": 100}).json()
    assert len(page["data"]) == 20 and page["meta"]["page"]["limit"] == 20
    assert page["meta"]["page"]["total"] == len(sim.visible_campaign_ids("rcs"))


def test_page_total_and_page_offset_knobs(sim: Simulator) -> None:
    """For the client's paging without meta.page.total: omit it; then ignore page[offset] too."""
    s = session(sim)
    params = {"filter[type]": "rcs", "page[limit]": 30}
    first = s.get(f"{sim.base_url}/api/campaigns", params=params).json()
    second = s.get(f"{sim.base_url}/api/campaigns", params={**params, "page[offset]": 30}).json()
    sim.configure(page_total=False)
    untotalled = s.get(f"{sim.base_url}/api/campaigns", params={**params, "page[offset]": 30}).json()
    assert untotalled == {"data": second["data"], "meta": {"page": {"limit": 30, "offset": 30}}}
    sim.configure(page_offset=False)
    unpaged = s.get(f"{sim.base_url}/api/campaigns", params={**params, "page[offset]": 30}).json()
    assert unpaged["data"] == first["data"] != second["data"] and "total" not in unpaged["meta"]["page"]


@pytest.mark.parametrize("limit", [15, 29, 501, "abc"])
def test_page_limit_outside_30_500_is_422(sim: Simulator, limit: Any) -> None:
    """The vendor's spec allows 30..500 and its server's error text says 15..500: the simulator
    accepts only where both agree, so a client asking for less than 30 is caught here."""
    resp = session(sim).get(f"{sim.base_url}/api/campaigns", params={"page[limit]": limit})
    assert resp.status_code == 422
    assert resp.json() == {"message": "The given data was invalid.",
                           "errors": {"pagelimit": ["This value should be between 30 and 500."]}}
    assert session(sim).get(f"{sim.base_url}/api/campaigns", params={"page[limit]": 30}).status_code == 200


def test_date_window_rules(sim: Simulator) -> None:
    s = session(sim)
    url = f"{sim.base_url}/api/campaigns"

    def get(frm: str, to: str) -> requests.Response:
        return s.get(url, params={"filter[from]": frm, "filter[to]": to})

    assert get("2026-08-01 12:00:00", "2026-11-01 12:00:00").status_code == 200
    too_long = get("2026-08-01 12:00:00", "2026-11-01 12:00:01")
    assert too_long.status_code == 422
    assert too_long.json()["errors"] == {"filter": ["The period must not exceed 3 months."]}
    assert get("2026-11-01 00:00:00", "2026-12-05 00:00:00").status_code == 422  # > now + 30 d
    assert get("2026-11-01", "2026-11-02").status_code == 422
    window = s.get(url, params={"filter[type]": "rcs", "filter[from]": "2026-10-01 00:00:00",
                                "filter[to]": "2026-10-10 23:59:59", "page[limit]": 500}).json()
    assert window["data"] and all("2026-10-01" <= r["created_at"] <= "2026-10-10 23:59:59"
                                  for r in window["data"])
    assert len(window["data"]) == window["meta"]["page"]["total"]


def test_search_by_sender_and_taskname(sim: Simulator) -> None:
    s = session(sim)
    rows = list_all(s, sim, **{"filter[type]": "rcs", "search[field]": "sender",
                               "search[value]": "ромашка"})
    assert rows and {r["sender"] for r in rows} == {"Кафе Ромашка"}
    named = list_all(s, sim, **{"filter[type]": "rcs", "search[field]": "taskname",
                                "search[value]": "api campaign"})
    assert named and all("api campaign" in r["name"] for r in named)


# ---------------------------------------------------------------- detail


def test_detail_real_shape_and_exact_values(sim: Simulator) -> None:
    s = session(sim)
    shapes = set()
    for cid in sim.visible_campaign_ids()[::7]:
        resp = detail(s, sim, cid)
        assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
        body = resp.json()
        assert list(body) == ["data"]
        obj = body["data"]
        assert list(obj) == DETAIL_KEYS
        assert obj == sim.expected_detail(cid)
        assert list(obj["statistics"]) == list(PRIMARY_KEYS)
        assert sum(obj["statistics"].values()) == obj["total_messages"]
        assert PRICE_RE.match(obj["total_price"]) and obj["currency"] == "EUR"
        alt = obj["alternative_channels"]
        if alt == []:
            shapes.add("none")
        else:
            shapes.add("sms")
            assert list(alt) == ["sms"] and list(alt["sms"]) == ["statistics"]
            assert list(alt["sms"]["statistics"]) == list(FALLBACK_KEYS)
        if obj["type"] == "sms":
            assert obj["statistics"]["read"] == 0 and alt == []
        if obj["actual_start_at"] is None:
            assert obj["finished_at"] is None
    assert shapes == {"none", "sms"}


def test_price_is_exact_decimal_of_sent_messages(sim: Simulator) -> None:
    s = session(sim)
    sim.advance(days=10)  # the old campaigns are settled
    checked = 0
    for cid in sim.visible_campaign_ids("rcs")[:60]:
        obj = detail(s, sim, cid).json()["data"]
        profile = sim.catalogue.profile(sim.catalogue.index_of(cid))
        if obj["status"] != "done":
            continue
        fb = obj["alternative_channels"]
        fb_sent = sum(fb["sms"]["statistics"].values()) if fb else 0
        assert Decimal(obj["total_price"]) == obj["total_messages"] * profile.unit + \
            fb_sent * profile.fb_unit
        checked += 1
    assert checked > 20


def test_detail_errors(sim: Simulator) -> None:
    s = session(sim)
    future = max(sim.catalogue.ids)
    for cid in (1, future):
        resp = detail(s, sim, cid)
        assert resp.status_code == 422
        assert resp.json() == {"message": "Invalid campaign id", "errors": []}
    assert detail(s, sim, "abc").status_code == 404  # type: ignore[arg-type]
    assert detail(s, sim, "abc").json() == {"message": "Not Found"}  # type: ignore[arg-type]
    assert s.get(f"{sim.base_url}/api/nothing").status_code == 404


def test_counts_evolve_and_settle(sim: Simulator) -> None:
    s = session(sim)
    cat = sim.catalogue
    # the next rcs campaign (created after now) that sends for a while and completes
    idx = next(i for i in range(len(cat)) if cat.created[i] > sim.now.timestamp()
               and cat.kind(i) == "rcs" and cat.profile(i).active > 120
               and cat.profile(i).fate == "done" and not cat.profile(i).pause_len
               and cat.profile(i).start_at == cat.created[i])  # "send now"
    cid = cat.ids[idx]
    sim.advance(seconds=cat.created[idx] - sim.now.timestamp())
    seen_status: List[str] = []
    prev = None
    for step in [15] * 120 + [3600] * 30:
        obj = detail(s, sim, cid).json()["data"]
        assert obj == detail(s, sim, cid).json()["data"]  # same clock, same body
        stats = obj["statistics"]
        assert sum(stats.values()) == obj["total_messages"]
        if not seen_status or seen_status[-1] != obj["status"]:
            seen_status.append(obj["status"])
        cumulative = (stats["delivered"] + stats["read"], stats["read"], stats["expired"],
                      stats["not_rcs_user"], Decimal(obj["total_price"]))
        assert prev is None or all(a <= b for a, b in zip(prev, cumulative))
        prev = cumulative
        sim.advance(seconds=step)
    assert seen_status[:2] == ["creation", "moderation"]
    assert seen_status[-2:] == ["sending", "done"]  # "scheduled" lasts only 2..20 s here
    sim.advance(days=6)
    settled = detail(s, sim, cid).json()["data"]
    assert settled != obj  # still moving 30 h after the start (reads, expiries)
    sim.advance(days=30)
    assert detail(s, sim, cid).json()["data"] == settled
    assert settled["statistics"]["sent"] == settled["statistics"]["sending"] == 0
    assert settled["statistics"]["read"] > 0


def test_new_campaigns_appear_and_date_header_follows_clock(sim: Simulator) -> None:
    s = session(sim)
    before = sim.visible_campaign_ids()
    resp = s.get(f"{sim.base_url}/api/campaigns")
    assert parsedate_to_datetime(resp.headers["Date"]) == sim.now == \
        datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    nxt = sim.catalogue.ids[len(before)]
    assert detail(s, sim, nxt).status_code == 422
    sim.advance(hours=24)
    after = sim.visible_campaign_ids()
    assert 5 <= len(after) - len(before) <= 60 and after[:len(before)] == before
    assert detail(s, sim, nxt).status_code == 200
    resp = s.get(f"{sim.base_url}/api/campaigns")
    assert parsedate_to_datetime(resp.headers["Date"]) == sim.now
    assert sim.now == datetime(2026, 11, 2, 12, tzinfo=timezone.utc)


def test_server_timezone_renders_naive_local_times() -> None:
    with Simulator(SimulatorConfig(seed=7, server_timezone="Europe/Kyiv")).start() as kyiv, \
            Simulator(SimulatorConfig(seed=7)).start() as utc:
        cid = utc.visible_campaign_ids()[0]
        local = detail(session(kyiv), kyiv, cid).json()["data"]["created_at"]
        plain = detail(session(utc), utc, cid).json()["data"]["created_at"]
        shift = datetime.fromisoformat(local) - datetime.fromisoformat(plain)
        assert shift in (timedelta(hours=2), timedelta(hours=3))


# ---------------------------------------------------------------- fixtures


def test_put_detail_and_remove(sim: Simulator) -> None:
    s = session(sim)
    sim.put_detail(999, '{"en-US": {"id": 999, "total_price": 0.30}}')
    resp = detail(s, sim, 999)
    assert resp.text == '{"en-US": {"id": 999, "total_price": 0.30}}'
    sim.put_detail(1000, {"data": {"id": 1000, "sender": "X"}}, created_at="2026-10-20 10:00:00",
                   type="sms")
    assert detail(s, sim, 1000).json() == {"data": {"id": 1000, "sender": "X"}}
    rows = list_all(s, sim)
    assert 1000 in [r["id"] for r in rows] and 1000 in sim.visible_campaign_ids("sms")
    row = next(r for r in rows if r["id"] == 1000)
    assert row["created_at"] == "2026-10-20 10:00:00" and row["sender"] == "X"
    sim.put_detail(1000, {"data": {"id": 1000, "sender": "Y"}})  # new body, still listed
    assert detail(s, sim, 1000).json()["data"]["sender"] == "Y"
    assert [r["sender"] for r in list_all(s, sim) if r["id"] == 1000] == ["Y"]
    sim.put_detail(1001, "oops", status=500)
    assert detail(s, sim, 1001).status_code == 500 and detail(s, sim, 1001).text == "oops"
    victim = sim.visible_campaign_ids("sms")[0]
    sim.remove(victim)
    assert detail(s, sim, victim).json() == {"message": "Invalid campaign id", "errors": []}
    assert victim not in [r["id"] for r in list_all(s, sim)]
    assert victim not in sim.visible_campaign_ids()


# ---------------------------------------------------------------- variants and corruption


def test_mixed_variants_cover_every_option() -> None:
    with Simulator(SimulatorConfig(seed=3, campaigns=200, variants="mixed")).start() as sim:
        s = session(sim)
        seen: Dict[str, set] = {k: set() for k in ("envelope", "type", "start", "actual",
                                                   "price", "stats", "no_fb")}
        for cid in sim.visible_campaign_ids():
            text = detail(s, sim, cid).text
            body = json.loads(text, parse_float=Decimal)
            key = next(iter(body))
            envelope = "data" if key == "data" else "locale" if "-" in key else "bare"
            seen["envelope"].add(envelope)
            obj = body if envelope == "bare" else body[key]
            seen["type"].add("type" if "type" in obj else "message_type")
            seen["start"].add(next(k for k in ("started_at", "start_at", "start_date") if k in obj))
            seen["actual"].add("actual_start_at" if "actual_start_at" in obj else "real_start_at")
            expected = sim.expected_detail(cid)
            price = obj["total_price"]
            seen["price"].add("string" if isinstance(price, str) else "number")  # 0 is an int
            assert Decimal(str(price)) == Decimal(expected["total_price"])  # exact either way
            seen["stats"].add(type(obj["statistics"]).__name__)
            if expected["alternative_channels"] == []:
                seen["no_fb"].add(repr(obj.get("alternative_channels", "absent")))
        assert seen == {"envelope": {"data", "locale", "bare"}, "type": {"type", "message_type"},
                        "start": {"started_at", "start_at", "start_date"},
                        "actual": {"actual_start_at", "real_start_at"},
                        "price": {"string", "number"}, "stats": {"dict", "list"},
                        "no_fb": {"[]", "None", "'absent'"}}


def test_forced_variants_and_number_price_digits(sim: Simulator) -> None:
    s = session(sim)
    sim.configure(variants={"envelope": "locale", "type_field": "message_type",
                            "start_field": "start_date", "actual_start_field": "real_start_at",
                            "price_as": "number", "statistics_as": "list",
                            "no_fallback_as": "null"})
    for cid in sim.visible_campaign_ids("sms")[:5]:
        text = detail(s, sim, cid).text
        obj = json.loads(text)["en-US"]
        assert {"message_type", "start_date", "real_start_at"} <= set(obj)
        assert isinstance(obj["statistics"], list) and obj["alternative_channels"] is None
        digits = re.search(r'"total_price":([0-9.]+)', text).group(1)  # type: ignore[union-attr]
        assert Decimal(digits) == Decimal(sim.expected_detail(cid)["total_price"])


def test_corruption_is_persistent_and_extra_fields_appear(sim: Simulator) -> None:
    s = session(sim)
    sim.configure(corrupt_rate=0.3, extra_fields=True)
    ids = sim.visible_campaign_ids()[:80]
    first = {cid: detail(s, sim, cid).text for cid in ids}
    assert first == {cid: detail(s, sim, cid).text for cid in ids}
    broken = 0
    for cid, text in first.items():
        body = json.loads(text)
        obj = body["data"]
        ok = (isinstance(obj, dict) and "id" in obj and isinstance(obj["statistics"], dict)
              and all(isinstance(v, int) for v in obj["statistics"].values())
              and obj["total_price"] != "abc")
        broken += not ok
        if ok:
            assert obj["priority"] in (1, 2, 3) and "channel_options" in obj
    assert 10 <= broken <= 40


# ---------------------------------------------------------------- traffic knobs


def test_fault_injection_is_counted(sim: Simulator) -> None:
    s = session(sim)
    cid = sim.visible_campaign_ids()[0]
    sim.reset_stats()
    sim.configure(fault_rate=1.0, fault_kinds=["500"])
    assert detail(s, sim, cid).status_code == 500
    sim.configure(fault_kinds=["502"])
    gateway = detail(s, sim, cid)
    assert gateway.status_code == 502 and "text/html" in gateway.headers["Content-Type"]
    sim.configure(fault_kinds=["429_retry_after_seconds"])
    limited = detail(s, sim, cid)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    sim.configure(fault_kinds=["truncated"])
    truncated = detail(s, sim, cid)
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        truncated.json()
    sim.configure(fault_kinds=["reset"])
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sim.base_url}/api/campaigns/{cid}/detail",
                     headers={"Authorization": s.headers["Authorization"]})
    assert session(sim)  # login is not faulted unless auth_fault_rate > 0
    stats = sim.stats()
    assert stats["faults"] == 5 and stats["detail"] == 5 and stats["login"] == 1
    assert stats["status"] == {"200": 2, "429": 1, "500": 1, "502": 1}
    assert stats["total"] == 6
    sim.configure(fault_rate=0.3, fault_kinds=["503"])
    sim.reset_stats()
    codes = [detail(s, sim, cid).status_code for _ in range(200)]
    assert sim.stats()["faults"] == codes.count(503) and 30 <= codes.count(503) <= 90


def test_other_fault_kinds_and_auth_faults(sim: Simulator) -> None:
    s = session(sim)
    url = f"{sim.base_url}/api/campaigns"
    sim.configure(fault_rate=1.0, fault_kinds=["429_retry_after_date"])
    dated = s.get(url)
    assert dated.status_code == 429
    assert parsedate_to_datetime(dated.headers["Retry-After"]) == sim.now + timedelta(seconds=1)
    sim.configure(fault_kinds=["non_json"])
    garbage = s.get(url)
    assert garbage.status_code == 200 and garbage.headers["Content-Type"] == "text/plain"
    sim.configure(fault_kinds=["html_200"])
    html = s.get(url)
    assert html.status_code == 200 and html.text.startswith("<!DOCTYPE html>")
    login = f"{sim.base_url}/api/auth/login"
    assert requests.post(login, json={"api_key": sim.api_key}).status_code == 200
    sim.configure(auth_fault_rate=1.0, fault_kinds=["503"])
    assert requests.post(login, json={"api_key": sim.api_key}).status_code == 503
    assert s.post(f"{sim.base_url}/api/auth/refresh").status_code == 503
    with pytest.raises(ValueError):
        sim.configure(fault_kinds=["teapot"])


def test_outage_and_timeout(sim: Simulator) -> None:
    s = session(sim)
    sim.configure(outage=True)
    assert s.get(f"{sim.base_url}/api/campaigns").status_code == 503
    sim.configure(outage=False, fault_rate=1.0, fault_kinds=["timeout"], timeout_sleep_s=0.3)
    with pytest.raises(requests.Timeout):
        s.get(f"{sim.base_url}/api/campaigns", timeout=0.1)


def test_rate_limit_gives_429_with_retry_after(sim: Simulator) -> None:
    s = session(sim)
    sim.configure(rate_limit=5)
    codes = [s.get(f"{sim.base_url}/api/campaigns") for _ in range(12)]
    limited = [r for r in codes if r.status_code == 429]
    assert len(limited) >= 5
    assert limited[0].headers["Retry-After"] == "1"
    assert limited[0].json() == {"message": "Too many duplicate request detected"}
    sim.configure(rate_limit_retry_after=False)
    later = [s.get(f"{sim.base_url}/api/campaigns") for _ in range(12)]
    assert all("Retry-After" not in r.headers for r in later if r.status_code == 429)


def test_latency_and_many_keepalive_clients() -> None:
    with Simulator(SimulatorConfig(campaigns=500, latency_ms=20)).start() as sim:
        token = session(sim).headers["Authorization"]
        ids = sim.visible_campaign_ids()

        def worker(k: int) -> int:
            with requests.Session() as s:
                s.headers["Authorization"] = token
                return sum(detail(s, sim, ids[(k * 5 + j) % len(ids)]).status_code == 200
                           for j in range(5))

        # Served concurrently, shown by construction rather than a stopwatch: 63 connections hold
        # a half-sent request (each occupies a server thread), and a whole request on a 64th is
        # still answered; a server handling one connection at a time would never answer it.
        host, port = sim.base_url.rsplit("/", 1)[-1].split(":")
        request = (f"GET /api/campaigns/{ids[0]}/detail HTTP/1.1\r\nHost: {host}\r\n"
                   f"Authorization: {token}\r\nConnection: close\r\n\r\n").encode()
        stalled = [socket.create_connection((host, int(port)), timeout=30) for _ in range(63)]
        try:
            for sock in stalled:
                sock.sendall(request[:20])
            assert requests.get(f"{sim.base_url}/api/campaigns/{ids[0]}/detail", headers={"Authorization": token},
                                timeout=30).status_code == 200
            for sock in stalled:
                sock.sendall(request[20:])
            answers = [sock.makefile("rb").readline() for sock in stalled]
        finally:  # a failure must not leave server threads blocked on half-sent requests
            for sock in stalled:
                sock.close()
        assert answers == [b"HTTP/1.1 200 OK\r\n"] * 63
        with ThreadPoolExecutor(64) as pool:
            assert sum(pool.map(worker, range(64))) == 320
        assert sim.stats()["detail"] == 320 + 64


def test_admin_endpoints(sim: Simulator) -> None:
    base = sim.base_url
    assert requests.get(f"{base}/_sim/now").json() == {"now": "2026-11-01T12:00:00+00:00"}
    moved = requests.post(f"{base}/_sim/advance", json={"hours": 1, "minutes": 30})
    assert moved.json() == {"now": "2026-11-01T13:30:00+00:00"}
    knobs = requests.post(f"{base}/_sim/config", json={"latency_ms": 5}).json()
    assert knobs["latency_ms"] == 5.0 and sim.knobs.latency_ms == 5.0
    assert requests.post(f"{base}/_sim/config", json={"nope": 1}).status_code == 400
    session(sim)
    assert requests.get(f"{base}/_sim/stats").json()["login"] == 1
    requests.post(f"{base}/_sim/reset_stats")
    assert requests.get(f"{base}/_sim/stats").json()["total"] == 0


def test_stop_closes_keepalive_connections() -> None:
    sim = Simulator(SimulatorConfig(campaigns=10)).start()
    s = session(sim)
    base = sim.base_url
    assert s.get(f"{base}/api/campaigns").status_code == 200
    sim.stop()
    with pytest.raises(requests.ConnectionError):
        s.get(f"{base}/api/campaigns", timeout=2)


def test_cli_prints_url_and_key_then_serves() -> None:
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bsg_campaigns.simulator", "--port", "0", "--campaigns", "50"],
        stdout=subprocess.PIPE, text=True, cwd=root,
        env={"PYTHONPATH": str(root / "pipelines"), "PATH": ""})
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)  # type: ignore[union-attr]
        assert "test_simulator_key_0001" in line
        login = requests.post(f"{url}/api/auth/login",
                              json={"api_key": "test_simulator_key_0001"})
        assert login.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=5)


# ---------------------------------------------------------------- pure properties


def test_catalogue_is_deterministic() -> None:
    # How fast a 100,000-campaign catalogue builds is a benchmark's business, not a verdict here.
    big = Simulator(SimulatorConfig(campaigns=100_000))
    assert len(big.visible_campaign_ids()) == 100_000
    a, b = Simulator(SimulatorConfig(seed=5)), Simulator(SimulatorConfig(seed=5))
    ids = a.visible_campaign_ids()
    assert ids == b.visible_campaign_ids() and ids == sorted(ids) and ids[0] > 53_600_000
    assert [a.expected_detail(i) for i in ids[:50]] == [b.expected_detail(i) for i in ids[:50]]
    kinds = [a.expected_detail(i)["type"] for i in ids]
    assert kinds.count("rcs") > kinds.count("sms") > kinds.count("whatsapp")


@settings(max_examples=150, deadline=None)
@given(cid=st.integers(53_600_000, 54_000_000), kind=st.sampled_from(["sms", "rcs", "whatsapp"]),
       offsets=st.lists(st.floats(0, 10 * 86400), min_size=2, max_size=8))
def test_counts_sum_and_are_monotone(cid: int, kind: str, offsets: List[float]) -> None:
    p = make_profile(1, cid, kind, 2, 1_790_000_000, 0.5)
    prev = None
    for t in sorted(p.created + o for o in offsets):
        primary, fb, dispatched, fb_sent = p.counts(t)
        assert sum(primary.values()) == p.total and min(primary.values()) >= 0
        if fb is not None:
            assert sum(fb.values()) == fb_sent and min(fb.values()) >= 0
        if kind == "sms":
            assert primary["read"] == 0 and primary["not_rcs_user"] == 0
        cumulative = (primary["delivered"] + primary["read"], primary["read"],
                      primary["expired"], primary["failed"], dispatched, fb_sent)
        assert prev is None or all(a <= b for a, b in zip(prev, cumulative))
        prev = cumulative
    if p.fate != "spam":
        assert p.settled_at() <= p.finish + 6 * 86400
        assert p.counts(p.settled_at()) == p.counts(p.settled_at() + 86400)


def test_concurrent_requests_are_consistent(sim: Simulator) -> None:
    token = session(sim).headers["Authorization"]
    ids = sim.visible_campaign_ids()[:40]
    expected = {cid: sim.expected_detail(cid) for cid in ids}
    errors: List[str] = []

    def worker() -> None:
        with requests.Session() as s:
            s.headers["Authorization"] = token
            for cid in ids:
                if detail(s, sim, cid).json()["data"] != expected[cid]:
                    errors.append(str(cid))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ---------------------------------------------------------------- the vendor's OpenAPI spec
# Facts from the vendor's spec (api/openapi.yaml in bsgworld/go-sdk), encoded here as JSON
# schemas: the list item (CampaignSchema), the detail (DetailCampaignSchema), paging (MetaPage).
# Where the spec contradicts itself, what its examples show is allowed too (naive timestamps;
# `alternative_channels: []`; the list's currency null, as in its single-campaign example).

_STATUS = {"enum": ["creation", "scheduled", "sending", "done", "paused", "stopped", "spam", "moderation"]}
_KIND = {"enum": ["sms", "viber", "hlr", "rcs", "whatsapp"]}
_TEXT, _INT, _NULLABLE_TEXT = {"type": "string"}, {"type": "integer"}, {"type": ["string", "null"]}
SPEC_STATISTICS_KEYS = ["delivered", "sent", "scheduled", "moderation", "accepted", "sending", "expired",
                        "failed", "undelivered", "unknown", "read", "not_viber_user", "not_rcs_user"]
_STATISTICS = {"type": "object", "required": SPEC_STATISTICS_KEYS,
               "properties": dict.fromkeys(SPEC_STATISTICS_KEYS, _INT)}
_META = {"type": "object", "required": ["page"], "properties": {"page": {
    "type": "object", "required": ["total", "limit", "offset"],
    "properties": {"total": _INT, "limit": _INT, "offset": {"type": "integer", "minimum": 0}}}}}
SPEC_LIST = {"type": "object", "required": ["data", "meta"], "properties": {"meta": _META, "data": {
    "type": "array", "items": {"type": "object", "required": LIST_KEYS, "properties": {
        "id": _INT, "name": _TEXT, "sender": _TEXT, "status": _STATUS, "message_type": _KIND,
        "start_at": _TEXT, "real_start_at": _NULLABLE_TEXT, "finished_at": _NULLABLE_TEXT, "created_at": _TEXT,
        "statistics": {"type": "object", "required": ["delivered", "sent"],
                       "properties": {"delivered": _INT, "sent": _INT}},
        "calculated_price": {"type": ["number", "null"]}, "currency": _NULLABLE_TEXT}}}}}
SPEC_DETAIL = {"type": "object", "required": ["data"], "properties": {"data": {
    "type": "object", "required": DETAIL_KEYS, "properties": {
        "id": _INT, "name": _TEXT, "sender": _TEXT, "status": _STATUS, "type": _KIND, "started_at": _TEXT,
        "actual_start_at": _NULLABLE_TEXT, "finished_at": _NULLABLE_TEXT, "created_at": _TEXT,
        "statistics": _STATISTICS, "total_messages": _INT, "total_phones": _INT, "total_price": _TEXT,
        "currency": _TEXT,
        "alternative_channels": {"anyOf": [
            {"type": "null"}, {"type": "array", "maxItems": 0},
            {"type": "object", "properties": {"sms": {"type": "object", "required": ["statistics"],
                                                      "properties": {"statistics": _STATISTICS}}}}]}}}}}


def test_list_and_detail_answers_have_the_spec_types(sim: Simulator) -> None:
    """The vendor's generated SDKs decode with these types: a string calculated_price fails
    every list call, so the simulator must serve a number (or null)."""
    import jsonschema

    s = session(sim)
    list_validator, detail_validator = jsonschema.Draft7Validator(SPEC_LIST), jsonschema.Draft7Validator(SPEC_DETAIL)
    prices = []
    for kind in ("rcs", "sms"):
        page = s.get(f"{sim.base_url}/api/campaigns", params={"filter[type]": kind, "page[limit]": 500}).json()
        assert page["data"] and not [e.message for e in list_validator.iter_errors(page)]
        prices += [(row["id"], row["calculated_price"]) for row in page["data"]]
    fallbacks = 0
    for cid, price in prices[::5]:
        body = detail(s, sim, cid).json()
        assert not [e.message for e in detail_validator.iter_errors(body)]
        # The list's number is the detail's price exactly (no float rounding on the way).
        assert isinstance(price, float) and Decimal(repr(price)) == Decimal(body["data"]["total_price"])
        alternative = body["data"]["alternative_channels"]
        if alternative:
            fallbacks += 1
            assert list(alternative["sms"]["statistics"]) == SPEC_STATISTICS_KEYS  # all 13, as the spec's example
            assert {alternative["sms"]["statistics"][k] for k in ("read", "not_viber_user", "not_rcs_user")} == {0}
    assert fallbacks > 3


def test_list_price_variants_and_fixture_rows(sim: Simulator) -> None:
    s = session(sim)

    def prices(**variants: str) -> List[Any]:
        sim.configure(variants=variants or "mixed")
        page = s.get(f"{sim.base_url}/api/campaigns", params={"filter[type]": "rcs", "page[limit]": 500}).json()
        return [row["calculated_price"] for row in page["data"]]

    assert set(prices(list_price_as="null")) == {None}
    assert all(isinstance(p, str) and PRICE_RE.match(p) for p in prices(list_price_as="string"))
    assert {type(p) for p in prices()} == {float, type(None), str}  # "mixed" serves all three
    sim.configure(variants="real")
    sim.put_detail(90000011, {"data": {"id": 90000011, "total_price": "0.16"}}, created_at="2026-11-01 11:00:00")
    sim.put_detail(90000012, {"data": {"id": 90000012, "total_price": "abc"}}, created_at="2026-11-01 11:00:00")
    rows = {r["id"]: r for r in list_all(s, sim, **{"filter[type]": "rcs"})}
    assert rows[90000011]["calculated_price"] == 0.16 and rows[90000012]["calculated_price"] is None


def test_search_value_longer_than_the_spec_allows_is_422(sim: Simulator) -> None:
    resp = session(sim).get(f"{sim.base_url}/api/campaigns",
                            params={"search[field]": "sender", "search[value]": "x" * 256})
    assert resp.status_code == 422 and list(resp.json()["errors"]) == ["search"]


@pytest.mark.parametrize("list_price_as", ["number", "null", "string"])
def test_connector_loads_the_same_whatever_the_list_price_is(tmp_path, list_price_as: str) -> None:
    """The connector reads only ids and creation times from the list: every calculated_price
    variant yields the same tables (compared with exact values against the simulator)."""
    from conftest import Harness

    with Simulator(SimulatorConfig(seed=3, campaigns=40, variants={"list_price_as": list_price_as})).start() as small:
        harness = Harness(tmp_path, small)
        report = harness.run()
        ids = small.visible_campaign_ids("rcs") + small.visible_campaign_ids("sms")
        assert report.fetched == len(ids) and report.rejected == 0
        rows = harness.query("select campaign_id, status, total_messages, total_price from campaigns order by 1")
        assert rows == [(cid, d["status"], d["total_messages"], Decimal(d["total_price"]))
                        for cid, d in sorted((cid, small.expected_detail(cid)) for cid in ids)]


def test_connector_page_size_is_where_spec_and_server_agree(tmp_path) -> None:
    """page_size 29 is refused before any request (naming the setting); 30 lists in pages of
    30 that the simulator (30..500) accepts, following meta.page over several pages."""
    from bsg_campaigns.exceptions import UserError
    from conftest import Harness

    with Simulator(SimulatorConfig(seed=3, campaigns=90)).start() as small:
        harness = Harness(tmp_path, small)
        with pytest.raises(UserError) as refused:
            harness.run(page_size=29)
        assert "`page_size` must be between 30 and 500, got 29." in str(refused.value)
        assert small.stats()["total"] == 0
        report = harness.run(page_size=30)
        ids = small.visible_campaign_ids("rcs") + small.visible_campaign_ids("sms")
        assert report.fetched == report.listed_total == len(ids) and len(small.visible_campaign_ids("rcs")) > 60
        stats = small.stats()
        assert set(stats["status"]) == {"200"}  # no page was refused
        small.reset_stats()
        Harness(tmp_path, small, name="big_pages").run(page_size=500)
        assert stats["list"] > small.stats()["list"]  # pages of 30: more of them, all followed
