"""The data contract: table names, column types and dlt hints, in one place.

Names here are part of the product (analysts and BI tools depend on them). Every table is
built as a pyarrow table with exactly these schemas, so types never depend on inference:
money is DECIMAL(38,7), times are UTC-aware timestamps, counts are BIGINT.
"""

from __future__ import annotations

from typing import Dict, Tuple

import pyarrow as pa
from dlt.common.schema.typing import TColumnSchema

CAMPAIGNS = "campaigns"
CAMPAIGN_STATISTICS = "campaign_statistics"
CAMPAIGN_STATISTICS_HISTORY = "campaign_statistics_history"
REJECTED_RECORDS = "rejected_records"
# The message-level tables (the `messages` setting), merged on their keys.
MESSAGES = "messages"
MESSAGE_FALLBACKS = "message_fallbacks"
MESSAGE_READS = "message_reads"
# The keys their rows are merged on (source.py): a re-read replaces the rows of these keys.
MESSAGES_KEY = ("message_id",)  # messages and message_fallbacks (a message's links replaced whole)
MESSAGE_READS_KEY = ("campaign_id",)

PRICE_PRECISION = 38
PRICE_SCALE = 7

_TS = pa.timestamp("us", tz="UTC")

CAMPAIGNS_SCHEMA = pa.schema(
    [
        pa.field("campaign_id", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("sender", pa.string()),
        pa.field("status", pa.string()),
        pa.field("type", pa.string()),
        pa.field("start_at", _TS),
        pa.field("real_start_at", _TS),
        pa.field("finished_at", _TS),
        pa.field("created_at", _TS),
        pa.field("total_messages", pa.int64()),
        pa.field("total_phones", pa.int64()),
        pa.field("total_price", pa.decimal128(PRICE_PRECISION, PRICE_SCALE)),
        pa.field("currency", pa.string()),
        pa.field("fetched_at", _TS, nullable=False),
        # JSON text of every detail field the contract does not map (see contract/campaigns.py).
        pa.field("extra_fields", pa.string()),
    ]
)

STATISTICS_SCHEMA = pa.schema(
    [
        pa.field("campaign_id", pa.int64(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("is_fallback", pa.bool_(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("message_count", pa.int64(), nullable=False),
    ]
)

HISTORY_SCHEMA = STATISTICS_SCHEMA.append(pa.field("fetched_at", _TS, nullable=False))

REJECTED_SCHEMA = pa.schema(
    [
        pa.field("campaign_id", pa.int64()),
        pa.field("fetched_at", _TS, nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("payload", pa.string()),
    ]
)

MESSAGES_SCHEMA = pa.schema(
    [   # one line per concern: identity, what was sent how, to whom, when, at what price, content
        pa.field("message_id", pa.int64(), nullable=False), pa.field("campaign_id", pa.int64(), nullable=False),
        pa.field("reference_id", pa.string()),
        pa.field("channel", pa.string()), pa.field("source", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        # The phone number as the privacy mode made it (contract/privacy.py); recipient_scheme
        # says which mode and key: values of different schemes never join.
        pa.field("recipient", pa.string()), pa.field("recipient_scheme", pa.string(), nullable=False),
        pa.field("country", pa.string()), pa.field("parts", pa.int64()), pa.field("sender", pa.string()),
        pa.field("created_at", _TS), pa.field("sent_at", _TS), pa.field("delivered_at", _TS),
        pa.field("price", pa.decimal128(PRICE_PRECISION, PRICE_SCALE)), pa.field("currency", pa.string()),
        pa.field("validity_hours", pa.int64()),
        # Content: NULL unless the store_message_text setting asks for it.
        pa.field("text", pa.string()), pa.field("rcs_options", pa.string()),
        pa.field("fetched_at", _TS, nullable=False), pa.field("extra_fields", pa.string()),
    ]
)

# The link between a message and the messages it was re-sent as (an RCS message's SMS fallback),
# one row per pair: its fallbacks are `WHERE message_id = x`, the message a fallback SMS stands
# in for `WHERE fallback_message_id = y`. A table rather than a column: the API gives a list.
MESSAGE_FALLBACKS_SCHEMA = pa.schema(
    [
        pa.field("message_id", pa.int64(), nullable=False),
        pa.field("campaign_id", pa.int64(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("fallback_message_id", pa.int64(), nullable=False),
        pa.field("fallback_parts", pa.int64()),
    ]
)

# One row per campaign whose messages were read: the latest read (merged on campaign_id). The
# reconciliation check compares `messages` with `campaign_statistics` for complete reads only.
MESSAGE_READS_SCHEMA = pa.schema(
    [
        pa.field("campaign_id", pa.int64(), nullable=False),
        pa.field("read_at", _TS, nullable=False),  # the server's time of the read's first page
        pa.field("messages", pa.int64(), nullable=False),  # rows loaded into `messages`
        pa.field("rejected", pa.int64(), nullable=False),  # items sent to rejected_records
        pa.field("pages", pa.int64(), nullable=False),
        pa.field("complete", pa.bool_(), nullable=False),  # every page was read
        # The read's counts by status equal the detail's statistics fetched just before it (NULL
        # when the read was not complete).
        pa.field("matches_statistics", pa.bool_()),
    ]
)


def dlt_columns(schema: pa.Schema, json_columns: Tuple[str, ...] = ()) -> Dict[str, TColumnSchema]:
    """dlt column hints that match an arrow schema exactly (so dlt never warns or widens)."""
    columns: Dict[str, TColumnSchema] = {}
    for field in schema:
        hint: TColumnSchema = {"name": field.name, "nullable": field.nullable}
        if field.name in json_columns:
            hint["data_type"] = "json"
        elif pa.types.is_int64(field.type):
            hint["data_type"] = "bigint"
        elif pa.types.is_boolean(field.type):
            hint["data_type"] = "bool"
        elif pa.types.is_timestamp(field.type):
            hint["data_type"] = "timestamp"
            hint["timezone"] = True
            hint["precision"] = 6
        elif pa.types.is_decimal(field.type):
            hint["data_type"] = "decimal"
            hint["precision"] = field.type.precision
            hint["scale"] = field.type.scale
        else:
            hint["data_type"] = "text"
        columns[field.name] = hint
    return columns


CAMPAIGNS_COLUMNS = dlt_columns(CAMPAIGNS_SCHEMA, json_columns=("extra_fields",))
STATISTICS_COLUMNS = dlt_columns(STATISTICS_SCHEMA)
HISTORY_COLUMNS = dlt_columns(HISTORY_SCHEMA)
REJECTED_COLUMNS = dlt_columns(REJECTED_SCHEMA)
MESSAGES_COLUMNS = dlt_columns(MESSAGES_SCHEMA, json_columns=("rcs_options", "extra_fields"))
MESSAGE_FALLBACKS_COLUMNS = dlt_columns(MESSAGE_FALLBACKS_SCHEMA)
MESSAGE_READS_COLUMNS = dlt_columns(MESSAGE_READS_SCHEMA)
