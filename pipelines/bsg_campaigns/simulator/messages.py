"""GET /api/messages: every campaign's messages, derived lazily from its profile.

Message k of a campaign is a pure function of (seed, campaign, k, simulated time); nothing is
stored, so a page costs O(page size) whatever the campaign's size (a campaign-wide query) and
one message by id costs O(1) (a fallback SMS: O(log n)).

Ids: own message k of campaign c is c * MSG_STRIDE + k; the fallback SMS at pool position k is
c * MSG_STRIDE + MAX_CAMPAIGN_MESSAGES + k. Id order is campaign order, own messages first.

The status rule (why counts always match the detail): a campaign's dispatched messages are
dispatched in index order (k < x(t) dispatched, k < y(t) past the queue), and each has a fixed
final outcome class and a rank within it, from a nested Bresenham interleaving of the classes'
final sizes F_c over the indices (`split_rank`). Member j of class c has reached c at t iff
j < reach_c(t), the same cumulative number Profile.counts(t) uses. Every reach_c(t) is at most
floor(F_c * P / SCALE) where y(t) = floor(n * P / SCALE), and the interleaving places member j
at an index <= floor(n * (j + 1) / F_c) - 1, so whoever has reached an outcome is past the queue:
grouping by status gives exactly the detail's statistics, and each threshold is monotone in t,
so a message's status only moves forward. `read` is a second interleaving inside `delivered`
(the same argument with F_read / F_delivered). Fallback SMS are numbered by the order their
parents (expired or not_rcs_user RCS messages) entered the fallback pool; their outcomes are
one more interleaving over pool positions.

Status names: the campaign statistics' `not_rcs_user` (and `not_viber_user`) is served on a
message as the spec's `not_service_user` (the message status enum has no `not_rcs_user`); a
connector maps it back by the message's type (STAT_KEY_OF_STATUS). A fallback SMS's parent
keeps `expired` / `not_service_user`: the detail keeps counting it there.

Times are naive in the server time zone like the campaign endpoints. Own messages are created
with their campaign; a fallback SMS when it was issued (so filter[from]/[to] can split a
campaign). delivered_at is set only for delivered and read messages. The amount is the unit
price once a message has been dispatched (0 before), so a campaign's amounts add up to its
total_price.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from .campaign import QUEUE_S, SCALE, Reach
from .catalogue import Catalogue, mix
from .config import MAX_CAMPAIGN_MESSAGES
from .listing import Invalid, parse_choice, parse_page, parse_window
from .render import naive, price_text

MSG_STRIDE = 2 * MAX_CAMPAIGN_MESSAGES
FALLBACK_BASE = MAX_CAMPAIGN_MESSAGES
SORTS = ("id", "phone", "delivered")
SORT_LIMIT = 200_000  # phone/delivered sorts materialize one campaign's keys: at most this many
# The message status that the statistics count under another key, per message type.
STAT_KEY_OF_STATUS: Mapping[str, Mapping[str, str]] = {
    "not_service_user": {"rcs": "not_rcs_user", "viber": "not_viber_user"}}
# Final outcome classes of own messages, in interleaving order (delivered last: the remainder).
_CLASSES = ("failed", "undelivered", "expired", "unknown", "not_service_user", "delivered")
_FB_CLASSES = ("failed", "undelivered", "expired", "delivered")
_DELIVERED = len(_CLASSES) - 1
# (ISO code, country calling code, national digits, mobile prefixes), weighted by position.
_COUNTRIES: Tuple[Tuple[str, str, int, Tuple[str, ...]], ...] = (
    ("UA", "380", 9, ("50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99")),
    ("PL", "48", 9, ("50", "51", "53", "57", "60", "66", "69", "72", "78", "79", "88")),
    ("KZ", "7", 10, ("700", "701", "702", "705", "707", "747", "771", "775", "777", "778")),
    ("DE", "49", 11, ("151", "152", "157", "160", "162", "170", "171", "172", "176", "177")),
    ("GB", "44", 10, ("71", "73", "74", "75", "77", "78", "79")),
    ("ES", "34", 9, ("6", "7")),
    ("RO", "40", 9, ("72", "73", "74", "75", "76", "78")),
)
_COUNTRY_WEIGHTS = (40, 15, 12, 10, 10, 8, 5)
_TEXTS = (
    "Your order {n} has been shipped. Track it in the app.",
    "Black Friday: -30% on everything until Sunday! Reply STOP to opt out.",
    "Ваш код підтвердження: {n}. Нікому його не повідомляйте.",
    "Reminder: your appointment is tomorrow at 10:00. Call us to reschedule. We look forward to "
    "seeing you. Please arrive ten minutes early and bring your card and any documents you need.",
    "Знижки тижня у вашому магазині: до -50% на сезонні товари. Деталі на сайті та в застосунку.",
    "Your taxi is arriving in 3 minutes.",
)
_GSM_SAFE = set(" @£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMN"
                "OPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")


def split_rank(sizes: Sequence[int], pos: int) -> Tuple[int, int]:
    """(class, rank within the class) of index `pos` when len(sizes) classes of these sizes are
    interleaved over sum(sizes) indices: each class in turn takes the indices where
    floor(F * (L + 1) / N) steps up among the N still unassigned, the last class the rest."""
    n = sum(sizes)
    for c in range(len(sizes) - 1):
        f = sizes[c]
        if f == n:
            return c, pos
        if f:
            before = f * (pos + 1) // n
            if f * (pos + 2) // n > before:
                return c, before
            pos -= before
        n -= f
    return len(sizes) - 1, pos


def sms_parts(text: str) -> int:
    """SMS segments: 160/153 GSM-7 characters, 70/67 UCS-2."""
    single, multi = (160, 153) if all(ch in _GSM_SAFE for ch in text) else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // multi)


def _before(t: float) -> float:
    """The float just below t: a count there is the count of thresholds strictly before t."""
    return math.nextafter(t, -math.inf)


class CampaignMessages:
    """One campaign's messages (own and fallback) at one simulated time."""

    def __init__(self, cat: Catalogue, idx: int, t: float, zone: Any, currency: str) -> None:
        self.cat, self.idx, self.t, self.zone, self.currency = cat, idx, t, zone, currency
        p = cat.profile(idx)
        self.p = p
        self.cid = p.id
        self.kind = p.kind
        self.reach: Optional[Reach] = p.reach(t)
        self.sizes = (p.f_fail, p.f_und, p.f_exp, p.f_unk, p.f_nru, p.f_dl)
        self.fb_sizes = (p.g_fail, p.g_und, p.g_exp, p.g_dl)
        self.fallbacks = self.reach.fb[0] if self.reach is not None else 0
        h = mix(cat.seed, self.cid, 501)
        self.country = _weighted(h)
        self.text = _TEXTS[(h >> 20) % len(_TEXTS)]
        self.source = "web" if (h >> 28) % 4 == 0 else "rest"
        self.with_reference = self.source == "rest" and (h >> 32) % 5 == 0

    # ---- counts and ids ----
    @property
    def own(self) -> int:
        return self.p.total

    def __len__(self) -> int:
        return self.own + self.fallbacks

    def message_id(self, pos: int) -> int:
        """Id of the pos-th message in id order (own messages, then fallback SMS)."""
        base = self.cid * MSG_STRIDE
        return base + pos if pos < self.own else base + FALLBACK_BASE + pos - self.own

    def fallback_window(self, lo: float, hi: float) -> Tuple[int, int]:
        """Pool positions of the fallback SMS created within [lo, hi] (whole seconds)."""
        pool = self._pool
        return min(pool(_before(lo)), self.fallbacks), min(pool(_before(hi + 1)), self.fallbacks)

    def _pool(self, t: float) -> int:
        reach = self.p.reach(t)
        return reach.fb[0] if reach is not None else 0

    # ---- statuses ----
    def own_status(self, k: int) -> str:
        p, t, reach = self.p, self.t, self.reach
        if t < p.mod_end:
            return "moderation"
        if p.fate == "spam":
            return "failed"
        if reach is None:
            return "scheduled"
        if k >= p.n_disp:  # cancelled when the campaign was stopped
            return "failed" if reach.done else "scheduled"
        if k >= reach.x:
            return "scheduled"
        if k >= reach.y:
            return "sending"
        c, j = split_rank(self.sizes, k)
        reached = (reach.fail, reach.und, reach.exp, reach.unk, reach.nru, reach.dl)[c]
        if j >= reached:
            return "sent"
        if c == _DELIVERED:
            sub, i = split_rank((p.f_rd, p.f_dl - p.f_rd), j)
            return "read" if sub == 0 and i < reach.rd else "delivered"
        return _CLASSES[c]

    def fallback_status(self, k: int) -> str:
        reach = self.reach
        assert reach is not None and k < self.fallbacks
        c, j = split_rank(self.fb_sizes, k)
        _, f_dl, f_und, f_fail, f_exp = reach.fb
        return _FB_CLASSES[c] if j < (f_fail, f_und, f_exp, f_dl)[c] else "sent"

    # ---- the fallback pool: parents (expired / not_rcs_user RCS messages) in entry order ----
    def _tau(self, q: int) -> float:
        """The first time progress() reaches q (1..SCALE)."""
        p = self.p
        e = p.active if q >= SCALE else q * p.active / SCALE
        s = p.actual + e
        if p.pause_len and s > p.pause_start:
            s += p.pause_len
        return s

    def _entry(self, cls: int, j: int) -> float:
        """When member j of class cls (expired or not_service_user) entered the pool."""
        p = self.p
        size = self.sizes[cls]
        q = -(-(j + 1) * SCALE // size)
        lag = p.validity if cls == 2 else p.lag_n
        return self._tau(q) + QUEUE_S + lag

    def _pool_pos_of_expired(self, j: int) -> int:
        p = self.p
        t = self._entry(2, j)
        return j + p.f_nru * p.progress(_before(t) - QUEUE_S - p.lag_n) // SCALE

    def _pool_pos(self, cls: int, j: int) -> int:
        if cls == 2:
            return self._pool_pos_of_expired(j)
        p = self.p
        t = self._entry(4, j)
        return j + p.f_exp * p.progress(t - QUEUE_S - p.validity) // SCALE

    def parent_of(self, k: int) -> Tuple[int, int]:
        """(class, rank) of the RCS message whose fallback is pool position k."""
        lo, hi = 0, self.p.f_exp  # expired members with a pool position below k: [0, lo)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._pool_pos_of_expired(mid) < k:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.p.f_exp and self._pool_pos_of_expired(lo) == k:
            return 2, lo
        return 4, k - lo

    def _member_index(self, cls: int, j: int) -> int:
        """The own index of member j of class cls (split_rank's inverse, by bisection on the
        class's prefix count, which is monotone in the index)."""
        sizes = self.sizes
        lo, hi = 0, self.p.n_disp - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if prefix_count(sizes, cls, mid + 1) > j:
                hi = mid
            else:
                lo = mid + 1
        return lo

    # ---- rendering ----
    def message(self, pos: int) -> Dict[str, Any]:
        """The pos-th message in id order as served."""
        if pos < self.own:
            return self._own(pos)
        return self._fallback(pos - self.own)

    def _phone(self, k: int) -> Tuple[int, str]:
        h = mix(self.cat.seed, self.cid * MSG_STRIDE + k, 502)
        iso = self.country if h % 100 < 88 else _weighted(h >> 8)
        code, digits, prefixes = _COUNTRY[iso]
        prefix = prefixes[(h >> 16) % len(prefixes)]
        rest = digits - len(prefix)
        number = (h >> 24) % (10 ** rest)
        return int(f"{code}{prefix}{number:0{rest}d}"), iso

    def _text(self, k: int) -> str:
        return self.text.replace("{n}", str(100000 + (mix(self.cat.seed, self.cid, k) % 900000)))

    def _base(self, msg_id: int, kind: str, text: str, phone: int, iso: str, validity: int,
              status: str, amount: Any, created: float, sent: Optional[float],
              delivered: Optional[float], parts: int) -> Dict[str, Any]:
        zone = self.zone
        ref = reference_of(self.cat.seed, msg_id) if self.with_reference else None
        return {
            "id": msg_id, "campaign_id": self.cid, "reference_id": ref, "type": kind,
            "source": self.source, "text": text, "phone": phone, "validity": validity,
            "status": status, "amount": {"value": price_text(amount), "currency": self.currency},
            "sender": self.cat.sender(self.idx), "created_at": naive(created, zone),
            "sent_at": naive(sent, zone), "delivered_at": naive(delivered, zone),
            "country": iso, "parts": parts,
        }

    def _own(self, k: int) -> Dict[str, Any]:
        p, t, reach = self.p, self.t, self.reach
        status = self.own_status(k)
        phone, iso = self._phone(k)
        text = self._text(k)
        dispatched = reach is not None and k < min(reach.x, p.n_disp)
        sent: Optional[float] = None
        delivered: Optional[float] = None
        if dispatched and status not in ("scheduled", "sending"):
            sent = min(t, self._tau(-(-(k + 1) * SCALE // p.n_disp)) + QUEUE_S)
            if status in ("delivered", "read"):
                _, j = split_rank(self.sizes, k)
                q = -(-(j + 1) * SCALE // p.f_dl)
                delivered = min(t, max(sent, self._tau(q) + QUEUE_S + p.lag_d,
                                       p.actual + _ramp_inverse(q, p.tau_d, p.h_d)))
        kind = self.kind
        msg = self._base(self.cid * MSG_STRIDE + k, kind, text, phone, iso,
                         int(p.validity // 3600), status, p.unit if dispatched else 0 * p.unit,
                         p.created, sent, delivered, 1 if kind != "sms" else sms_parts(text))
        if kind == "rcs":
            msg["rcs_options"] = {"text": text}
        alt = None
        if status in ("expired", "not_service_user") and self.fallbacks:
            c, j = split_rank(self.sizes, k)
            pos = self._pool_pos(c, j)
            if pos < self.fallbacks:
                alt = {"sms": {"parts": sms_parts(text),
                               "id": [self.cid * MSG_STRIDE + FALLBACK_BASE + pos]}}
        msg["alternative_channels"] = alt
        return msg

    def _fallback(self, k: int) -> Dict[str, Any]:
        p = self.p
        cls, j = self.parent_of(k)
        parent = self._member_index(cls, j)
        phone, iso = self._phone(parent)
        text = self._text(parent)
        status = self.fallback_status(k)
        created = float(self._created_second(k))
        delivered = min(self.t, created + p.lag_fd) if status == "delivered" else None
        msg = self._base(self.cid * MSG_STRIDE + FALLBACK_BASE + k, "sms", text, phone, iso,
                         int(p.fb_validity // 3600), status, p.fb_unit, created, created,
                         delivered, sms_parts(text))
        msg["alternative_channels"] = None
        return msg

    def _created_second(self, k: int) -> int:
        """The whole second s with pool(before(s)) <= k < pool(before(s + 1)): the same rule
        fallback_window() filters by, so created_at and filter[from]/[to] agree."""
        cls, j = self.parent_of(k)
        s = int(self._entry(cls, j))
        pool = self._pool
        while s > self.p.actual and pool(_before(s)) > k:
            s -= 1
        while pool(_before(s + 1)) <= k:
            s += 1
        return s

    def delivered_key(self, pos: int) -> str:
        return self.message(pos)["delivered_at"] or ""


def prefix_count(sizes: Sequence[int], cls: int, length: int) -> int:
    """How many of the first `length` indices split_rank assigns to class cls."""
    n = sum(sizes)
    for c in range(len(sizes) - 1):
        f = sizes[c]
        if f == n:
            return length if c == cls else 0
        taken = f * (length + 1) // n
        if c == cls:
            return taken
        length -= taken
        n -= f
    return length if cls == len(sizes) - 1 else 0


def _ramp_inverse(q: int, tau: float, horizon: float) -> float:
    """The smallest x with _ramp(x, tau, horizon) >= q (approximately; a rendered time)."""
    if q >= SCALE:
        return horizon
    span = 1.0 - math.exp(-horizon / tau)
    return -tau * math.log(max(1e-300, 1.0 - q * span / SCALE))


_COUNTRY = {iso: (code, digits, prefixes) for iso, code, digits, prefixes in _COUNTRIES}
_WEIGHT_EDGES = [sum(_COUNTRY_WEIGHTS[:i + 1]) for i in range(len(_COUNTRY_WEIGHTS))]


def _weighted(h: int) -> str:
    return _COUNTRIES[bisect_right(_WEIGHT_EDGES, h % _WEIGHT_EDGES[-1])][0]


def reference_of(seed: int, msg_id: int) -> str:
    """A deterministic 32-character alphanumeric reference that names its message id."""
    return f"{mix(seed, msg_id, 503) & 0xFFFFFFFFFFFF:012x}{msg_id:020d}"


def id_of_reference(seed: int, ref: str) -> Optional[int]:
    if len(ref) != 32 or not ref[12:].isdigit():
        return None
    msg_id = int(ref[12:])
    return msg_id if reference_of(seed, msg_id) == ref else None


# ---------------------------------------------------------------- the query


@dataclass
class MessageQuery:
    offset: int
    limit: int
    sort: str
    desc: bool
    window: Optional[Tuple[float, float]]
    msg_id: Optional[int]
    campaign_id: Optional[int]
    reference_id: Optional[str]


def parse_messages_query(q: Mapping[str, str], now: float, zone: Any) -> MessageQuery:
    """Validate like the campaign list (page[limit] 15..500 here, per the spec)."""
    offset, limit = parse_page(q, min_limit=15)
    sort = parse_choice(q, "sort", "sort", SORTS)
    way = parse_choice(q, "way", "way", ("asc", "desc"))
    ids: Dict[str, Optional[int]] = {}
    for key in ("id", "campaign_id"):
        raw = q.get(f"filter[{key}]")
        if raw:
            if not raw.isdigit():
                raise Invalid(key, f"The {key.replace('_', ' ')} must be an integer.")
            ids[key] = int(raw)
    ref = q.get("filter[reference_id]") or None
    if ref is not None and len(ref) > 32:
        raise Invalid("reference_id", "The reference id may not be greater than 32 characters.")
    # An id filter alone reaches back past the default 3-month window (the connector pages a
    # campaign by its id); an explicit filter[from]/[to] always applies.
    by_id = bool(ids) or ref is not None
    window = None
    if not by_id or q.get("filter[from]") or q.get("filter[to]"):
        window = parse_window(q, now, zone)
    return MessageQuery(offset, limit, sort, way == "desc", window, ids.get("id"),
                        ids.get("campaign_id"), ref)


def _visible(cat: Catalogue, cid: int, now: float) -> Optional[int]:
    idx = cat.index_of(cid)
    return idx if idx is not None and cat.created[idx] <= now else None


def _campaign_range(cm: CampaignMessages, window: Optional[Tuple[float, float]]) -> List[Tuple[int, int]]:
    """Id-ordered position ranges of a campaign's messages within the creation window."""
    if window is None:
        return [(0, len(cm))]
    lo, hi = window
    out = []
    if lo <= cm.p.created <= hi:
        out.append((0, cm.own))
    a, b = cm.fallback_window(lo, hi)
    if b > a:
        out.append((cm.own + a, cm.own + b))
    return out


def run_messages_query(cat: Catalogue, mq: MessageQuery, now: float, served_limit: int,
                       zone: Any, currency: str, removed: Any = frozenset()) -> Dict[str, Any]:
    """One page of messages plus meta.page."""
    single = mq.msg_id
    if mq.reference_id is not None:
        ref_id = id_of_reference(cat.seed, mq.reference_id)
        if ref_id is None or (single is not None and single != ref_id):
            return _page([], 0, mq, served_limit)
        single = ref_id
    if single is not None:
        cid, rest = divmod(single, MSG_STRIDE)
        if mq.campaign_id is not None and mq.campaign_id != cid:
            return _page([], 0, mq, served_limit)
        campaigns = [cid]
    elif mq.campaign_id is not None:
        campaigns = [mq.campaign_id]
    else:
        campaigns = []
    if single is None and not campaigns:  # the whole catalogue, in id order
        ranges = _catalogue_ranges(cat, now, mq.window, zone, currency, removed)
    else:
        ranges = []
        for cid in campaigns:
            idx = _visible(cat, cid, now)
            if idx is None or cid in removed:
                continue
            cm = CampaignMessages(cat, idx, now, zone, currency)
            spans = _campaign_range(cm, mq.window)
            if single is not None:
                pos = _position(cm, single - cid * MSG_STRIDE)
                spans = [(pos, pos + 1)] if pos is not None and any(
                    a <= pos < b for a, b in spans) else []
                if spans and mq.reference_id is not None and not cm.with_reference:
                    spans = []
            ranges.extend((cm, a, b) for a, b in spans)
    total = sum(b - a for _, a, b in ranges)
    if mq.sort != "id":
        return _sorted_page(ranges, total, mq, served_limit)
    data = [cm.message(pos) for cm, pos in _slice(ranges, total, mq.offset, served_limit, mq.desc)]
    return _page(data, total, mq, served_limit)


def _position(cm: CampaignMessages, local: int) -> Optional[int]:
    if 0 <= local < cm.own:
        return local
    k = local - FALLBACK_BASE
    return cm.own + k if 0 <= k < cm.fallbacks else None


def _catalogue_ranges(cat: Catalogue, now: float, window: Optional[Tuple[float, float]],
                      zone: Any, currency: str, removed: Any) -> List[Tuple[CampaignMessages, int, int]]:
    """Every visible campaign's message ranges: O(campaigns) per request, O(1) each."""
    out: List[Tuple[CampaignMessages, int, int]] = []
    for idx in range(cat.count_visible(now)):
        if cat.ids[idx] in removed:
            continue
        if window is not None and (cat.created[idx] > window[1] or (
                cat.created[idx] < window[0] and not cat.profile(idx).fallback)):
            continue  # neither its messages nor its fallback SMS can fall in the window
        cm = CampaignMessages(cat, idx, now, zone, currency)
        out.extend((cm, a, b) for a, b in _campaign_range(cm, window))
    return out


def _slice(ranges: Sequence[Tuple[CampaignMessages, int, int]], total: int, offset: int,
           limit: int, desc: bool) -> Iterator[Tuple[CampaignMessages, int]]:
    """Positions offset..offset+limit of the concatenated ranges (reversed when desc)."""
    start, stop = offset, min(total, offset + limit)
    if desc:
        start, stop = total - stop, total - start
    picked: List[Tuple[CampaignMessages, int]] = []
    seen = 0
    for cm, a, b in ranges:
        size = b - a
        if seen + size > start and seen < stop:
            lo = max(start - seen, 0)
            hi = min(stop - seen, size)
            picked.extend((cm, a + i) for i in range(lo, hi))
        seen += size
        if seen >= stop:
            break
    return reversed(picked) if desc else iter(picked)


def _sorted_page(ranges: Sequence[Tuple[CampaignMessages, int, int]], total: int,
                 mq: MessageQuery, served_limit: int) -> Dict[str, Any]:
    if len({id(cm) for cm, _, _ in ranges}) > 1 or total > SORT_LIMIT:
        raise Invalid("sort", f"The simulator sorts by {mq.sort} only within one campaign of at "
                              f"most {SORT_LIMIT} messages: add filter[campaign_id].")
    rows = [(cm, pos) for cm, a, b in ranges for pos in range(a, b)]

    def key(row: Tuple[CampaignMessages, int]) -> Tuple[Any, int]:
        cm, pos = row
        if mq.sort == "phone":
            value: Any = cm.message(pos)["phone"] if pos >= cm.own else cm._phone(pos)[0]
        else:
            value = cm.delivered_key(pos)  # null first ascending, like SQL's NULLS FIRST
        return value, cm.message_id(pos)

    rows.sort(key=key, reverse=mq.desc)
    data = [cm.message(pos) for cm, pos in rows[mq.offset:mq.offset + served_limit]]
    return _page(data, total, mq, served_limit)


def _page(data: List[Dict[str, Any]], total: int, mq: MessageQuery, limit: int) -> Dict[str, Any]:
    return {"data": data, "meta": {"page": {"total": total, "limit": limit, "offset": mq.offset}}}


# How a message is served malformed (message_corrupt_rate): each makes the connector reject it,
# and two put the phone number where a parser would echo it (the reason, another field).
MESSAGE_CORRUPTIONS = ("price_abc", "country_is_phone", "phone_leading_zero", "id_text")


def message_corruption_of(seed: int, msg_id: int, rate: float) -> Optional[str]:
    """Persistent per message id: the same messages stay broken, the set grows with rate."""
    if rate <= 0 or mix(seed, msg_id, 97) / 18446744073709551616.0 >= rate:
        return None
    return MESSAGE_CORRUPTIONS[mix(seed, msg_id, 96) % len(MESSAGE_CORRUPTIONS)]


def corrupt_messages(seed: int, data: List[Dict[str, Any]], rate: float) -> None:
    """Break the served messages message_corruption_of picks, in place (expected_messages keeps
    the canonical ones)."""
    for msg in data:
        kind = message_corruption_of(seed, msg["id"], rate)
        if kind == "price_abc":
            msg["amount"] = {"value": "abc", "currency": msg["amount"]["currency"]}
        elif kind == "country_is_phone":
            msg["country"] = str(msg["phone"])
        elif kind == "phone_leading_zero":
            msg["phone"] = f"0{msg['phone']}"
        elif kind == "id_text":
            msg["id"] = f"id-{msg['id']}-{msg['phone']}"


def campaign_messages(cat: Catalogue, cid: int, now: float, zone: Any, currency: str) -> CampaignMessages:
    """A visible campaign's messages (KeyError when it does not exist yet)."""
    idx = _visible(cat, cid, now)
    if idx is None:
        raise KeyError(cid)
    return CampaignMessages(cat, idx, now, zone, currency)
