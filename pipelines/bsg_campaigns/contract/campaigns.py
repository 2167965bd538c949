"""One raw detail payload -> a typed campaign record, or a rejection with a specific reason.

Pure: no I/O, no clock. Every tolerance documented in the README lives here:
- envelopes: `{"data": {...}}`, a single locale-like key (`{"en-US": {...}}`), or a bare object;
- field aliases: `type|message_type`, `started_at|start_at|start_date`,
  `actual_start_at|real_start_at`, `total_price|"total price"`;
- `total_price` as a string or a JSON number, parsed exactly as a Decimal (never via float);
- `statistics` as an object, a one-object list, or `[]` (PHP's empty object);
- `alternative_channels` as an object of channels, `[]`, `null` or absent;
- naive timestamps read in the configured time zone, stored in UTC.
Strict where leniency would corrupt or crash a load, by the rules every dataset shares
(parsing.py: UTF-8, strict JSON, storable text, ASCII digits, exact money, UTC's range, depth).
Anything else is rejected, never guessed at: the raw text goes to `rejected_records`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

from bsg_campaigns.contract.exceptions import RecordError
from bsg_campaigns.contract.parsing import (
    UTC, Rejection, body_text, extra_fields, json_type, load_json, parse_integer, parse_price, parse_string,
    parse_timestamp,
)

ALIASES: Dict[str, Tuple[str, ...]] = {
    "type": ("type", "message_type"),
    "start_at": ("started_at", "start_at", "start_date"),
    "real_start_at": ("actual_start_at", "real_start_at"),
    "total_price": ("total_price", "total price"),
}
_PLAIN_FIELDS = (
    "id", "name", "sender", "status", "finished_at", "created_at", "statistics",
    "alternative_channels", "total_messages", "total_phones", "currency",
)
MAPPED_FIELDS = frozenset(_PLAIN_FIELDS).union(*ALIASES.values())


class StatisticRow(NamedTuple):
    """One tidy count (a tuple: millions are built per load)."""

    channel: str
    is_fallback: bool
    status: str
    message_count: int


@dataclass(frozen=True)
class CampaignRecord:
    campaign_id: int
    name: Optional[str]
    sender: Optional[str]
    status: Optional[str]
    type: Optional[str]
    start_at: Optional[datetime]
    real_start_at: Optional[datetime]
    finished_at: Optional[datetime]
    created_at: Optional[datetime]
    total_messages: Optional[int]
    total_phones: Optional[int]
    total_price: Optional[Decimal]
    currency: Optional[str]
    fetched_at: datetime
    extra_fields: Dict[str, Any] = field(default_factory=dict)
    statistics: Tuple[StatisticRow, ...] = ()


ParseResult = Union[CampaignRecord, Rejection]


def parse_detail(
    payload: Union[str, bytes],
    *,
    fetched_at: datetime,
    tz: tzinfo = UTC,
    expected_id: Optional[int] = None,
) -> ParseResult:
    """Parse the body of `GET /api/campaigns/{id}/detail`; never raises for bad input."""
    text, unreadable = body_text(payload)
    if unreadable:
        return Rejection(expected_id, fetched_at, unreadable, text)
    try:
        document = load_json(text)
        return parse_detail_object(unwrap_envelope(document), fetched_at=fetched_at, tz=tz,
                                   expected_id=expected_id)
    except RecordError as exc:
        return Rejection(expected_id, fetched_at, str(exc), text)


def unwrap_envelope(document: Any) -> Dict[str, Any]:
    """Accept `{"data": {...}}`, a single locale-like key, or the bare detail object."""
    if not isinstance(document, dict):
        raise RecordError(f"expected a JSON object, got {json_type(document)}")
    if "id" in document:
        return document
    data = document.get("data")
    if isinstance(data, dict):
        return data
    if "data" in document:
        raise RecordError(f"'data' holds {json_type(data)}, not a campaign object")
    if len(document) == 1:
        (key, inner), = document.items()
        if isinstance(inner, dict) and "id" in inner:
            return inner
    keys = ", ".join(sorted(map(str, document))[:5])
    raise RecordError(f"unknown envelope (no campaign object under 'data', a single key, or bare); keys: {keys}")


def parse_detail_object(
    obj: Dict[str, Any], *, fetched_at: datetime, tz: tzinfo, expected_id: Optional[int]
) -> CampaignRecord:
    campaign_id = parse_integer(obj.get("id"), "id", required=True)
    if expected_id is not None and campaign_id != expected_id:
        raise RecordError(f"asked for campaign {expected_id}, got id {campaign_id}")
    campaign_type = parse_string(_alias(obj, "type"), "type")
    if "statistics" not in obj:
        raise RecordError("missing field 'statistics'")
    channel = campaign_type or "unknown"
    rows = [StatisticRow(channel, False, s, n) for s, n in _statistics(obj["statistics"], "statistics")]
    rows.extend(_fallback_rows(obj.get("alternative_channels")))
    return CampaignRecord(
        campaign_id=campaign_id,
        name=parse_string(obj.get("name"), "name"),
        sender=parse_string(obj.get("sender"), "sender"),
        status=parse_string(obj.get("status"), "status"),
        type=campaign_type,
        start_at=parse_timestamp(_alias(obj, "start_at"), "start_at", tz),
        real_start_at=parse_timestamp(_alias(obj, "real_start_at"), "real_start_at", tz),
        finished_at=parse_timestamp(obj.get("finished_at"), "finished_at", tz),
        created_at=parse_timestamp(obj.get("created_at"), "created_at", tz),
        total_messages=parse_integer(obj.get("total_messages"), "total_messages"),
        total_phones=parse_integer(obj.get("total_phones"), "total_phones"),
        total_price=parse_price(_alias(obj, "total_price")),
        currency=parse_string(obj.get("currency"), "currency"),
        fetched_at=fetched_at,
        extra_fields=extra_fields(obj, MAPPED_FIELDS),
        statistics=tuple(rows),
    )


def _alias(obj: Dict[str, Any], meaning: str) -> Any:
    present = [(name, obj[name]) for name in ALIASES[meaning] if name in obj]
    if len(present) < 2:
        return present[0][1] if present else None
    values = {json.dumps(v, default=str, sort_keys=True) for _, v in present}
    if len(values) > 1:
        names = "/".join(name for name, _ in present)
        raise RecordError(f"conflicting values for {names}")
    return present[0][1] if present else None


def _statistics(value: Any, where: str) -> List[Tuple[str, int]]:
    if isinstance(value, list):
        if not value:
            return []  # PHP encodes an empty object as []
        if len(value) != 1:
            raise RecordError(f"{where} is a list of {len(value)} items; expected one object")
        value = value[0]
    if not isinstance(value, dict):
        raise RecordError(f"{where} is {json_type(value)}; expected an object of counts")
    return [(str(status), parse_integer(count, f"{where}.{status}", required=True))
            for status, count in value.items()]


def _fallback_rows(value: Any) -> List[StatisticRow]:
    if value is None or value == []:
        return []
    if not isinstance(value, dict):
        raise RecordError(f"alternative_channels is {json_type(value)}; expected an object, [] or null")
    rows: List[StatisticRow] = []
    for channel, block in value.items():
        if block is None or block == [] or block == {}:
            continue
        if not isinstance(block, dict):
            raise RecordError(f"alternative_channels.{channel} is {json_type(block)}; expected an object")
        if "statistics" not in block:
            raise RecordError(f"alternative_channels.{channel} has no 'statistics'")
        where = f"alternative_channels.{channel}.statistics"
        rows.extend(StatisticRow(str(channel), True, s, n) for s, n in _statistics(block["statistics"], where))
    return rows
