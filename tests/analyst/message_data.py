"""Crafted message-level rows (the exact schemas of contract/tables.py, loaded through a real dlt
pipeline with its column hints) and the campaigns and statistics they are reconciled with. Every
expected value in test_message_models.py is computed by hand from these rows.

The campaigns (refresh window 168 h unless a test narrows it):
- 101 rcs, done, settled, complete read: messages and statistics agree. Recipients A..H of one
  hash scheme: A two delivered messages, B read (and an unknown one), C not_service_user -> its
  fallback SMS delivered, D expired -> its fallback undelivered, F read AND its fallback
  delivered (counts as primary), H in PL (PLN, sent 23:30 UTC), one message without recipient.
- 102 rcs, stopped, settled, complete read: statistics say delivered 2, the messages 1 delivered
  + 1 failed (an error).
- 103 rcs, sending, complete read: a pending and a new status against delivered 1 (a warning).
- 104 rcs, done, settled, read NOT complete: disagrees, never checked.
- 105 sms, done 24 h before its fetch (open under 168 h, settled under 12 h): undelivered 1 in
  the statistics, no such message.
- 106 viber, done, settled, complete read: not_service_user = the statistics' not_viber_user.
- 107 rcs, no read: two schemes (last_digits:4, drop), KZT prices and a delivered message with
  a currency but no price.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Dict, List, Optional

import dlt

from bsg_campaigns.contract import tables

from .analyst_data import Dataset, arrow, campaign, load, message_row, stats, utc
from .analyst_data import message_read as read

HASH = "hmac-sha256:0123456789abcdef"


def message(message_id: int, campaign_id: int, channel: str, status: str, *, recipient: Optional[str],
            country: str = "UA", sent_at: Optional[datetime] = utc(2024, 5, 1, 10),
            delivered_after: Optional[float] = None, price: Optional[str] = "0.5", currency: Optional[str] = "UAH",
            scheme: str = HASH, created_at: Optional[datetime] = None) -> Dict[str, Any]:
    return message_row(
        message_id, campaign_id, channel, status, source="rest", recipient=recipient, recipient_scheme=scheme,
        country=country, parts=1, sender="Acme",
        created_at=created_at or (sent_at - timedelta(seconds=1) if sent_at else utc(2024, 5, 1, 9)),
        sent_at=sent_at,
        delivered_at=None if delivered_after is None else sent_at + timedelta(seconds=delivered_after),
        price=None if price is None else Decimal(price), currency=currency, validity_hours=72,
    )


def fallback(message_id: int, campaign_id: int, fallback_message_id: int) -> Dict[str, Any]:
    return {"message_id": message_id, "campaign_id": campaign_id, "channel": "sms",
            "fallback_message_id": fallback_message_id, "fallback_parts": 1}


SMS_AT = utc(2024, 5, 1, 10, 5)
DE_AT = utc(2024, 5, 3, 10)


def messages() -> List[Dict[str, Any]]:
    return [
        # 101
        message(1011, 101, "rcs", "delivered", recipient="A", delivered_after=10),
        message(1012, 101, "rcs", "read", recipient="B", delivered_after=20),
        message(1013, 101, "rcs", "not_service_user", recipient="C"),
        message(1014, 101, "rcs", "expired", recipient="D"),
        message(1015, 101, "rcs", "delivered", recipient="A", delivered_after=30),
        message(1016, 101, "sms", "delivered", recipient="C", sent_at=SMS_AT, delivered_after=5, price="0.1"),
        message(1017, 101, "sms", "undelivered", recipient="D", sent_at=SMS_AT, price="0.1"),
        message(1018, 101, "rcs", "read", recipient="F", delivered_after=40),
        message(1019, 101, "sms", "delivered", recipient="F", sent_at=SMS_AT, delivered_after=7, price="0.1"),
        message(1020, 101, "rcs", "delivered", recipient=None, delivered_after=100),
        message(1021, 101, "rcs", "delivered", recipient="H", country="PL", sent_at=utc(2024, 5, 1, 23, 30),
                delivered_after=3, price="0.2", currency="PLN"),
        message(1022, 101, "rcs", "unknown", recipient="B", sent_at=None, price=None, currency=None,
                created_at=utc(2024, 5, 1, 9, 59)),
        # 102
        message(1031, 102, "rcs", "delivered", recipient="r31", country="DE", sent_at=DE_AT, delivered_after=2,
                price="0.3", currency="EUR"),
        message(1032, 102, "rcs", "failed", recipient="r32", country="DE", sent_at=DE_AT, price="0.3", currency="EUR"),
        # 103
        message(1041, 103, "rcs", "sent", recipient="r41", country="DE", sent_at=DE_AT, price="0.3", currency="EUR"),
        message(1042, 103, "rcs", "clicked", recipient="r41", country="DE", sent_at=DE_AT, price="0.3",
                currency="EUR"),
        # 104
        message(1051, 104, "rcs", "delivered", recipient="r51", sent_at=utc(2024, 5, 2, 10), delivered_after=60),
        # 105
        message(1061, 105, "sms", "delivered", recipient="r61", sent_at=utc(2024, 5, 1, 12), delivered_after=4,
                price="0.1"),
        # 106
        message(1071, 106, "viber", "not_service_user", recipient="r71", price="0.4"),
        # 107
        message(1081, 107, "rcs", "delivered", recipient="1234", country="KZ", sent_at=utc(2024, 5, 4, 8),
                delivered_after=1.5, price="2", currency="KZT", scheme="last_digits:4"),
        message(1082, 107, "rcs", "failed", recipient="1234", country="KZ", sent_at=utc(2024, 5, 4, 8),
                price="2", currency="KZT", scheme="last_digits:4"),
        message(1083, 107, "rcs", "delivered", recipient=None, country="KZ", sent_at=utc(2024, 5, 4, 8),
                delivered_after=9, price=None, currency="KZT", scheme="drop"),
        message(1084, 107, "rcs", "unknown", recipient="5678", country="KZ", sent_at=utc(2024, 5, 4, 8),
                price="2", currency="KZT", scheme="last_digits:4"),
    ]


FALLBACKS = [fallback(1013, 101, 1016), fallback(1014, 101, 1017), fallback(1018, 101, 1019)]
READS = [read(101, 12), read(102, 2), read(103, 2), read(104, 1, complete=False), read(105, 1), read(106, 1)]


def message_dataset() -> Dataset:
    campaigns = [
        campaign(101, finished_at=utc(2024, 5, 1, 12), fetched_at=utc(2024, 5, 10, 12)),
        campaign(102, status="stopped", finished_at=utc(2024, 5, 3, 11), fetched_at=utc(2024, 5, 12)),
        campaign(103, status="sending", fetched_at=utc(2024, 5, 4)),
        campaign(104, finished_at=utc(2024, 5, 2, 11), fetched_at=utc(2024, 5, 12)),
        campaign(105, type="sms", finished_at=utc(2024, 5, 1, 12), fetched_at=utc(2024, 5, 2, 12)),
        campaign(106, type="viber", finished_at=utc(2024, 5, 1, 12), fetched_at=utc(2024, 5, 10)),
        campaign(107, finished_at=utc(2024, 5, 4, 9), fetched_at=utc(2024, 5, 12)),
    ]
    statistics = (
        stats(101, "rcs", {"delivered": 4, "read": 2, "not_rcs_user": 1, "expired": 1, "unknown": 1, "sent": 0})
        + stats(101, "sms", {"delivered": 2, "undelivered": 1}, fallback=True)
        + stats(102, "rcs", {"delivered": 2})
        + stats(103, "rcs", {"delivered": 1})
        + stats(104, "rcs", {"delivered": 5})
        + stats(105, "sms", {"delivered": 1, "undelivered": 1})
        + stats(106, "viber", {"not_viber_user": 1})
    )
    return Dataset(campaigns, statistics, history=[], rejected=[], messages=messages(), message_fallbacks=FALLBACKS,
                   message_reads=READS)


def load_messages(pipeline: dlt.Pipeline, message_rows: List[Dict[str, Any]], fallback_rows: List[Dict[str, Any]],
                  read_rows: List[Dict[str, Any]]) -> None:
    """The three message tables, replaced, with the connector's hints."""
    resources = [
        dlt.resource(arrow(message_rows, tables.MESSAGES_SCHEMA), name=tables.MESSAGES,
                     columns=tables.MESSAGES_COLUMNS, write_disposition="replace"),
        dlt.resource(arrow(fallback_rows, tables.MESSAGE_FALLBACKS_SCHEMA), name=tables.MESSAGE_FALLBACKS,
                     columns=tables.MESSAGE_FALLBACKS_COLUMNS, write_disposition="replace"),
        dlt.resource(arrow(read_rows, tables.MESSAGE_READS_SCHEMA), name=tables.MESSAGE_READS,
                     columns=tables.MESSAGE_READS_COLUMNS, write_disposition="replace"),
    ]
    info = pipeline.run(resources)
    assert not info.has_failed_jobs


def load_all(pipeline: dlt.Pipeline) -> None:
    load(pipeline, message_dataset())
