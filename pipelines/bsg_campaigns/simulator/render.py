"""Turning a campaign at a simulated time into response bodies: the canonical (real) detail
shape, the list item, and the served detail with its shape variants, persistent corruption and
extra (unmapped) fields. Money is Decimal end to end; a price served "as a number" is spliced
into the JSON text as its exact digits, never through a float."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Dict, Optional, Tuple

from .campaign import Profile
from .catalogue import Catalogue, mix
from .config import VARIANT_OPTIONS, Knobs

SEVEN = Decimal("0.0000001")
_DIMS = tuple(VARIANT_OPTIONS)
_LOCALES = ("en-US", "en-US", "uk-UA", "ru-RU")
_RAW_PRICE = "\x00raw-price\x00"  # placeholder replaced by the price's digits after dumps
CORRUPTIONS = ("stat_value_str", "missing_id", "price_abc", "data_string", "statistics_string")


_NAIVE_CACHE: Dict[Tuple[int, Any], str] = {}
_NAIVE_CACHE_MAX = 400_000


def naive(ts: Optional[float], zone: Any) -> Optional[str]:
    """'yyyy-mm-dd hh:mm:ss' in the server time zone (the API's naive timestamp format).
    Cached: a campaign's timeline points are rendered on every read of it."""
    if ts is None:
        return None
    key = (int(ts), zone)
    text = _NAIVE_CACHE.get(key)
    if text is None:
        if len(_NAIVE_CACHE) >= _NAIVE_CACHE_MAX:
            _NAIVE_CACHE.clear()
        text = datetime.fromtimestamp(key[0], zone or timezone.utc).isoformat(" ")[:19]
        _NAIVE_CACHE[key] = text
    return text


def price_text(value: Decimal) -> str:
    """Exactly seven decimals, as the API's total_price string."""
    return format(value.quantize(SEVEN), "f")


def number_text(value: Decimal) -> str:
    """Shortest exact decimal digits for a JSON number (e.g. 12.34, 0)."""
    text = format(value.quantize(SEVEN), "f").rstrip("0").rstrip(".")
    return text or "0"


# The detail and the list name three of the same facts differently (the spec's two schemas):
# the channel, the planned start and the actual start.
_DETAIL_NAMES = ("type", "started_at", "actual_start_at")
_LIST_NAMES = ("message_type", "start_at", "real_start_at")


def _campaign_fields(cat: Catalogue, idx: int, t: float, zone: Any, names: Tuple[str, str, str]) -> Dict[str, Any]:
    """What the detail and a list row both say about campaign `idx` at time `t`, in their order."""
    p = cat.profile(idx)
    started = t >= p.actual and p.fate != "spam"
    channel, start, actual_start = names
    return {
        "id": p.id,
        "name": cat.name(idx),
        "sender": cat.sender(idx),
        "status": p.status(t),
        channel: p.kind,
        start: naive(p.start_at, zone),
        actual_start: naive(p.actual, zone) if started else None,
        "finished_at": naive(p.finish, zone) if started and t >= p.finish else None,
        "created_at": naive(p.created, zone),
    }


def canonical(cat: Catalogue, idx: int, t: float, zone: Any, currency: str) -> Dict[str, Any]:
    """The real-shape inner detail object of campaign `idx` at simulated time `t`."""
    p = cat.profile(idx)
    primary, fb, dispatched, fb_sent = p.counts(t)
    return {
        **_campaign_fields(cat, idx, t, zone, _DETAIL_NAMES),
        "statistics": primary,
        "total_messages": p.total,
        "total_phones": p.phones,
        "total_price": price_text(p.price(dispatched, fb_sent)),
        "currency": currency,
        "alternative_channels": {"sms": {"statistics": fb}} if fb is not None else [],
    }


def list_item(cat: Catalogue, idx: int, t: float, zone: Any, plan: Tuple[str, ...]) -> Dict[str, Any]:
    """A list endpoint row: other field names, cumulative statistics, currency often null,
    calculated_price a JSON number (or, as a variant, null or a string)."""
    p = cat.profile(idx)
    price_as = variant_choice(cat.seed, p.id, plan)[_DIMS.index("list_price_as")]
    primary, _, dispatched, fb_sent = p.counts(t)
    return {
        **_campaign_fields(cat, idx, t, zone, _LIST_NAMES),
        "statistics": {"delivered": primary["delivered"] + primary["read"], "sent": dispatched},
        "calculated_price": list_price(p.price(dispatched, fb_sent), price_as),
        "currency": None,
    }


def list_price(value: Optional[Decimal], price_as: str = "number") -> Any:
    """The list's calculated_price. As a number through float: seven decimals of a price below
    10**8 are at most 15 significant digits, which a float's shortest repr keeps exactly."""
    if value is None or price_as == "null":
        return None
    return price_text(value) if price_as == "string" else float(value.quantize(SEVEN))


def variant_choice(seed: int, cid: int, plan: Tuple[str, ...]) -> Tuple[str, ...]:
    """Per-campaign variant per dimension: fixed by the plan, or hashed when 'mixed'."""
    out = []
    for d, (dim, fixed) in enumerate(zip(_DIMS, plan)):
        if fixed == "mixed":
            opts = VARIANT_OPTIONS[dim]
            fixed = opts[mix(seed, cid, 300 + d) % len(opts)]
        out.append(fixed)
    return tuple(out)


def corruption_of(seed: int, cid: int, rate: float) -> Optional[str]:
    """Persistent per campaign: the same campaigns stay broken, and the set grows with rate."""
    if rate <= 0 or mix(seed, cid, 99) / 18446744073709551616.0 >= rate:
        return None
    return CORRUPTIONS[mix(seed, cid, 98) % len(CORRUPTIONS)]


def _extra(p: Profile) -> Dict[str, Any]:
    return {"channel_options": {"validity_hours": int(p.validity // 3600),
                                "fallback": "sms" if p.fallback else None,
                                "route": "premium" if p.id % 3 == 0 else "standard"},
            "priority": 1 + p.id % 3}


def served_detail(cat: Catalogue, idx: int, t: float, knobs: Knobs, currency: str) -> bytes:
    """The detail response body for campaign `idx` with the current knobs applied."""
    obj = canonical(cat, idx, t, knobs.zone, currency)
    cid = obj["id"]
    envelope, type_f, start_f, actual_f, price_as, stats_as, no_fb, _ = variant_choice(
        cat.seed, cid, knobs.variant_plan)
    if knobs.extra_fields:
        obj["statistics"]["not_whatsapp_user"] = 0
    corrupt = corruption_of(cat.seed, cid, knobs.corrupt_rate)
    raw_price: Optional[str] = None
    out: Dict[str, Any] = {}
    for key, value in obj.items():
        if key == "type":
            key = type_f
        elif key == "started_at":
            key = start_f
        elif key == "actual_start_at":
            key = actual_f
        elif key == "statistics" and stats_as == "list":
            value = [value]
        elif key == "total_price" and price_as == "number" and corrupt != "price_abc":
            raw_price = number_text(Decimal(value))
            value = _RAW_PRICE
        elif key == "alternative_channels" and value == []:
            if no_fb == "absent":
                continue
            value = None if no_fb == "null" else []
        out[key] = value
    if knobs.extra_fields:
        out.update(_extra(cat.profile(idx)))
    inner: Any = out
    if corrupt == "stat_value_str":
        stats = out["statistics"][0] if stats_as == "list" else out["statistics"]
        stats["delivered"] = f"{stats['delivered']}a"
    elif corrupt == "missing_id":
        del out["id"]
    elif corrupt == "price_abc":
        out["total_price"] = "abc"
    elif corrupt == "statistics_string":
        out["statistics"] = "delivered:%d" % obj["statistics"]["delivered"]
    elif corrupt == "data_string":
        inner = "Campaign data is temporarily unavailable"
    if envelope == "data":
        body: Any = {"data": inner}
    elif envelope == "locale":
        body = {_LOCALES[mix(cat.seed, cid, 400) % len(_LOCALES)]
                if knobs.variant_plan[0] == "mixed" else "en-US": inner}
    else:
        body = inner if isinstance(inner, dict) else {"data": inner}
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    if raw_price is not None:
        text = text.replace(json.dumps(_RAW_PRICE), raw_price, 1)
    return text.encode("utf-8")
