"""The campaign catalogue: a cheap eager index (id, created_at, type, sender) for every campaign,
past and pre-generated future, plus lazily drawn profiles. Only the index is built up front so
100,000 campaigns build in well under a second; profiles are drawn on first use and cached
(bounded, since they are cheap to redraw)."""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from datetime import datetime
from typing import Dict, List, Optional, Tuple
from zoneinfo import ZoneInfo

from .campaign import KINDS, Profile, make_profile
from .config import SimulatorConfig

_PROFILE_CACHE_MAX = 50_000
_PROMO_NAMES = ("Black Friday promo", "Loyalty bonus", "Delivery update", "Weekend sale",
                "Знижки тижня", "Appointment reminder", "New menu")
_M64 = 0xFFFFFFFFFFFFFFFF
_TYPE_LABEL = {"sms": "SMS", "rcs": "RCS", "whatsapp": "WhatsApp"}


def _fmix(z: int) -> int:
    """splitmix64's finalizer: a bijective 64-bit avalanche."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def mix(seed: int, cid: int, salt: int) -> int:
    """A fast deterministic 64-bit hash of (seed, id, salt) for per-campaign choices."""
    key = _fmix((seed * 0x9E3779B97F4A7C15 + salt * 0xD1B54A32D192ED03) & _M64)
    return _fmix((key ^ (cid * 0x9E3779B97F4A7C15)) & _M64)


def unit_hash(seed: int, cid: int, salt: int) -> float:
    """A deterministic uniform number in [0, 1) per (seed, id, salt)."""
    return mix(seed, cid, salt) / 18446744073709551616.0


class Catalogue:
    """Index of all campaigns sorted by creation time; ids increase with created_at."""

    def __init__(self, cfg: SimulatorConfig) -> None:
        self.seed = cfg.seed
        self.senders: Tuple[str, ...] = cfg.senders
        self.fallback_share = cfg.fallback_share
        self.message_counts: Dict[int, int] = dict(cfg.message_counts)
        self._zone = ZoneInfo(cfg.server_timezone)
        rng = random.Random(cfg.seed)
        start = int(cfg.start_time.timestamp())
        past_lo = start - int(cfg.history_days * 86400)
        future_hi = start + int(cfg.future_days * 86400)
        n_future = int(cfg.new_per_day * cfg.future_days)
        created = sorted([rng.randint(past_lo + 1, start) for _ in range(cfg.campaigns)])
        created += sorted([rng.randint(start + 1, future_hi) for _ in range(n_future)])
        n = len(created)
        ids: List[int] = [0] * n
        kinds = bytearray(n)
        senders = bytearray(n)
        cid = cfg.first_id
        rnd = rng.random
        p_rcs, p_wa = cfg.rcs_share, cfg.rcs_share + cfg.whatsapp_share
        n_senders = len(self.senders)
        for i in range(n):
            u = rnd()
            cid += 1 if u < 0.7 else 2 + int(rnd() * 40)  # other accounts' campaigns in between
            ids[i] = cid
            u = rnd()
            kinds[i] = 1 if u < p_rcs else 2 if u < p_wa else 0
            senders[i] = int(rnd() * rnd() * n_senders)  # skewed: the first senders send most
        self.created: List[int] = created
        self.ids: List[int] = ids
        self.kinds = bytes(kinds)
        self.sender_idx = bytes(senders)
        # per type: global positions and their creation times (both sorted) for bisecting
        self.by_kind: Dict[str, Tuple[List[int], List[int]]] = {}
        for k, name in enumerate(KINDS):
            pos = [i for i in range(n) if kinds[i] == k]
            self.by_kind[name] = (pos, [created[i] for i in pos])
        self._profiles: Dict[int, Profile] = {}
        self._names: Dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, cid: int) -> Optional[int]:
        i = bisect_left(self.ids, cid)
        return i if i < len(self.ids) and self.ids[i] == cid else None

    def kind(self, idx: int) -> str:
        return KINDS[self.kinds[idx]]

    def sender(self, idx: int) -> str:
        return self.senders[self.sender_idx[idx]]

    def profile(self, idx: int) -> Profile:
        p = self._profiles.get(idx)
        if p is None:
            if len(self._profiles) >= _PROFILE_CACHE_MAX:
                self._profiles.clear()  # cheap to redraw; keeps memory bounded
            p = make_profile(self.seed, self.ids[idx], self.kind(idx), self.sender_idx[idx],
                             self.created[idx], self.fallback_share,
                             self.message_counts.get(self.ids[idx], 0))
            self._profiles[idx] = p
        return p

    def name(self, idx: int) -> str:
        """Campaign name, fixed at creation (rendered in the configured server time zone)."""
        name = self._names.get(idx)
        if name is None:
            cid = self.ids[idx]
            h = mix(self.seed, cid, 7)
            if h % 10 < 3:
                name = f"{_PROMO_NAMES[(h >> 8) % len(_PROMO_NAMES)]} #{(h >> 16) % 500 + 1}"
            else:
                stamp = datetime.fromtimestamp(self.created[idx], self._zone)
                name = f"{_TYPE_LABEL[self.kind(idx)]} api campaign / {stamp:%Y-%m-%d %H:%M:%S}"
            if len(self._names) >= _PROFILE_CACHE_MAX:
                self._names.clear()
            self._names[idx] = name
        return name

    def window(self, kind: str, lo: float, hi: float) -> List[int]:
        """Global positions of campaigns of `kind` created within [lo, hi], in id order."""
        pos, created = self.by_kind[kind]
        return pos[bisect_left(created, lo):bisect_right(created, hi)]

    def count_visible(self, now: float) -> int:
        return bisect_right(self.created, now)
