"""Traffic bookkeeping shared by all handler threads: request statistics, the sliding-window rate
limiter and the seeded fault picker. Each has its own lock so they never serialize each other."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from email.utils import formatdate
from typing import Callable, Deque, Dict, Optional, Sequence

from . import responses as r
from .responses import Response

ENDPOINTS = ("login", "refresh", "list", "detail", "messages")


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # requests being handled now (not reset: they are still in flight) and, since the last
        # reset, the most at once per endpoint: shows a client's requests overlapped, untimed
        self._in_flight: Dict[str, int] = dict.fromkeys(ENDPOINTS, 0)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._counts: Dict[str, int] = dict.fromkeys(ENDPOINTS + ("total", "faults"), 0)
            self._status: Dict[str, int] = {}
            self._max_in_flight: Dict[str, int] = dict(self._in_flight)

    def request(self, endpoint: Optional[str]) -> None:
        with self._lock:
            self._counts["total"] += 1
            if endpoint in ENDPOINTS:
                self._counts[endpoint] += 1
                self._in_flight[endpoint] += 1
                self._max_in_flight[endpoint] = max(self._max_in_flight[endpoint], self._in_flight[endpoint])

    def answered(self, endpoint: Optional[str]) -> None:
        """The request that request() counted is answered (or failed)."""
        with self._lock:
            if endpoint in ENDPOINTS:
                self._in_flight[endpoint] -= 1

    def fault(self) -> None:
        with self._lock:
            self._counts["faults"] += 1

    def status(self, code: int) -> None:
        key = str(code)
        with self._lock:
            self._status[key] = self._status.get(key, 0) + 1

    def snapshot(self) -> Dict[str, object]:
        with self._lock:
            out: Dict[str, object] = dict(self._counts)
            out["status"] = dict(sorted(self._status.items()))
            out["in_flight"] = dict(self._in_flight)
            out["max_in_flight"] = dict(self._max_in_flight)
        return out


class RateLimiter:
    """At most `limit` accepted requests in any sliding 1 s window (wall clock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: Deque[float] = deque()

    def allow(self, limit: float) -> bool:
        if limit <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            while self._times and now - self._times[0] >= 1.0:
                self._times.popleft()
            if len(self._times) >= limit:
                return False
            self._times.append(now)
            return True


class FaultPicker:
    """Seeded: the same seed and request order give the same faults."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed * 7919 + 17)

    def pick(self, rate: float, kinds: Sequence[str]) -> Optional[str]:
        if rate <= 0:
            return None
        with self._lock:
            if self._rng.random() >= rate:
                return None
            return kinds[int(self._rng.random() * len(kinds))]


def fault_response(kind: str, sim_now: float, normal: Callable[[], Response]) -> Response:
    """The injected failure; `normal` builds the real answer (for timeout and truncated)."""
    if kind == "429":
        return r.too_many()
    if kind == "429_retry_after_seconds":
        return r.too_many("1")
    if kind == "429_retry_after_date":  # relative to the Date header, i.e. the simulated clock
        return r.too_many(formatdate(sim_now + 1, usegmt=True))
    if kind == "500":
        return r.server_error()
    if kind in ("502", "504"):
        return r.gateway_error(int(kind))
    if kind == "503":
        return r.unavailable()
    if kind == "reset":
        return Response(0, reset=True)
    if kind == "truncated":
        resp = normal()
        resp.body = resp.body[: len(resp.body) // 2]
        return resp
    if kind == "non_json":
        return r.non_json_200()
    if kind == "html_200":
        return r.html_200()
    raise ValueError(f"unknown fault kind {kind!r}")  # "timeout" is handled by the caller
