"""Parsed records -> pyarrow tables with the contract's exact schemas.

dlt loads arrow tables as parquet without per-row Python work; on DuckDB that is ~50x faster
than dicts through insert-values (see dlt-notes), and the types are fixed by tables.py instead
of being inferred."""

from __future__ import annotations

import threading
from itertools import repeat
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
import pyarrow as pa

from bsg_campaigns.contract.campaigns import CampaignRecord
from bsg_campaigns.contract.message_pages import MessageColumns
from bsg_campaigns.contract.parsing import Rejection, epoch_micros, json_text
from bsg_campaigns.contract.tables import (
    CAMPAIGNS_SCHEMA, HISTORY_SCHEMA, MESSAGE_FALLBACKS_SCHEMA, MESSAGE_READS_SCHEMA, MESSAGES_SCHEMA, REJECTED_SCHEMA,
    STATISTICS_SCHEMA,
)


@dataclass
class DetailBatch:
    """One chunk of fetched details, handed from the extract resource to the table resources."""

    records: List[CampaignRecord] = field(default_factory=list)
    rejections: List[Rejection] = field(default_factory=list)
    _statistics: Optional[pa.Table] = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.records) + len(self.rejections)

    def statistics(self) -> pa.Table:
        """The tidy rows, built once: campaign_statistics and its history share them."""
        if self._statistics is None:
            self._statistics = statistics_table(self.records)
        return self._statistics


# Messages made arrow together (the per-call cost of pyarrow's conversions is paid per 5,000
# messages, not per 500-message page: 1 M messages 1.25 s against 1.78 s page by page).
ARROW_ROWS = 5_000


@dataclass
class MessageBatch:
    """One chunk of read messages (and the reads that ended in it), for the message tables. Each
    ARROW_ROWS messages are made arrow (~0.2 KB a message instead of ~1 KB of Python objects), so
    a chunk can be large: dlt recomputes an arrow item's table schema on every item (~4 ms,
    extractors.py: "contract cache not supported for arrow tables"), which 5,000-message chunks
    paid 200 times per million messages."""

    rejections: List[Rejection] = field(default_factory=list)
    reads: List[Dict[str, Any]] = field(default_factory=list)  # rows of message_reads
    _messages: List[pa.Table] = field(default_factory=list, repr=False)
    _fallbacks: List[pa.Table] = field(default_factory=list, repr=False)
    _pending: MessageColumns = field(default_factory=MessageColumns, repr=False)  # not arrow yet
    rows: int = 0  # messages added
    fallback_rows: int = 0

    def add(self, messages: MessageColumns) -> None:
        self._pending.extend(messages)
        self.rows += len(messages)
        self.fallback_rows += messages.fallback_count()
        if len(self._pending) >= ARROW_ROWS:
            self._flush()

    def messages(self) -> pa.Table:
        self._flush()
        return pa.concat_tables(self._messages) if self._messages else messages_table(MessageColumns())

    def fallbacks(self) -> pa.Table:
        self._flush()
        return pa.concat_tables(self._fallbacks) if self._fallbacks else message_fallbacks_table(MessageColumns())

    def _flush(self) -> None:
        if len(self._pending):
            self._messages.append(messages_table(self._pending))
            self._fallbacks.append(message_fallbacks_table(self._pending))
            self._pending = MessageColumns()

    def __len__(self) -> int:
        return self.rows + len(self.rejections)


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


def history_table(records: List[CampaignRecord], statistics: Optional[pa.Table] = None) -> pa.Table:
    """The statistics rows plus each record's fetched_at (repeated per row, at C speed)."""
    statistics = statistics if statistics is not None else statistics_table(records)
    lengths = np.fromiter((len(r.statistics) for r in records), dtype=np.int64, count=len(records))
    fetched = np.fromiter((epoch_micros(r.fetched_at) for r in records), dtype=np.int64, count=len(records))
    fetched_at = pa.array(np.repeat(fetched, lengths)).cast(HISTORY_SCHEMA.field("fetched_at").type)
    return pa.Table.from_arrays(statistics.columns + [fetched_at], schema=HISTORY_SCHEMA)


