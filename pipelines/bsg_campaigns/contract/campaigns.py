"""One raw detail payload -> a typed campaign record, or a rejection with a specific reason.

Pure: no I/O, no clock. Every tolerance documented in the README lives here:
- envelopes: `{"data": {...}}`, a single locale-like key (`{"en-US": {...}}`), or a bare object;
- field aliases: `type|message_type`, `started_at|start_at|start_date`,
  `actual_start_at|real_start_at`, `total_price|"total price"`;
- `total_price` as a string or a JSON number, parsed exactly as a Decimal (never via float);
- `statistics` as an object, a one-object list, or `[]` (PHP's empty object);
- `alternative_channels` as an object of channels, `[]`, `null` or absent;
- naive timestamps read in the configured time zone, stored in UTC.
Strict where leniency would corrupt or crash a load: bodies must be UTF-8 and strictly JSON (no
NaN/Infinity), strings valid Unicode (no lone surrogates) without NUL characters (PostgreSQL and
others cannot store U+0000 in text or JSON), digits ASCII, timestamps within UTC's range, and
unmapped fields nested at most MAX_EXTRA_DEPTH levels.
Anything else is rejected, never guessed at: the raw text goes to `rejected_records`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Dict, List, Literal, NamedTuple, Optional, Tuple, Union, overload

from bsg_campaigns.contract.tables import PRICE_PRECISION, PRICE_SCALE
from bsg_campaigns.contract.exceptions import RecordError

UTC = timezone.utc
INT64_MAX = 2**63 - 1
_PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_SCALE)
_PRICE_MAX = Decimal(10) ** (PRICE_PRECISION - PRICE_SCALE)
# re.ASCII: `\d` would also match other scripts' digits ("٧", "１２"), which int() and Decimal()
# then quietly read as numbers - a guess, not the documented tolerance.
_PLAIN_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$", re.ASCII)
_DIGITS = re.compile(r"^\d+$", re.ASCII)
_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})?$", re.ASCII
)
# Text no table can hold: a lone UTF-16 surrogate (as a JSON escape or a raw character) cannot be
# encoded as UTF-8, and U+0000 cannot be stored by PostgreSQL (text or jsonb), so one such string
# would fail the whole load - every run, as the package stays pending - not just its record.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)")
# Unmapped fields are kept as JSON; junk nested deeper than this is refused (serialising very deep
# values later exhausts the interpreter's recursion limit and fails the run, not just the record).
MAX_EXTRA_DEPTH = 32
_RAW_UNSTORABLE = re.compile(r"[\ud800-\udfff\x00]")

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


@dataclass(frozen=True)
class Rejection:
    campaign_id: Optional[int]
    fetched_at: datetime
    reason: str
    payload: str


ParseResult = Union[CampaignRecord, Rejection]


def parse_detail(
    payload: Union[str, bytes],
    *,
    fetched_at: datetime,
    tz: tzinfo = UTC,
    expected_id: Optional[int] = None,
) -> ParseResult:
    """Parse the body of `GET /api/campaigns/{id}/detail`; never raises for bad input."""
    if isinstance(payload, bytes):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Rejection(expected_id, fetched_at, f"body is not valid UTF-8 (byte 0x{payload[exc.start]:02x} "
                             f"at offset {exc.start})", payload.decode("utf-8", errors="replace"))
    else:
        text = payload
    bad = _RAW_UNSTORABLE.search(text)
    if bad:  # not even the raw text could be stored: keep it with that character replaced
        what = "a NUL character (U+0000)" if bad.group() == "\x00" else "a lone UTF-16 surrogate"
        return Rejection(expected_id, fetched_at, f"body contains {what} at offset {bad.start()}",
                         _RAW_UNSTORABLE.sub("\ufffd", text))
    try:
        document = load_json(text)
        return parse_detail_object(unwrap_envelope(document), fetched_at=fetched_at, tz=tz,
                                   expected_id=expected_id)
    except RecordError as exc:
        return Rejection(expected_id, fetched_at, str(exc), text)


def load_json(text: str) -> Any:
    """JSON with exact decimals and no silently-overwritten duplicate keys."""
    if not text or not text.strip():
        raise RecordError("empty body")
    try:
        document = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant,
                               object_pairs_hook=_reject_conflicting_keys)
    except RecordError:
        raise
    except RecursionError:
        raise RecordError("JSON nested too deeply") from None
    except ValueError as exc:
        raise RecordError(f"body is not valid JSON ({exc.__class__.__name__}: {_short(str(exc))})") from None
    if _UNSTORABLE_ESCAPE.search(text):  # rare: only then walk the document
        _check_storable(document)
    return document


def _reject_constant(name: str) -> Any:
    raise RecordError(f"body is not valid JSON (non-standard value {name})")


def _check_storable(document: Any) -> None:
    """Reject strings (values or keys) that cannot be stored as text, naming where they are."""
    stack: List[Tuple[str, Any]] = [("", document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for key, inner in value.items():
                path = f"{where}.{key}" if where else str(key)
                _check_text(key, f"a key in {where or 'the body'}")
                stack.append((path, inner))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", inner) for i, inner in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, where or "the body")


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise RecordError(f"{_short(where, 80)} contains a NUL character (U+0000), which warehouses such as "
                          "PostgreSQL cannot store")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordError(f"{_short(where, 80)} contains a lone UTF-16 surrogate (not valid Unicode text)") from None


def _reject_conflicting_keys(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):  # the common case, at C speed
        return obj
    obj = {}
    for key, value in pairs:
        if key in obj and obj[key] != value:
            raise RecordError(f"duplicate key {key!r} with different values")
        obj[key] = value
    return obj


def unwrap_envelope(document: Any) -> Dict[str, Any]:
    """Accept `{"data": {...}}`, a single locale-like key, or the bare detail object."""
    if not isinstance(document, dict):
        raise RecordError(f"expected a JSON object, got {_json_type(document)}")
    if "id" in document:
        return document
    data = document.get("data")
    if isinstance(data, dict):
        return data
    if "data" in document:
        raise RecordError(f"'data' holds {_json_type(data)}, not a campaign object")
    if len(document) == 1:
        (key, inner), = document.items()
        if isinstance(inner, dict) and "id" in inner:
            return inner
    keys = ", ".join(sorted(map(str, document))[:5])
    raise RecordError(f"unknown envelope (no campaign object under 'data', a single key, or bare); keys: {keys}")


def parse_detail_object(
    obj: Dict[str, Any], *, fetched_at: datetime, tz: tzinfo, expected_id: Optional[int]
) -> CampaignRecord:
    campaign_id = _integer(obj.get("id"), "id", required=True)
    if expected_id is not None and campaign_id != expected_id:
        raise RecordError(f"asked for campaign {expected_id}, got id {campaign_id}")
    campaign_type = _string(_alias(obj, "type"), "type")
    if "statistics" not in obj:
        raise RecordError("missing field 'statistics'")
    channel = campaign_type or "unknown"
    rows = [StatisticRow(channel, False, s, n) for s, n in _statistics(obj["statistics"], "statistics")]
    rows.extend(_fallback_rows(obj.get("alternative_channels")))
    return CampaignRecord(
        campaign_id=campaign_id,
        name=_string(obj.get("name"), "name"),
        sender=_string(obj.get("sender"), "sender"),
        status=_string(obj.get("status"), "status"),
        type=campaign_type,
        start_at=parse_timestamp(_alias(obj, "start_at"), "start_at", tz),
        real_start_at=parse_timestamp(_alias(obj, "real_start_at"), "real_start_at", tz),
        finished_at=parse_timestamp(obj.get("finished_at"), "finished_at", tz),
        created_at=parse_timestamp(obj.get("created_at"), "created_at", tz),
        total_messages=_integer(obj.get("total_messages"), "total_messages"),
        total_phones=_integer(obj.get("total_phones"), "total_phones"),
        total_price=parse_price(_alias(obj, "total_price")),
        currency=_string(obj.get("currency"), "currency"),
        fetched_at=fetched_at,
        extra_fields=_extra_fields(obj),
        statistics=tuple(rows),
    )


def _extra_fields(obj: Dict[str, Any]) -> Dict[str, Any]:
    extra = {k: v for k, v in obj.items() if k not in MAPPED_FIELDS}
    for key, value in extra.items():
        if _depth(value) > MAX_EXTRA_DEPTH:
            raise RecordError(f"field {_short(str(key))!r} is nested more than {MAX_EXTRA_DEPTH} levels deep")
    return extra


def _depth(value: Any) -> int:
    """Nesting depth without recursion (the value may be ~1000 levels deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        current, level = stack.pop()
        if isinstance(current, dict):
            current = list(current.values())
        if isinstance(current, list):
            deepest = max(deepest, level)
            if level > MAX_EXTRA_DEPTH:
                return level
            stack.extend((inner, level + 1) for inner in current)
    return deepest


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
        raise RecordError(f"{where} is {_json_type(value)}; expected an object of counts")
    return [(str(status), _integer(count, f"{where}.{status}", required=True))
            for status, count in value.items()]


def _fallback_rows(value: Any) -> List[StatisticRow]:
    if value is None or value == []:
        return []
    if not isinstance(value, dict):
        raise RecordError(f"alternative_channels is {_json_type(value)}; expected an object, [] or null")
    rows: List[StatisticRow] = []
    for channel, block in value.items():
        if block is None or block == [] or block == {}:
            continue
        if not isinstance(block, dict):
            raise RecordError(f"alternative_channels.{channel} is {_json_type(block)}; expected an object")
        if "statistics" not in block:
            raise RecordError(f"alternative_channels.{channel} has no 'statistics'")
        where = f"alternative_channels.{channel}.statistics"
        rows.extend(StatisticRow(str(channel), True, s, n) for s, n in _statistics(block["statistics"], where))
    return rows


@overload
def _integer(value: Any, where: str, required: Literal[True]) -> int: ...
@overload
def _integer(value: Any, where: str, required: bool = False) -> Optional[int]: ...
def _integer(value: Any, where: str, required: bool = False) -> Optional[int]:
    """Counts and ids: non-negative int64; integral numbers and digit strings are accepted."""
    if type(value) is int and 0 <= value <= INT64_MAX:  # the common case first
        return value
    if value is None:
        if required:
            raise RecordError(f"missing value for {where}")
        return None
    if isinstance(value, bool):
        raise RecordError(f"{where} is a boolean, expected an integer")
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise RecordError(f"{where} is not a whole number: {_short(str(value))}")
        value = int(value)
    elif isinstance(value, str):
        if not _DIGITS.match(value.strip()):
            raise RecordError(f"{where} is not an integer: {_short(value)!r}")
        value = int(value.strip())
    elif not isinstance(value, int):
        raise RecordError(f"{where} is {_json_type(value)}, expected an integer")
    if value < 0:
        raise RecordError(f"{where} is negative: {value}")
    if value > INT64_MAX:
        raise RecordError(f"{where} is too large for a 64-bit integer")
    return int(value)  # an int by now; int() tells the type checker so


def _string(value: Any, where: str) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # e.g. a numeric short-code sender
    raise RecordError(f"{where} is {_json_type(value)}, expected a string")


def parse_price(value: Any) -> Optional[Decimal]:
    """Exact money: a plain decimal string or a JSON number; at most 7 significant decimals."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError("total_price is a boolean")
    if isinstance(value, str):
        text = value.strip()
        if not _PLAIN_DECIMAL.match(text):
            raise RecordError(f"total_price is not a plain decimal number: {_short(value)!r}")
        price = Decimal(text)
    elif isinstance(value, (int, Decimal)):
        price = Decimal(value)
    else:
        raise RecordError(f"total_price is {_json_type(value)}")
    if not price.is_finite():
        raise RecordError(f"total_price is not finite: {price}")
    if price < 0:
        raise RecordError(f"total_price is negative: {price}")
    try:
        quantized = price.quantize(_PRICE_QUANTUM)
    except InvalidOperation:
        raise RecordError("total_price is too large") from None
    if quantized != price:
        raise RecordError(f"total_price has more than {PRICE_SCALE} decimals: {_short(str(value))}")
    if quantized >= _PRICE_MAX:
        raise RecordError("total_price is too large")
    return quantized


def parse_timestamp(value: Any, where: str, tz: tzinfo) -> Optional[datetime]:
    """`yyyy-mm-dd hh:mm:ss` (naive: read in `tz`), also ISO 8601 with `T`, fraction, offset."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError(f"{where} is {_json_type(value)}, expected a timestamp string")
    match = _TIMESTAMP.match(value.strip())
    if not match:
        raise RecordError(f"{where} is not a 'yyyy-mm-dd hh:mm:ss' timestamp: {_short(value)!r}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"{where} is not a valid date/time: {_short(value)!r}") from None
    try:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31 23:59:59-05:00 is after year 9999 in UTC
        raise RecordError(f"{where} is out of range in UTC: {_short(value)!r}") from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, Decimal, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
