"""The strict reading rules every dataset shares: body text, JSON, ids and counts, strings, money,
timestamps, unmapped fields, and the Rejection a payload becomes when it breaks them.

Strict where leniency would corrupt or crash a load: bodies must be UTF-8 and strictly JSON (no
NaN/Infinity), strings valid Unicode (no lone surrogates) without NUL characters (PostgreSQL and
others cannot store U+0000 in text or JSON), digits ASCII, money exact (never via float),
timestamps within UTC's range, and unmapped fields nested at most MAX_EXTRA_DEPTH levels.
Each check raises RecordError, whose text becomes the rejection's reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Collection, Dict, List, Literal, Optional, Tuple, Union, overload

from bsg_campaigns.contract.exceptions import RecordError
from bsg_campaigns.contract.tables import PRICE_PRECISION, PRICE_SCALE

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


@dataclass(frozen=True)
class Rejection:
    """A payload that broke the contract: a `rejected_records` row."""

    campaign_id: Optional[int]
    fetched_at: datetime
    reason: str
    payload: str


def body_text(payload: Union[str, bytes]) -> Tuple[str, Optional[str]]:
    """The body as text, and why it cannot be read when it cannot (then the text returned has the
    offending bytes or characters replaced, so that it can still be stored as the raw payload)."""
    if isinstance(payload, bytes):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            return (payload.decode("utf-8", errors="replace"),
                    f"body is not valid UTF-8 (byte 0x{payload[exc.start]:02x} at offset {exc.start})")
    else:
        text = payload
    bad = _RAW_UNSTORABLE.search(text)
    if bad:  # not even the raw text could be stored: keep it with that character replaced
        what = "a NUL character (U+0000)" if bad.group() == "\x00" else "a lone UTF-16 surrogate"
        return _RAW_UNSTORABLE.sub("\ufffd", text), f"body contains {what} at offset {bad.start()}"
    return text, None


def load_json(text: str, *, check_text: bool = True) -> Any:
    """JSON with exact decimals and no silently-overwritten duplicate keys. `check_text=False`
    leaves the storable-text check to the caller (check_storable per item, see may_be_unstorable),
    so that one bad item of a page rejects that item only."""
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
        raise RecordError(f"body is not valid JSON ({exc.__class__.__name__}: {short(str(exc))})") from None
    if check_text and may_be_unstorable(text):  # rare: only then walk the document
        check_storable(document)
    return document


def may_be_unstorable(text: str) -> bool:
    """Whether JSON text escapes a character no table can store (a NUL or a lone surrogate)."""
    return _UNSTORABLE_ESCAPE.search(text) is not None


def _reject_constant(name: str) -> Any:
    raise RecordError(f"body is not valid JSON (non-standard value {name})")


def check_storable(document: Any, root: str = "") -> None:
    """Reject strings (values or keys) that cannot be stored as text, naming where they are."""
    stack: List[Tuple[str, Any]] = [(root, document)]
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
        raise RecordError(f"{short(where, 80)} contains a NUL character (U+0000), which warehouses such as "
                          "PostgreSQL cannot store")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordError(f"{short(where, 80)} contains a lone UTF-16 surrogate (not valid Unicode text)") from None


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


def extra_fields(obj: Dict[str, Any], mapped: Collection[str]) -> Dict[str, Any]:
    """The fields the contract does not map, kept as they came (depth-checked)."""
    extra = {k: v for k, v in obj.items() if k not in mapped}
    for key, value in extra.items():
        if _depth(value) > MAX_EXTRA_DEPTH:
            raise RecordError(f"field {short(str(key))!r} is nested more than {MAX_EXTRA_DEPTH} levels deep")
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


@overload
def parse_integer(value: Any, where: str, required: Literal[True]) -> int: ...
@overload
def parse_integer(value: Any, where: str, required: bool = False) -> Optional[int]: ...
def parse_integer(value: Any, where: str, required: bool = False) -> Optional[int]:
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
            raise RecordError(f"{where} is not a whole number: {short(str(value))}")
        value = int(value)
    elif isinstance(value, str):
        if not _DIGITS.match(value.strip()):
            raise RecordError(f"{where} is not an integer: {short(value)!r}")
        value = int(value.strip())
    elif not isinstance(value, int):
        raise RecordError(f"{where} is {json_type(value)}, expected an integer")
    if value < 0:
        raise RecordError(f"{where} is negative: {value}")
    if value > INT64_MAX:
        raise RecordError(f"{where} is too large for a 64-bit integer")
    return int(value)  # an int by now; int() tells the type checker so


def parse_string(value: Any, where: str) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # e.g. a numeric short-code sender
    raise RecordError(f"{where} is {json_type(value)}, expected a string")


def parse_price(value: Any, where: str = "total_price") -> Optional[Decimal]:
    """Exact money: a plain decimal string or a JSON number; at most 7 significant decimals."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{where} is a boolean")
    if isinstance(value, str):
        text = value.strip()
        if not _PLAIN_DECIMAL.match(text):
            raise RecordError(f"{where} is not a plain decimal number: {short(value)!r}")
        price = Decimal(text)
    elif isinstance(value, (int, Decimal)):
        price = Decimal(value)
    else:
        raise RecordError(f"{where} is {json_type(value)}")
    if not price.is_finite():
        raise RecordError(f"{where} is not finite: {price}")
    if price < 0:
        raise RecordError(f"{where} is negative: {price}")
    try:
        quantized = price.quantize(_PRICE_QUANTUM)
    except InvalidOperation:
        raise RecordError(f"{where} is too large") from None
    if quantized != price:
        raise RecordError(f"{where} has more than {PRICE_SCALE} decimals: {short(str(value))}")
    if quantized >= _PRICE_MAX:
        raise RecordError(f"{where} is too large")
    return quantized


def parse_timestamp(value: Any, where: str, tz: tzinfo) -> Optional[datetime]:
    """`yyyy-mm-dd hh:mm:ss` (naive: read in `tz`), also ISO 8601 with `T`, fraction, offset."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError(f"{where} is {json_type(value)}, expected a timestamp string")
    match = _TIMESTAMP.match(value.strip())
    if not match:
        raise RecordError(f"{where} is not a 'yyyy-mm-dd hh:mm:ss' timestamp: {short(value)!r}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"{where} is not a valid date/time: {short(value)!r}") from None
    try:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31 23:59:59-05:00 is after year 9999 in UTC
        raise RecordError(f"{where} is out of range in UTC: {short(value)!r}") from None


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def epoch_micros(moment: datetime) -> int:
    """An aware datetime as microseconds since 1970-01-01 UTC (what arrow's timestamp('us') holds)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def json_text(value: Any) -> str:
    """A parsed JSON value back as text: numbers read as Decimal stay numbers where exact, and the
    text is storable (a lone surrogate, which only ASCII escaping can carry, forces escaping)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)
    if _RAW_UNSTORABLE.search(text):  # json.dumps escapes NUL itself; a surrogate it writes raw
        text = json.dumps(value, ensure_ascii=True, sort_keys=True, default=_json_default)
    return text


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # JSON numbers arrive as Decimal (exact parsing); keep them numbers where exact.
        as_int = int(value) if value == value.to_integral_value() else None
        if as_int is not None and abs(as_int) < 2**53:
            return as_int
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_type(value: Any) -> str:
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


def short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
