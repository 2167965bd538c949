"""One campaign's life as a pure function of (profile, simulated time).

A profile is drawn once from a per-campaign RNG (seeded by seed and id, so it never depends on
other campaigns). Counts are closed forms, no per-message loops: every final outcome class k has
a final count F_k; the number of messages that reached k by time t is
floor(F_k * min(progress(t - lag_k), ramp_k(t))), computed in integers on a 2**20 progress grid,
so the counts are monotone, never overshoot and settle exactly. Single-status counting: every
message is counted once under its current status, so the primary block always sums to
total_messages. Everything settles at most ~5 days after finished_at.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from functools import lru_cache
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

PRIMARY_KEYS: Tuple[str, ...] = (
    "delivered", "sent", "scheduled", "moderation", "accepted", "sending", "expired",
    "failed", "undelivered", "unknown", "read", "not_viber_user", "not_rcs_user",
)
# The vendor's spec example gives the SMS fallback block all 13 keys (read / not_*_user stay 0).
FALLBACK_KEYS: Tuple[str, ...] = PRIMARY_KEYS
KINDS: Tuple[str, ...] = ("sms", "rcs", "whatsapp")
SCALE = 1 << 20  # progress grid: integer maths keeps sums exact
QUEUE_S = 5.0  # seconds a dispatched message sits in "sending"
HOUR = 3600.0
_LOG2, _LOG_SPAN = math.log(2), math.log(5001) - math.log(2)
_BASE_PRICE = {"sms": Decimal("0.0160000"), "rcs": Decimal("0.0300000"),
               "whatsapp": Decimal("0.0450000")}
_PRICE_STEP = {"sms": Decimal("0.0010000"), "rcs": Decimal("0.0025000"),
               "whatsapp": Decimal("0.0020000")}


@lru_cache(maxsize=None)
def unit_price(kind: str, sender_idx: int) -> Decimal:
    """Per-message price: varies a little per sender (exact decimals, never floats)."""
    return _BASE_PRICE[kind] + _PRICE_STEP[kind] * (sender_idx % 4)


def _ramp(x: float, tau: float, horizon: float) -> int:
    """Monotone 0..SCALE: fast exponential approach, exactly SCALE from `horizon` on."""
    if x <= 0.0:
        return 0
    if x >= horizon:
        return SCALE
    return int(SCALE * (1.0 - math.exp(-x / tau)) / (1.0 - math.exp(-horizon / tau)))


def _split(rng: random.Random, n: int, shares: Sequence[float]) -> List[int]:
    """Split n messages into len(shares)+1 classes; class 0 takes the remainder.
    Shares are small (sum well under 1/2): randomized rounding keeps small classes alive."""
    if n <= 12:  # tiny campaigns: draw per message so 1-message campaigns vary too
        counts = [0] * (len(shares) + 1)
        for _ in range(n):
            u, k = rng.random(), 0
            for i, s in enumerate(shares):
                if u < s:
                    k = i + 1
                    break
                u -= s
            counts[k] += 1
        return counts
    r = rng.random
    rest = [int(n * s + r()) for s in shares]
    while sum(rest) > n:  # cannot happen for the shares used here; keeps the sum exact anyway
        rest[rest.index(max(rest))] -= 1
    return [n - sum(rest)] + rest


class Reach(NamedTuple):
    """Cumulative counts of one campaign at one time: dispatched (x), past the queue (y), and per
    final outcome how many messages reached it; fb = (fallback SMS issued, delivered,
    undelivered, failed, expired)."""

    x: int
    y: int
    dl: int
    rd: int
    und: int
    fail: int
    exp: int
    unk: int
    nru: int
    fb: Tuple[int, int, int, int, int]
    done: bool


class Profile:
    """Static facts of one campaign; times are epoch seconds (UTC), integers for timeline points."""

    __slots__ = (
        "id", "kind", "sender_idx", "created", "total", "phones", "creation_end", "mod_end",
        "start_at", "actual", "finish", "fate", "active", "pause_start", "pause_len", "n_disp",
        "f_dl", "f_rd", "f_und", "f_fail", "f_exp", "f_nru", "f_unk", "lag_d", "lag_r", "lag_u",
        "lag_f", "lag_n", "tau_d", "tau_r", "tau_u", "h_d", "h_r", "h_u", "validity",
        "fallback", "g_dl", "g_und", "g_fail", "g_exp", "m_final", "lag_fd", "lag_fu", "lag_ff",
        "tau_fd", "tau_fu", "fb_validity", "unit", "fb_unit",
    )
    # Declared for the type checker only (no values: __slots__ forbids class attributes).
    id: int
    kind: str
    sender_idx: int
    # timeline points, epoch seconds
    created: int
    creation_end: int
    mod_end: int
    start_at: int
    actual: int
    finish: int
    pause_start: int
    pause_len: int
    active: int  # seconds of dispatching
    fate: str  # "done", "stopped" or "spam"
    # message counts: total, distinct phones, dispatched, final count per outcome class
    total: int
    phones: int
    n_disp: int
    f_dl: int
    f_rd: int
    f_und: int
    f_fail: int
    f_exp: int
    f_nru: int
    f_unk: int
    # lags, time constants and horizons, seconds
    lag_d: float
    lag_r: float
    lag_u: float
    lag_f: float
    lag_n: float
    tau_d: float
    tau_r: float
    tau_u: float
    h_d: float
    h_r: float
    h_u: float
    validity: float
    # SMS fallback: final counts per outcome, their lags and time constants
    fallback: bool
    m_final: int
    g_dl: int
    g_und: int
    g_fail: int
    g_exp: int
    lag_fd: float
    lag_fu: float
    lag_ff: float
    tau_fd: float
    tau_fu: float
    fb_validity: float
    unit: Decimal
    fb_unit: Decimal

    def progress(self, t: float) -> int:
        """Share of the n_disp messages dispatched by t, on the 0..SCALE grid (monotone)."""
        a = self.actual
        if a is None or t <= a:
            return 0
        e = t - a
        if self.pause_len and t > self.pause_start:
            e = (self.pause_start - a) + max(0.0, t - self.pause_start - self.pause_len)
        if e >= self.active:
            return SCALE
        return int(SCALE * e / self.active)

    def status(self, t: float) -> str:
        if t < self.creation_end:
            return "creation"
        if t < self.mod_end:
            return "moderation"
        if self.fate == "spam":
            return "spam"
        if t < self.actual:
            return "scheduled"
        if t < self.finish:
            if self.pause_len and self.pause_start <= t < self.pause_start + self.pause_len:
                return "paused"
            return "sending"
        return "stopped" if self.fate == "stopped" else "done"

    def _fallback_pool(self, t: float) -> int:
        """Messages handed to the SMS fallback by t: expired + not_rcs_user so far."""
        p_exp = self.progress(t - QUEUE_S - self.validity)
        p_nru = self.progress(t - QUEUE_S - self.lag_n)
        return self.f_exp * p_exp // SCALE + self.f_nru * p_nru // SCALE

    def reach(self, t: float) -> Optional["Reach"]:
        """The cumulative counts behind counts(t) (None before dispatching starts or for spam):
        the per-message status rule (messages.py) reads the same numbers, so the two agree."""
        if t < self.mod_end or self.fate == "spam" or t < self.actual:
            return None
        n, rel = self.n_disp, t - self.actual
        x = n * self.progress(t) // SCALE
        y = n * self.progress(t - QUEUE_S) // SCALE
        a_d = _ramp(rel, self.tau_d, self.h_d)
        dl = self.f_dl * min(self.progress(t - QUEUE_S - self.lag_d), a_d) // SCALE
        a_r = a_d * _ramp(rel, self.tau_r, self.h_r) // SCALE
        rd = self.f_rd * min(self.progress(t - QUEUE_S - self.lag_d - self.lag_r), a_r) // SCALE
        und = self.f_und * min(self.progress(t - QUEUE_S - self.lag_u),
                               _ramp(rel, self.tau_u, self.h_u)) // SCALE
        fail = self.f_fail * self.progress(t - QUEUE_S - self.lag_f) // SCALE
        p_exp = self.progress(t - QUEUE_S - self.validity)
        exp = self.f_exp * p_exp // SCALE
        unk = self.f_unk * p_exp // SCALE
        nru = self.f_nru * self.progress(t - QUEUE_S - self.lag_n) // SCALE
        fb = (0, 0, 0, 0, 0)
        if self.fallback and self.m_final:
            mf = self.m_final
            f_dl = min(self.g_dl * self._fallback_pool(t - self.lag_fd) // mf,
                       self.g_dl * _ramp(rel, self.tau_fd, 24 * HOUR) // SCALE)
            f_und = min(self.g_und * self._fallback_pool(t - self.lag_fu) // mf,
                        self.g_und * _ramp(rel, self.tau_fu, 36 * HOUR) // SCALE)
            f_fail = self.g_fail * self._fallback_pool(t - self.lag_ff) // mf
            f_exp = self.g_exp * self._fallback_pool(t - self.fb_validity) // mf
            fb = (exp + nru, f_dl, f_und, f_fail, f_exp)
        return Reach(x, y, dl, rd, und, fail, exp, unk, nru, fb, t >= self.finish)

    def counts(self, t: float) -> Tuple[Dict[str, int], Optional[Dict[str, int]], int, int]:
        """(primary stats, fallback stats or None, cumulative dispatched, fallback SMS sent)."""
        primary = dict.fromkeys(PRIMARY_KEYS, 0)
        fb = dict.fromkeys(FALLBACK_KEYS, 0) if self.fallback else None
        total = self.total
        if t < self.mod_end:
            primary["moderation"] = total
            return primary, fb, 0, 0
        if self.fate == "spam":
            primary["failed"] = total
            return primary, fb, 0, 0
        reach = self.reach(t)
        if reach is None:
            primary["scheduled"] = total
            return primary, fb, 0, 0
        n, x, y, dl, rd = self.n_disp, reach.x, reach.y, reach.dl, reach.rd
        und, fail, exp, unk, nru = reach.und, reach.fail, reach.exp, reach.unk, reach.nru
        cancelled = total - n
        done = reach.done
        primary.update(
            delivered=dl - rd, read=rd, undelivered=und, expired=exp, unknown=unk,
            not_rcs_user=nru, sending=x - y, sent=y - (dl + und + fail + exp + unk + nru),
            scheduled=n - x + (0 if done else cancelled), failed=fail + (cancelled if done else 0),
        )
        m = 0
        if fb is not None and self.m_final:
            m, f_dl, f_und, f_fail, f_exp = reach.fb
            fb.update(delivered=f_dl, undelivered=f_und, failed=f_fail, expired=f_exp,
                      sent=m - (f_dl + f_und + f_fail + f_exp))
        return primary, fb, x, m

    def list_stats(self, t: float) -> Tuple[int, int]:
        """The list endpoint's (delivered, sent): cumulative, unlike the detail's counts."""
        primary, _, dispatched, _ = self.counts(t)
        return primary["delivered"] + primary["read"], dispatched

    def price(self, dispatched: int, fb_sent: int) -> Decimal:
        return self.unit * dispatched + self.fb_unit * fb_sent

    def settled_at(self) -> float:
        """A simulated time from which counts never change again (an upper bound)."""
        if self.fate == "spam":
            return float(self.mod_end)
        pool_end = self.finish + QUEUE_S + max(self.validity, self.lag_n)
        tail = max(self.lag_fd, self.lag_fu, self.lag_ff, self.fb_validity) if self.fallback else 0
        return max(
            self.finish + QUEUE_S + max(self.lag_d + self.lag_r, self.lag_u, self.validity),
            self.actual + max(self.h_d, self.h_r, self.h_u, 36 * HOUR),
            pool_end + tail,
        )


def make_profile(seed: int, cid: int, kind: str, sender_idx: int, created: int,
                 fallback_share: float, total_messages: int = 0) -> Profile:
    """Draw a campaign's static facts from its own RNG (deterministic per seed and id).
    Uniform draws are inlined (a + span * r()): this runs on every first detail fetch."""
    rng = random.Random(seed * 1_000_003 + cid)
    r = rng.random
    p = Profile()
    p.id, p.kind, p.sender_idx, p.created = cid, kind, sender_idx, created
    if r() < 0.15:
        total = 1
    else:  # log-uniform 2..5000: skewed small
        total = min(5000, max(2, int(math.exp(_LOG2 + _LOG_SPAN * r()))))
    if total_messages:  # SimulatorConfig.message_counts: a chosen size, the same draws otherwise
        total = total_messages
    p.total = total
    p.phones = total - int(r() * (total // 20 + 1)) if r() < 0.3 else total
    p.creation_end = created + 1 + int(r() * 5)
    p.mod_end = p.creation_end + 5 + int(r() * 116)
    p.start_at = created if r() < 0.6 else created + 60 + int(r() * 7141)
    p.actual = max(p.start_at, p.mod_end) + 2 + int(r() * 19)
    active = 1 + int(total / (5.0 + 55.0 * r()))
    u = r()
    p.fate = "spam" if u < 0.025 else "stopped" if u < 0.055 else "done"
    p.pause_start, p.pause_len = 0, 0
    if p.fate == "done" and u > 0.985 and active >= 10:  # a rare temporary pause
        p.pause_start = p.actual + 1 + int(r() * (active - 1))
        p.pause_len = 600 + int(r() * (6 * 3600 - 599))
    if p.fate == "stopped":
        frac = 0.1 + 0.8 * r()
        p.n_disp = int(total * frac)
        active = max(1, int(active * frac))
    else:
        p.n_disp = total
    p.active = active
    p.finish = p.actual + active + p.pause_len
    n = p.n_disp
    if kind == "sms":
        dl, fail, und, exp, unk = _split(rng, n, (0.02 * r(), 0.02 + 0.06 * r(), 0.04 * r(),
                                                  0.01 * r()))
        nru = 0
    else:
        nru_share = 0.05 + 0.2 * r() if kind == "rcs" else 0.0
        dl, fail, und, exp, nru = _split(rng, n, (0.02 * r(), 0.01 + 0.04 * r(),
                                                  0.02 + 0.08 * r(), nru_share))
        unk = 0
    p.f_dl, p.f_fail, p.f_und, p.f_exp, p.f_nru, p.f_unk = dl, fail, und, exp, nru, unk
    p.f_rd = 0 if kind == "sms" else _split(rng, dl, (0.3 + 0.5 * r(),))[1]
    p.lag_d, p.lag_r, p.lag_u = 2 + 28 * r(), 5 + 595 * r(), 10 + 110 * r()
    p.lag_f, p.lag_n = 1 + 4 * r(), 1 + 9 * r()
    p.tau_d, p.h_d = 20 + 580 * r(), (24 + 24 * r()) * HOUR
    p.tau_r, p.h_r = 600 + (6 * HOUR - 600) * r(), 72 * HOUR
    p.tau_u, p.h_u = 300 + (3 * HOUR - 300) * r(), (12 + 24 * r()) * HOUR
    p.validity = (24 + int(r() * 49)) * HOUR
    p.fallback = kind == "rcs" and r() < fallback_share
    p.m_final = exp + nru if p.fallback else 0
    # fallback SMS outcomes: [delivered, undelivered, failed, expired]
    p.g_dl, p.g_und, p.g_fail, p.g_exp = _split(rng, p.m_final, (
        0.02 + 0.06 * r(), 0.01 * r(), 0.01 + 0.03 * r()))
    p.lag_fd, p.lag_fu, p.lag_ff = 3 + 27 * r(), 30 + 270 * r(), 1 + 2 * r()
    p.tau_fd, p.tau_fu = 30 + 570 * r(), 300 + (2 * HOUR - 300) * r()
    p.fb_validity = (12 + int(r() * 37)) * HOUR
    p.unit = unit_price(kind, sender_idx)
    p.fb_unit = unit_price("sms", sender_idx)
    return p
