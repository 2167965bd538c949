"""Parsed records -> pyarrow tables with the contract's exact schemas.

dlt loads arrow tables as parquet without per-row Python work; on DuckDB that is ~50x faster
than dicts through insert-values (see dlt-notes), and the types are fixed by tables.py instead
of being inferred."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, List, Optional

import pyarrow as pa

from .records import CampaignRecord, Rejection
from .tables import CAMPAIGNS_SCHEMA, HISTORY_SCHEMA, REJECTED_SCHEMA, STATISTICS_SCHEMA


@dataclass
class DetailBatch:
    """One chunk of fetched details, handed from the extract resource to the table resources."""

    records: List[CampaignRecord] = field(default_factory=list)
    rejections: List[Rejection] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records) + len(self.rejections)


def warm_up() -> None:
    """pyarrow imports pandas (~1 s) on its first conversion from Python objects: let that
    happen in the background while the first details are on the network."""
    threading.Thread(target=pa.array, args=([0],), daemon=True, name="bsg-arrow-warm-up").start()


def campaigns_table(records: List[CampaignRecord]) -> pa.Table:
    columns = {name: [getattr(r, name) for r in records] for name in CAMPAIGNS_SCHEMA.names
               if name not in ("extra_fields",)}
    columns["extra_fields"] = [extra_fields_json(r.extra_fields) for r in records]
    return _table(columns, CAMPAIGNS_SCHEMA)


def statistics_table(records: List[CampaignRecord]) -> pa.Table:
    return _table(_statistics_columns(records), STATISTICS_SCHEMA)


def history_table(records: List[CampaignRecord]) -> pa.Table:
    columns = _statistics_columns(records)
    columns["fetched_at"] = [r.fetched_at for r in records for _ in r.statistics]
    return _table(columns, HISTORY_SCHEMA)


def rejected_table(rejections: List[Rejection]) -> pa.Table:
    return _table({name: [getattr(r, name) for r in rejections] for name in REJECTED_SCHEMA.names},
                  REJECTED_SCHEMA)


def _table(columns: dict, schema: pa.Schema) -> pa.Table:
    arrays = []
    for schema_field in schema:
        values = columns[schema_field.name]
        if pa.types.is_timestamp(schema_field.type):
            # Aware datetimes -> epoch microseconds ourselves: pyarrow would import pandas (1 s)
            # to resolve time zones, and be slower per value.
            micros = [None if v is None else _epoch_micros(v) for v in values]
            arrays.append(pa.array(micros, pa.int64()).cast(schema_field.type))
        else:
            arrays.append(pa.array(values, schema_field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _epoch_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _statistics_columns(records: List[CampaignRecord]) -> dict:
    rows = [(r.campaign_id, s) for r in records for s in r.statistics]
    return {
        "campaign_id": [cid for cid, _ in rows],
        "channel": [s.channel for _, s in rows],
        "is_fallback": [s.is_fallback for _, s in rows],
        "status": [s.status for _, s in rows],
        "message_count": [s.message_count for _, s in rows],
    }


def extra_fields_json(extra: dict) -> Optional[str]:
    """Unmapped detail fields as JSON text (NULL when the API sent none)."""
    if not extra:
        return None
    return json.dumps(extra, ensure_ascii=False, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # JSON numbers arrive as Decimal (exact parsing); keep them numbers where exact.
        as_int = int(value) if value == value.to_integral_value() else None
        if as_int is not None and abs(as_int) < 2**53:
            return as_int
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
