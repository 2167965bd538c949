"""The approaches a user has today, as honest, plain implementations (each runs in its own process).

- `seq_requests`: a sequential `requests` loop (list pages, then each detail) + pandas -> DuckDB.
- `pool_requests`: the same with the details fetched by a 16-thread pool (a `requests.Session`
  per thread, keep-alive) + pandas -> DuckDB. It only extracts and dumps two tables.
- `messages_loop`: the message-level load by hand: list and read the campaigns as above (16
  threads), then every campaign's `GET /api/messages` pages (filter[campaign_id], sort=id, pages
  of 500; the first page gives meta.page.total, the others go to the same 16-thread pool), rows
  into a pandas DataFrame per batch of pages, appended to a DuckDB table. Phones are HMAC-SHA256
  hashed like the connector's default `recipient_mode = "hash"` (`hash_phones`: false to skip).
- `rest_api`: dlt core `rest_api_source`, JWT login, list -> detail via a resolved param, loader
  defaults (DuckDB's insert-values); `parallelized=True` on the detail resource with
  `EXTRACT__WORKERS` for the parallelized variant.

All list per campaign type with the creation-date windows and page size the harness gives them: the
same windows and page size the connector lists with, so every approach makes the same list requests.

    python -m benchmarks.baselines PARAMS_JSON RESULT_PATH
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from benchmarks.common import child_main

CAMPAIGN_FIELDS = ("id", "name", "sender", "status", "type", "started_at", "actual_start_at", "finished_at",
                   "created_at", "total_messages", "total_phones", "total_price", "currency")
TIME_FIELDS = ("started_at", "actual_start_at", "finished_at", "created_at")


def _login(session: Any, base_url: str, api_key: str) -> str:
    response = session.post(f"{base_url}/api/auth/login", json={"api_key": api_key}, timeout=30)
    response.raise_for_status()
    return response.json()["bearer"]


def _list_ids(session: Any, p: Dict[str, Any], headers: Dict[str, str]) -> List[int]:
    ids: List[int] = []
    for campaign_type, (list_from, list_to) in _type_windows(p):
        offset = 0
        while True:
            response = session.get(f"{p['base_url']}/api/campaigns", headers=headers, timeout=30, params={
                "filter[type]": campaign_type, "filter[from]": list_from, "filter[to]": list_to,
                "sort": "id", "way": "asc", "page[limit]": p["page_size"], "page[offset]": offset})
            response.raise_for_status()
            body = response.json()
            items = body["data"]
            ids.extend(int(item["id"]) for item in items)
            offset += len(items)
            if not items or offset >= body["meta"]["page"]["total"]:
                break
    return ids


def _type_windows(p: Dict[str, Any]) -> List[Tuple[str, List[str]]]:
    return [(campaign_type, window) for campaign_type in p["types"] for window in p["windows"]]


def _rows(detail: Dict[str, Any]) -> Tuple[Dict[str, Any], List[Tuple[Any, ...]]]:
    campaign = {name: detail.get(name) for name in CAMPAIGN_FIELDS}
    campaign_id = detail["id"]
    stats = [(campaign_id, detail["type"], False, status, count)
             for status, count in (detail.get("statistics") or {}).items()]
    fallback = detail.get("alternative_channels")
    if isinstance(fallback, dict):
        for channel, block in fallback.items():
            for status, count in ((block or {}).get("statistics") or {}).items():
                stats.append((campaign_id, channel, True, status, count))
    return campaign, stats


def _dump(p: Dict[str, Any], campaigns: List[Dict[str, Any]], stats: List[Tuple[Any, ...]]) -> None:
    import duckdb
    import pandas as pd

    campaigns_df = pd.DataFrame(campaigns, columns=list(CAMPAIGN_FIELDS)).rename(columns={"id": "campaign_id"})
    for name in TIME_FIELDS:
        campaigns_df[name] = pd.to_datetime(campaigns_df[name], utc=True)
    campaigns_df["total_price"] = campaigns_df["total_price"].astype(float)
    statistics_df = pd.DataFrame(stats, columns=["campaign_id", "channel", "is_fallback", "status", "message_count"])
    con = duckdb.connect(p["duckdb_path"])  # DuckDB reads the DataFrames by their variable names
    con.execute("CREATE OR REPLACE TABLE campaigns AS SELECT * FROM campaigns_df")
    con.execute("CREATE OR REPLACE TABLE campaign_statistics AS SELECT * FROM statistics_df")
    con.close()


def requests_loop(p: Dict[str, Any]) -> Dict[str, Any]:
    import requests

    started = time.perf_counter()
    session = requests.Session()
    token = _login(session, p["base_url"], p["api_key"])
    headers = {"Authorization": f"Bearer {token}"}
    ids = _list_ids(session, p, headers)
    listed = time.perf_counter()
    threads = int(p.get("threads", 1))
    local = threading.local()

    def fetch(campaign_id: int) -> Dict[str, Any]:
        s = getattr(local, "session", None)
        if s is None:
            s = local.session = requests.Session()
        response = s.get(f"{p['base_url']}/api/campaigns/{campaign_id}/detail", headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()["data"]

    campaigns: List[Dict[str, Any]] = []
    stats: List[Tuple[Any, ...]] = []

    def keep(detail: Dict[str, Any]) -> None:
        campaign, rows = _rows(detail)
        campaigns.append(campaign)
        stats.extend(rows)

    if threads == 1:
        local.session = session
        for campaign_id in ids:
            keep(fetch(campaign_id))
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for detail in pool.map(fetch, ids):
                keep(detail)
    fetched = time.perf_counter()
    _dump(p, campaigns, stats)
    done = time.perf_counter()
    return {"wall_s": done - started, "campaigns": len(campaigns), "statistics_rows": len(stats),
            "phases": {"list_s": round(listed - started, 3), "details_s": round(fetched - listed, 3),
                       "pandas_duckdb_s": round(done - fetched, 3)}}


MESSAGE_COLUMNS = ("message_id", "campaign_id", "reference_id", "type", "source", "status", "recipient", "country",
                   "parts", "sender", "created_at", "sent_at", "delivered_at", "price", "currency", "validity")
MESSAGE_TIMES = ("created_at", "sent_at", "delivered_at")
MESSAGE_BATCH_ROWS = 50_000  # rows per DataFrame -> DuckDB insert: bounded memory, few inserts
MESSAGE_WINDOW = 64  # pages in flight or done but not yet consumed: bounds memory like a queue would


def messages_loop(p: Dict[str, Any]) -> Dict[str, Any]:
    """Campaigns listed and read (16 threads), then each campaign's message pages: the first page
    of every campaign through the pool, then the rest (offsets from meta.page.total) through the
    same pool, at most MESSAGE_WINDOW pages ahead of the consumer; a DataFrame per
    MESSAGE_BATCH_ROWS rows appended to DuckDB."""
    import hashlib
    import hmac

    import requests

    started = time.perf_counter()
    session = requests.Session()
    token = _login(session, p["base_url"], p["api_key"])
    headers = {"Authorization": f"Bearer {token}"}
    ids = _list_ids(session, p, headers)
    threads = int(p.get("threads", 16))
    limit = int(p.get("message_page_size", 500))
    key = bytes.fromhex(p["hash_key"]) if p.get("hash_phones", True) else None
    local = threading.local()

    def get(url: str, params: Optional[Dict[str, Any]] = None) -> Any:
        s = getattr(local, "session", None)
        if s is None:
            s = local.session = requests.Session()
        response = s.get(url, headers=headers, params=params, timeout=60)
        response.raise_for_status()
        return response.json()

    def page(campaign_id: int, offset: int) -> Any:
        return get(f"{p['base_url']}/api/messages", {"filter[campaign_id]": campaign_id, "sort": "id",
                                                     "page[limit]": limit, "page[offset]": offset})

    campaigns: List[Dict[str, Any]] = []
    stats: List[Tuple[Any, ...]] = []
    con = None
    rows: List[Tuple[Any, ...]] = []
    counts = {"messages": 0, "pages": 0, "inserts": 0}

    def flush() -> None:
        nonlocal con
        import duckdb
        import pandas as pd

        if not rows:
            return
        messages_df = pd.DataFrame(rows, columns=list(MESSAGE_COLUMNS))
        for name in MESSAGE_TIMES:
            messages_df[name] = pd.to_datetime(messages_df[name], utc=True)
        messages_df["price"] = pd.to_numeric(messages_df["price"])
        if con is None:
            con = duckdb.connect(p["duckdb_path"])
            con.execute("CREATE OR REPLACE TABLE messages AS SELECT * FROM messages_df")
        else:
            con.execute("INSERT INTO messages SELECT * FROM messages_df")
        counts["inserts"] += 1
        rows.clear()

    def keep(body: Any) -> None:
        for m in body["data"]:
            phone = str(m["phone"])
            amount = m.get("amount") or {}
            rows.append((m["id"], m["campaign_id"], m.get("reference_id"), m.get("type"), m.get("source"),
                         m["status"], hmac.new(key, phone.encode(), hashlib.sha256).hexdigest() if key else phone,
                         m.get("country"), m.get("parts"), m.get("sender"), m.get("created_at"), m.get("sent_at"),
                         m.get("delivered_at"), amount.get("value"), amount.get("currency"), m.get("validity")))
        counts["messages"] += len(body["data"])
        counts["pages"] += 1
        if len(rows) >= MESSAGE_BATCH_ROWS:
            flush()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for detail in pool.map(lambda cid: get(f"{p['base_url']}/api/campaigns/{cid}/detail")["data"], ids):
            campaign, stat_rows = _rows(detail)
            campaigns.append(campaign)
            stats.extend(stat_rows)
        details_done = time.perf_counter()
        rest: List[Tuple[int, int]] = []
        for campaign_id, first in zip(ids, pool.map(lambda cid: page(cid, 0), ids)):
            keep(first)
            total = int(first["meta"]["page"]["total"])
            rest.extend((campaign_id, offset) for offset in range(limit, total, limit))
        in_flight: "deque[Any]" = deque()
        todo = iter(rest)
        for campaign_id, offset in todo:
            in_flight.append(pool.submit(page, campaign_id, offset))
            if len(in_flight) >= MESSAGE_WINDOW:
                break
        while in_flight:
            body = in_flight.popleft().result()
            following = next(todo, None)
            if following is not None:
                in_flight.append(pool.submit(page, *following))
            keep(body)
    flush()
    fetched = time.perf_counter()
    assert con is not None
    con.close()
    _dump(p, campaigns, stats)
    done = time.perf_counter()
    return {"wall_s": done - started, "campaigns": len(campaigns), "messages": counts["messages"],
            "message_pages": counts["pages"], "duckdb_inserts": counts["inserts"], "hashed": key is not None,
            "phases": {"campaigns_s": round(details_done - started, 3), "messages_s": round(fetched - details_done, 3),
                       "close_and_campaign_tables_s": round(done - fetched, 3)}}


def rest_api(p: Dict[str, Any]) -> Dict[str, Any]:
    if p.get("workers"):
        os.environ["EXTRACT__WORKERS"] = str(p["workers"])
    import dlt
    from dlt.sources.helpers import requests as dlt_requests
    from dlt.sources.rest_api import rest_api_source

    started = time.perf_counter()
    token = _login(dlt_requests, p["base_url"], p["api_key"])  # the JWT login, with dlt's retrying requests

    @dlt.resource(name="list_queries", selected=False)
    def list_queries() -> Iterator[List[Dict[str, str]]]:  # one "page", as rest_api's dependent resources expect
        yield [{"type": t, "from": window[0], "to": window[1]} for t, window in _type_windows(p)]

    detail: Dict[str, Any] = {
        "name": "campaign_details",
        "endpoint": {
            "path": "api/campaigns/{resources.campaigns.id}/detail",
            "data_selector": "data",
            "paginator": "single_page",
        },
    }
    if p.get("parallelized"):
        detail["parallelized"] = True
    source = rest_api_source({
        "client": {"base_url": p["base_url"] + "/", "auth": {"type": "bearer", "token": token}},
        "resources": [
            list_queries,
            {
                "name": "campaigns",
                "endpoint": {
                    "path": "api/campaigns",
                    "params": {
                        "filter[type]": "{resources.list_queries.type}", "filter[from]": "{resources.list_queries.from}",
                        "filter[to]": "{resources.list_queries.to}", "sort": "id", "way": "asc",
                    },
                    "data_selector": "data",
                    "paginator": {"type": "offset", "limit": p["page_size"], "offset_param": "page[offset]",
                                  "limit_param": "page[limit]", "total_path": "meta.page.total"},
                },
            },
            detail,
        ],
    })
    pipeline = dlt.pipeline(pipeline_name="rest_api_baseline", destination=dlt.destinations.duckdb(p["duckdb_path"]),
                            dataset_name="rest_api", pipelines_dir=str(Path(p["workdir"]) / "pipelines"))
    pipeline.run(source)
    done = time.perf_counter()
    phases = {step.step + "_s": round((step.finished_at - step.started_at).total_seconds(), 3)
              for step in pipeline.last_trace.steps if step.finished_at}
    with pipeline.sql_client() as client:
        loaded = client.execute_sql("select count(*) from campaign_details")[0][0]
    return {"wall_s": done - started, "campaigns": int(loaded), "phases": phases}


def main(p: Dict[str, Any]) -> Dict[str, Any]:
    return {"requests_loop": requests_loop, "messages_loop": messages_loop, "rest_api": rest_api}[p["kind"]](p)


if __name__ == "__main__":
    child_main(main)