def messages_table(messages: MessageColumns) -> pa.Table:
    """The columns as arrow: timestamps are epoch microseconds already; prices are converted once
    per distinct value and gathered."""
    arrays = []
    for schema_field in MESSAGES_SCHEMA:
        values = messages[schema_field.name]
        if schema_field.name in ("rcs_options", "extra_fields"):
            arrays.append(pa.array([None if v is None else json_text(v) for v in values], pa.string()))
        elif pa.types.is_timestamp(schema_field.type):  # the columns hold epoch microseconds
            arrays.append(pa.array(values, pa.int64()).cast(schema_field.type))
        elif pa.types.is_decimal(schema_field.type):
            arrays.append(_gathered(values, schema_field.type))
        else:
            arrays.append(pa.array(values, schema_field.type))
    return pa.Table.from_arrays(arrays, schema=MESSAGES_SCHEMA)


def _gathered(values: List[Any], type_: pa.DataType) -> pa.Array:
    """pa.array(values, type_) converting each distinct value once (prices: a Decimal's conversion
    is slow, and a campaign's messages share a few)."""
    distinct = list(dict.fromkeys(values))
    index = {value: position for position, value in enumerate(distinct)}
    dictionary = pa.array(distinct, type_)
    return dictionary.take(pa.array(list(map(index.__getitem__, values)), pa.int32()))


def message_fallbacks_table(messages: MessageColumns) -> pa.Table:
    """One row per (message, fallback message): a message has none or one link, rarely more."""
    ids: List[int] = []
    campaigns: List[int] = []
    channels: List[str] = []
    fallback_ids: List[int] = []
    parts: List[Optional[int]] = []
    for message_id, campaign_id, links in zip(messages["message_id"], messages["campaign_id"], messages["fallbacks"]):
        for channel, fallback_id, fallback_parts in links:
            ids.append(message_id)
            campaigns.append(campaign_id)
            channels.append(channel)
            fallback_ids.append(fallback_id)
            parts.append(fallback_parts)
    return _table({"message_id": ids, "campaign_id": campaigns, "channel": channels,
                   "fallback_message_id": fallback_ids, "fallback_parts": parts}, MESSAGE_FALLBACKS_SCHEMA)


def message_reads_table(reads: List[Dict[str, Any]]) -> pa.Table:
    return _table({name: [read[name] for read in reads] for name in MESSAGE_READS_SCHEMA.names},
                  MESSAGE_READS_SCHEMA)


def rejected_table(rejections: List[Rejection]) -> pa.Table:
    return _table({name: [getattr(r, name) for r in rejections] for name in REJECTED_SCHEMA.names},
                  REJECTED_SCHEMA)


def _table(columns: Dict[str, List[Any]], schema: pa.Schema) -> pa.Table:
    arrays = []
    for schema_field in schema:
        values = columns[schema_field.name]
        if pa.types.is_timestamp(schema_field.type):
            # Aware datetimes -> epoch microseconds ourselves: pyarrow would import pandas (1 s)
            # to resolve time zones, and be slower per value.
            micros = [None if v is None else epoch_micros(v) for v in values]
            arrays.append(pa.array(micros, pa.int64()).cast(schema_field.type))
        else:
            arrays.append(pa.array(values, schema_field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _statistics_columns(records: List[CampaignRecord]) -> Dict[str, List[Any]]:
    """Column lists, extended per record (one small transpose each) rather than per row:
    ~1.5M rows per 100k campaigns make per-row Python objects the dominant cost."""
    ids: List[int] = []
    channels: List[str] = []
    fallbacks: List[bool] = []
    statuses: List[str] = []
    counts: List[int] = []
    for record in records:
        if not record.statistics:
            continue
        channel, is_fallback, status, count = zip(*record.statistics)
        ids.extend(repeat(record.campaign_id, len(channel)))
        channels.extend(channel)
        fallbacks.extend(is_fallback)
        statuses.extend(status)
        counts.extend(count)
    return {"campaign_id": ids, "channel": channels, "is_fallback": fallbacks, "status": statuses,
            "message_count": counts}


def extra_fields_json(extra: Dict[str, Any]) -> Optional[str]:
    """Unmapped detail fields as JSON text (NULL when the API sent none)."""
    return json_text(extra) if extra else None
