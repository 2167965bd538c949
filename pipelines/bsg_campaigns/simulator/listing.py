"""GET /api/campaigns: query validation (the server's 422 rules) and the page query itself.

Rules mirrored from the reference: page[limit] 30..500 (default 50; the vendor's spec says a
minimum of 30, its server's error text 15: the simulator keeps to where both agree), page[offset] >= 0, sort
id|sender|type|date|status, way asc|desc, filter[from]/filter[to] naive 'yyyy-mm-dd hh:mm:ss' in
the server time zone on the creation date (default: the 3 months up to now; at most 3 calendar
months; `to` at most 30 days ahead), filter[type] sms|rcs|whatsapp (omitted means sms),
search[field] sender|taskname + search[value] (substring). Only created campaigns exist."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import AbstractSet, Any, Dict, List, Mapping, Optional, Tuple

from .catalogue import Catalogue
from .render import list_item

SORTS = ("id", "sender", "type", "date", "status")
TYPES = ("sms", "rcs", "whatsapp")
_FMT = "%Y-%m-%d %H:%M:%S"


class Invalid(Exception):
    """A 422 'The given data was invalid.' with its errors object."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.errors = {field: [message]}


@dataclass
class Fixture:
    """A put_detail() campaign: an exact body, optionally listed under a type."""

    body: bytes
    status: int
    content_type: str
    created: Optional[float] = None  # UTC epoch; listed only when set
    kind: str = "rcs"
    item: Optional[Dict[str, Any]] = None


@dataclass
class ListQuery:
    offset: int
    limit: int
    sort: str
    desc: bool
    lo: float
    hi: float
    kind: str
    search_field: Optional[str]
    search_value: str


def _add_months(value: datetime, months: int) -> datetime:
    month0 = value.month - 1 + months
    year, month = value.year + month0 // 12, month0 % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def _to_epoch(local: datetime, zone: Any) -> float:
    return local.replace(tzinfo=zone).astimezone(timezone.utc).timestamp()


def _int(q: Mapping[str, str], key: str, default: int, field: str, message: str) -> int:
    raw = q.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise Invalid(field, message) from None


def parse_page(q: Mapping[str, str], min_limit: int = 30) -> Tuple[int, int]:
    """(offset, limit) of page[offset] and page[limit] (default 50, min_limit..500)."""
    limit_msg = f"This value should be between {min_limit} and 500."
    limit = _int(q, "page[limit]", 50, "pagelimit", limit_msg)
    if not min_limit <= limit <= 500:
        raise Invalid("pagelimit", limit_msg)
    offset_msg = "This value should be greater than or equal to 0."
    offset = _int(q, "page[offset]", 0, "pageoffset", offset_msg)
    if offset < 0:
        raise Invalid("pageoffset", offset_msg)
    return offset, limit


def parse_choice(q: Mapping[str, str], key: str, field: str, choices: Tuple[str, ...]) -> str:
    """A query value from `choices` (the first is the default); 422 otherwise."""
    value = (q.get(key) or choices[0]).lower() if key == "way" else q.get(key) or choices[0]
    if value not in choices:
        raise Invalid(field, "The value you selected is not a valid choice.")
    return value


def parse_window(q: Mapping[str, str], now: float, zone: Any) -> Tuple[float, float]:
    """filter[from]/filter[to] as UTC epochs (default: the 3 months up to now)."""
    local_now = datetime.fromtimestamp(int(now), zone).replace(tzinfo=None)
    parsed: Dict[str, datetime] = {}
    for key in ("from", "to"):
        raw = q.get(f"filter[{key}]")
        if raw:
            try:
                parsed[key] = datetime.strptime(raw, _FMT)
            except ValueError:
                raise Invalid("filter", "The date format must be Y-m-d H:i:s.") from None
    to = parsed.get("to", local_now)
    start = parsed.get("from", _add_months(to, -3))
    if start > to:
        raise Invalid("filter", "The start date must be before the end date.")
    if to > _add_months(start, 3):
        raise Invalid("filter", "The period must not exceed 3 months.")
    if to > local_now + timedelta(days=30):
        raise Invalid("filter", "The end date must not be more than 30 days in the future.")
    return _to_epoch(start, zone), _to_epoch(to, zone)


