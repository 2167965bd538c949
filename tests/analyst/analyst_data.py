"""Crafted data and helpers for the analyst tests. Rows are built as pyarrow tables with the exact
schemas of `tables.py` and loaded through a real dlt pipeline with its column hints, so the types
are what production loads. Expected values in the tests are computed by hand from these rows."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
if str(Path(__file__).resolve().parents[2] / "pipelines") not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parents[2] / "pipelines"))

import dlt  # noqa: E402
import pyarrow as pa  # noqa: E402

from bsg_campaigns import settings
from bsg_campaigns.contract import tables  # noqa: E402

POSTGRES_HOST = os.environ.get("BSG_TEST_POSTGRES_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("BSG_TEST_POSTGRES_PORT", "5432"))
# the local server trusts 127.0.0.1: any password is accepted, but dlt insists on having one
POSTGRES_URL = os.environ.get(
    "BSG_TEST_POSTGRES_URL", f"postgresql://postgres:postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/test"
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------------------
# row builders
# ---------------------------------------------------------------------------------------------


def campaign(campaign_id: int, **fields: Any) -> Dict[str, Any]:
    row: Dict[str, Any] = {name: None for name in tables.CAMPAIGNS_SCHEMA.names}
    row.update(
        campaign_id=campaign_id,
        name=f"campaign {campaign_id}",
        sender="Acme",
        status="done",
        type="rcs",
        created_at=utc(2024, 5, 1, 10),
        fetched_at=utc(2024, 5, 2, 12),
        currency="USD",
    )
    row.update(fields)
    if isinstance(row.get("total_price"), (int, float, str)):
        row["total_price"] = Decimal(str(row["total_price"]))
    return row


def stats(campaign_id: int, channel: str, counts: Dict[str, int], fallback: bool = False) -> List[Dict[str, Any]]:
    return [
        {
            "campaign_id": campaign_id,
            "channel": channel,
            "is_fallback": fallback,
            "status": status,
            "message_count": count,
        }
        for status, count in counts.items()
    ]


def history(rows: Iterable[Dict[str, Any]], fetched_at: datetime) -> List[Dict[str, Any]]:
    return [dict(row, fetched_at=fetched_at) for row in rows]


@dataclass
class Dataset:
    campaigns: List[Dict[str, Any]]
    statistics: List[Dict[str, Any]]
    history: List[Dict[str, Any]]
    rejected: Optional[List[Dict[str, Any]]] = None
    # The message-level tables: loaded (empty by default) like every connector run loads them.
    messages: List[Dict[str, Any]] = field(default_factory=list)
    message_fallbacks: List[Dict[str, Any]] = field(default_factory=list)
    message_reads: List[Dict[str, Any]] = field(default_factory=list)


def message_row(message_id: int, campaign_id: int, channel: str, status: str, **fields: Any) -> Dict[str, Any]:
    """A `messages` row: every column NULL but the keys, the status and its scheme."""
    row: Dict[str, Any] = {name: None for name in tables.MESSAGES_SCHEMA.names}
    row.update(message_id=message_id, campaign_id=campaign_id, channel=channel, status=status,
               recipient_scheme="raw", fetched_at=utc(2024, 5, 10, 12))
    row.update(fields)
    return row


def message_read(campaign_id: int, messages: int, complete: bool = True) -> Dict[str, Any]:
    return {"campaign_id": campaign_id, "read_at": utc(2024, 5, 10, 11), "messages": messages, "rejected": 0,
            "pages": 1, "complete": complete, "matches_statistics": None}


# ---------------------------------------------------------------------------------------------
# the clean data: every metric hand-computed in test_metrics.py, trips no check
# ---------------------------------------------------------------------------------------------

C1_PRIMARY = {"delivered": 40, "read": 30, "expired": 10, "failed": 5, "sent": 5, "unknown": 2, "not_rcs_user": 8}
C1_FALLBACK = {"delivered": 12, "undelivered": 3, "sent": 1}
ALL_STATUSES_ONCE = {status: 1 for status in settings.KNOWN_MESSAGE_STATUSES}


def clean_dataset() -> Dataset:
    campaigns = [
        # 1: RCS with SMS fallback, every bucket populated
        campaign(1, total_messages=100, total_phones=100, total_price="10", real_start_at=utc(2024, 5, 1, 10, 5),
                 start_at=utc(2024, 5, 1, 10, 5), finished_at=utc(2024, 5, 1, 12), fetched_at=utc(2024, 5, 2, 12)),
        # 2: SMS, no read receipts (the reference's spec example)
        campaign(2, type="sms", total_messages=10, total_phones=10, total_price="1.6", created_at=utc(2024, 5, 1, 15),
                 real_start_at=utc(2024, 5, 1, 15, 1), finished_at=utc(2024, 5, 1, 15, 2)),
        # 3: RCS delivered only through the fallback
        campaign(3, sender="Beta", currency="EUR", total_messages=20, total_price="3", created_at=utc(2024, 5, 2, 9),
                 real_start_at=utc(2024, 5, 2, 9), finished_at=utc(2024, 5, 2, 10), fetched_at=utc(2024, 5, 3, 9)),
        # 4: scheduled, no statistics at all: every denominator is zero
        campaign(4, sender="Beta", status="scheduled", currency="EUR", total_messages=0, total_price="0",
                 created_at=utc(2024, 5, 2, 10), fetched_at=utc(2024, 5, 3, 9)),
        # 5: same day/sender/type as 1 but another currency
        campaign(5, currency="UAH", total_messages=2, total_price="4", created_at=utc(2024, 5, 1, 11),
                 real_start_at=utc(2024, 5, 1, 11), finished_at=utc(2024, 5, 1, 11, 30)),
        # 6: same group as 1 (2024-05-01 UTC, created 23:30 UTC), still sending
        campaign(6, status="sending", total_messages=10, total_price="2", created_at=utc(2024, 5, 1, 23, 30),
                 real_start_at=utc(2024, 5, 1, 23, 31)),
        # 7: one message under every documented status
        campaign(7, sender="Gamma", status="sending", currency="EUR", total_messages=len(ALL_STATUSES_ONCE),
                 total_price="1.3", created_at=utc(2024, 5, 3, 8), real_start_at=utc(2024, 5, 3, 8),
                 fetched_at=utc(2024, 5, 4, 8)),
        # 8: same group as 7, price unknown: left out of cost_per_delivered on both sides
        campaign(8, sender="Gamma", status="done", currency="EUR", total_messages=10, total_price=None,
                 created_at=utc(2024, 5, 3, 9), real_start_at=utc(2024, 5, 3, 9), finished_at=utc(2024, 5, 3, 10),
                 fetched_at=utc(2024, 5, 4, 8)),
    ]
    statistics = (
        stats(1, "rcs", C1_PRIMARY)
        + stats(1, "sms", C1_FALLBACK, fallback=True)
        + stats(2, "sms", {"delivered": 7, "undelivered": 3, "read": 0, "sent": 0})
        + stats(3, "rcs", {"expired": 20, "delivered": 0, "read": 0})
        + stats(3, "sms", {"delivered": 15, "undelivered": 5}, fallback=True)
        + stats(5, "rcs", {"delivered": 1, "read": 1})
        + stats(6, "rcs", {"delivered": 1, "sent": 9})
        + stats(7, "rcs", ALL_STATUSES_ONCE)
        + stats(8, "rcs", {"delivered": 10})
    )
    c1_t1 = stats(1, "rcs", {"delivered": 20, "read": 5, "sent": 75})
    c1_t2 = stats(1, "rcs", {"delivered": 40, "read": 20, "sent": 30, "expired": 10}) + stats(
        1, "sms", {"delivered": 5, "sent": 5}, fallback=True
    )
    c1_t3 = stats(1, "rcs", C1_PRIMARY) + stats(1, "sms", C1_FALLBACK, fallback=True)
    hist = (
        history(c1_t1, utc(2024, 5, 1, 11, 5))  # 1 h after the actual start
        + history(c1_t2, utc(2024, 5, 1, 16, 5))  # 6 h
        + history(c1_t2, utc(2024, 5, 1, 16, 5))  # the same fetch loaded twice: must not double
        + history(c1_t3, utc(2024, 5, 2, 12))  # 25 h 55 min
        + history(stats(2, "sms", {"delivered": 7, "undelivered": 3}), utc(2024, 5, 2, 12))
        + history(stats(6, "rcs", {"delivered": 1, "sent": 9}), utc(2024, 5, 2, 12))
    )
    return Dataset(campaigns, statistics, hist)


# ---------------------------------------------------------------------------------------------
# the bad data: trips every check
# ---------------------------------------------------------------------------------------------


def bad_dataset() -> Dataset:
    campaigns = [
        campaign(10, total_messages=5),
        campaign(10, total_messages=5),  # unique_campaign_id
        campaign(11, total_messages=10),  # unique_statistics_key
        campaign(12, total_messages=10),  # negative_counts (+ rates_out_of_range: negative delivery rate)
        campaign(13, total_messages=10),  # counts_exceed_total_messages
        campaign(14, total_messages=10),  # rates_out_of_range (fallback bigger than primary)
        campaign(15, currency="usd", total_price="1"),  # currency_code
        campaign(16, currency=None, total_price="1"),  # currency_code (price without currency)
        campaign(17, status="done", finished_at=utc(2024, 5, 1), fetched_at=utc(2024, 5, 10)),  # done_but_pending
        campaign(18, total_messages=4),  # unknown_message_statuses
        campaign(19, total_messages=-1, total_phones=-2),  # negative_counts on campaigns
    ]
    statistics = (
        stats(10, "rcs", {"delivered": 5})
        + stats(11, "rcs", {"delivered": 3}) + stats(11, "rcs", {"delivered": 3})
        + stats(12, "rcs", {"delivered": -5, "sent": 10})
        + stats(13, "rcs", {"delivered": 15})
        + stats(14, "rcs", {"expired": 10}) + stats(14, "sms", {"delivered": 20}, fallback=True)
        + stats(17, "rcs", {"delivered": 7, "sent": 3})
        + stats(18, "rcs", {"delivered": 2, "clicked": 2})
        + stats(999, "rcs", {"delivered": 1})  # statistics_without_campaign
    )
    hist = history(stats(12, "rcs", {"delivered": -1}), utc(2024, 5, 2))
    # messages_match_statistics: 17 (settled) read completely, 1 delivered message against 7 + 3 sent;
    # messages_match_statistics_open: 18 (no finished_at: open) read completely, no message at all
    messages = [message_row(1701, 17, "rcs", "delivered")]
    reads = [message_read(17, 1), message_read(18, 0)]
    return Dataset(campaigns, statistics, hist, messages=messages, message_reads=reads)


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------


def arrow(rows: List[Dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


MESSAGE_TABLES = ((tables.MESSAGES, tables.MESSAGES_SCHEMA, tables.MESSAGES_COLUMNS),
                  (tables.MESSAGE_FALLBACKS, tables.MESSAGE_FALLBACKS_SCHEMA, tables.MESSAGE_FALLBACKS_COLUMNS),
                  (tables.MESSAGE_READS, tables.MESSAGE_READS_SCHEMA, tables.MESSAGE_READS_COLUMNS))


def load(pipeline: dlt.Pipeline, data: Dataset) -> None:
    resources = [
        dlt.resource(arrow(data.campaigns, tables.CAMPAIGNS_SCHEMA), name=tables.CAMPAIGNS,
                     columns=tables.CAMPAIGNS_COLUMNS, write_disposition="replace"),
        dlt.resource(arrow(data.statistics, tables.STATISTICS_SCHEMA), name=tables.CAMPAIGN_STATISTICS,
                     columns=tables.STATISTICS_COLUMNS, write_disposition="replace"),
        dlt.resource(arrow(data.history, tables.HISTORY_SCHEMA), name=tables.CAMPAIGN_STATISTICS_HISTORY,
                     columns=tables.HISTORY_COLUMNS, write_disposition="append"),
    ]
    message_rows = (data.messages, data.message_fallbacks, data.message_reads)
    resources += [dlt.resource(arrow(rows, schema), name=name, columns=columns, write_disposition="replace")
                  for rows, (name, schema, columns) in zip(message_rows, MESSAGE_TABLES)]
    if data.rejected is not None:
        resources.append(
            dlt.resource(arrow(data.rejected, tables.REJECTED_SCHEMA), name=tables.REJECTED_RECORDS,
                         columns=tables.REJECTED_COLUMNS, write_disposition="append")
        )
    info = pipeline.run(resources)
    assert not info.has_failed_jobs


def duckdb_pipeline(directory: Path, name: str, dataset_name: str = settings.DATASET_NAME) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=f"analyst_{name}",
        destination=dlt.destinations.duckdb(str(directory / f"{name}.duckdb")),
        dataset_name=dataset_name,
        pipelines_dir=str(directory / "pipelines"),
    )


def query(pipeline: dlt.Pipeline, sql: str) -> List[Dict[str, Any]]:
    """Rows of `sql` (may use {ds} for the dataset) as dicts, through dlt's SQL client."""
    with pipeline.sql_client() as client:
        with client.execute_query(sql.format(ds=client.dataset_name)) as cursor:
            columns = [d[0] for d in cursor.description]
            return [dict(zip(columns, row)) for row in cursor.fetchall()]




def postgres_answers() -> bool:
    try:
        with socket.create_connection((POSTGRES_HOST, POSTGRES_PORT), timeout=1.0):
            return True
    except OSError:
        return False


def drop_postgres_dataset(pipeline: dlt.Pipeline) -> None:
    try:
        with pipeline.sql_client() as client:
            if client.has_dataset():
                client.drop_dataset()
    except Exception:  # best effort clean-up
        pass