def parse_query(q: Mapping[str, str], now: float, zone: Any) -> ListQuery:
    """Validate the list query; raise Invalid (422) exactly where the server would."""
    offset, limit = parse_page(q)
    sort = parse_choice(q, "sort", "sort", SORTS)
    way = parse_choice(q, "way", "way", ("asc", "desc"))
    kind = parse_choice(q, "filter[type]", "type", TYPES)
    lo, hi = parse_window(q, now, zone)
    field = q.get("search[field]")
    value = q.get("search[value]") or ""
    if field is not None and field not in ("sender", "taskname"):
        raise Invalid("search", "The value you selected is not a valid choice.")
    if len(value) > 255:  # the spec's maxLength
        raise Invalid("search", "The value may not be greater than 255 characters.")
    return ListQuery(offset, limit, sort, way == "desc", lo, hi, kind,
                     field if value else None, value.casefold())


def run_query(cat: Catalogue, lq: ListQuery, now: float, served_limit: int, zone: Any,
              fixtures: Mapping[int, Fixture], removed: AbstractSet[int], plan: Tuple[str, ...]) -> Dict[str, Any]:
    """One page of campaigns plus meta.page, honouring fixtures and removals."""
    hi = min(lq.hi, now)
    positions = cat.window(lq.kind, lq.lo, hi)
    listed = [(cid, f) for cid, f in fixtures.items() if f.created is not None
              and f.kind == lq.kind and lq.lo <= f.created <= hi and cid not in removed]
    simple = (not listed and not removed and lq.search_field is None
              and lq.sort in ("id", "date", "type"))
    if simple:  # index order is id order and creation order
        total = len(positions)
        if lq.desc:
            positions = positions[::-1]
        rows: List[Any] = positions[lq.offset:lq.offset + served_limit]
    else:
        overridden = set(cid for cid, _ in listed)
        entries: List[Tuple[Any, int, Any]] = []
        ids = cat.ids
        for i in positions:
            cid = ids[i]
            if cid in removed or cid in overridden:
                continue
            entries.append((_key(cat, i, lq, now), cid, i))
        for cid, f in listed:
            entries.append((_fixture_key(cid, f, lq), cid, f))
        if lq.search_field is not None:
            entries = [e for e in entries if lq.search_value in _search_text(cat, e[2], lq)]
        entries.sort(key=lambda e: (e[0], e[1]), reverse=lq.desc)
        total = len(entries)
        rows = [e[2] for e in entries[lq.offset:lq.offset + served_limit]]
    data = [list_item(cat, r, now, zone, plan) if isinstance(r, int) else dict(r.item or {})
            for r in rows]
    return {"data": data, "meta": {"page": {"total": total, "limit": served_limit,
                                            "offset": lq.offset}}}


def _key(cat: Catalogue, i: int, lq: ListQuery, now: float) -> Any:
    if lq.sort == "sender":
        return cat.sender(i)
    if lq.sort == "status":
        return cat.profile(i).status(now)
    if lq.sort == "date":
        return cat.created[i]
    return 0  # id / type (one type per query): the id decides


def _fixture_key(cid: int, f: Fixture, lq: ListQuery) -> Any:
    item = f.item or {}
    if lq.sort == "sender":
        return str(item.get("sender") or "")
    if lq.sort == "status":
        return str(item.get("status") or "")
    if lq.sort == "date":
        return f.created or 0
    return 0


def _search_text(cat: Catalogue, ref: Any, lq: ListQuery) -> str:
    if isinstance(ref, int):
        text = cat.sender(ref) if lq.search_field == "sender" else cat.name(ref)
    else:
        item = ref.item or {}
        text = str(item.get("sender" if lq.search_field == "sender" else "name") or "")
    return text.casefold()
