"""A request pace shared by all threads: a configured cap, and the API's limit learned from its
429s (see `RateLimiter`). Pure timing logic, no HTTP: `client.py` calls `wait`, `done` and
`throttled` around every request."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Callable, Deque, List, Optional, Tuple

logger = logging.getLogger("bsg_campaigns.api.client")


class RateLimiter:
    """Paces request starts across all threads, and learns the API's limit from its 429s.

    The limit is a number of requests per `WINDOW` (1 s) that the server counts in a sliding
    window. Under a limit, a request starts only when (a) its slot in an even pace of
    limit / WINDOW requests/s has come (a token bucket with a burst of 1: no bursts), and (b) the
    requests that the server may still count in the window that ends when it counts this one are
    fewer than the limit: every response (not a 429) received in the last WINDOW seconds, plus
    every request in flight. The server counts a request somewhere between its start and its
    answer, so (b) holds whatever the scheduling jitter or latency: no 429 at a window's edge.
    Its price is the latency (each request occupies the window for WINDOW + its latency).

    - No configured cap and no 429 yet: no throttling at all (a lock-free check per request).
    - A configured cap (`max_requests_per_second`) is the limit from the first request on.
    - A 429 is about this client, not about one request: it sets a shared "not before" (its
      Retry-After, else the retry backoff) that every thread honours before its next start.
    - It also sets the learned limit to the number the server accepted over the last WINDOW
      (429s on login/refresh, that endpoint's own limit, do not count): once per episode (429s
      of requests already in flight belong to the same episode), not again for `COOLDOWN` s
      after the pause, and never above the limit in force x (1 - SAFETY) (so a limit that still
      draws 429s keeps shrinking). Unlimited so
      far, a first 429 only pauses: a second one within `CONFIRM_WITHIN` s, after about the
      same accepted rate, sets the limit (a stray 429 -- a hiccup, a fault -- must not cap the
      run at whatever it was doing then, e.g. listing one page at a time).
    - While no 429 comes the learned limit rises: quickly back towards the highest rate the
      server was seen to accept (`ceiling`; a stray 429 must not leave the run slow) but below
      any limit that drew a 429, then above it by `PROBE_STEP` every `PROBE_EVERY` s only
      (every 429 costs every thread a Retry-After pause).
    - A configured cap stays the upper bound of the learned limit, and half the highest rate
      the server ever accepted its lower bound (a server limit caps what it accepts, so that
      rate is at most the limit): 429s that are not about the rate cannot slow a run to a crawl.
    `clock` and `sleep` are injectable for tests.
    """

    WINDOW = 1.0  # seconds: the server's window, and the one the estimate is taken over
    SAFETY = 0.02  # a cut goes at least this share below the limit that drew the 429
    COOLDOWN = 3.0  # seconds after a cut's pause before a 429 may cut again
    # Accepted requests in the window needed to learn a limit from 429s. Fewer, and a run that
    # is still ramping up (listing page by page) reads random 429s as a limit of ~30/s and
    # crawls (measured: 25 % random 429s, 200 campaigns, 0.7 s -> 21 s). Lower limits are met
    # by the shared Retry-After pauses, or exactly by setting max_requests_per_second.
    MIN_EVIDENCE = 50
    CONFIRM_WITHIN = 10.0  # seconds: a second 429 this soon after a first one confirms a limit...
    CONFIRM_TOLERANCE = 0.1  # ... if the rate accepted before each differs by at most this share
    RECOVER_EVERY = 2.0  # seconds between two steps back up towards the ceiling
    RECOVER_SHARE = 0.5  # share of the gap to the ceiling closed per step
    PROBE_EVERY = 30.0  # seconds without a 429 between two probes above the ceiling
    PROBE_STEP = 0.01  # relative increase of the limit per probe
    CEILING_DECAY = 0.95  # a cut well below the ceiling lowers it (the limit itself dropped)
    MIN_RATE = 0.5  # requests/s: the learned limit never goes below this
    FLOOR_SHARE = 0.5  # ... nor below this share of the highest rate the server ever accepted
    PEAK_SAMPLE = 16  # that rate is sampled every this many answers

    def __init__(self, rate: Optional[float] = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.cap = float(rate) if rate else None  # configured, requests/s
        self.learned: Optional[float] = None  # learned from 429s, requests/s
        self.ceiling: Optional[float] = None  # the highest rate seen accepted when a 429 came
        self._peak = 0.0  # the highest rate ever seen accepted (sampled), never lowered
        self._answers = 0  # answers counted for sampling `_peak`
        self.rate = self.cap  # the limit in force: min(cap, learned); None = none
        self.throttles = 0  # 429s reported
        self.cuts = 0  # times a 429 lowered the limit
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition(threading.Lock())
        self._not_before = 0.0  # no start before this (the shared pause after a 429)
        self._next = 0.0  # the next free start slot of the even pace
        self._episode = 0  # bumped whenever a 429 extends the pause: sleepers re-check
        self._in_flight = 0  # requests started under a limit and not answered yet
        self._cut_at = float("-inf")  # requests started before this belong to the last cut
        self._cut_rate: Optional[float] = None  # the limit in force at the last cut
        self._cooldown_until = float("-inf")
        self._adjust_at = float("inf")  # when the learned limit next rises
        self._candidate: Optional[Tuple[float, float]] = None  # (accepted rate, when): a first 429
        self._pauses: Deque[Tuple[float, float]] = deque(maxlen=256)  # recent shared pauses
        # Answer times of responses other than 429 (the server counted them against its limit,
        # if it has one), oldest first. Without a limit appended without the lock (atomic).
        self._answered: Deque[float] = deque(maxlen=65536)

    def wait(self) -> Tuple[float, bool]:
        """Blocks until this thread may start a request. Returns a ticket for `done()`."""
        while True:
            now = self._clock()
            if self.rate is None and now >= self._not_before:
                return now, False  # no limit, no pause: free
            with self._cond:
                now = self._clock()
                if now >= self._adjust_at:
                    self._adjust(now)
                start = max(now, self._not_before)
                if self.rate:
                    start = max(start, self._next)
                    self._next = start + 1.0 / self.rate  # reserve this slot
                episode = self._episode
            if start > now:
                self._sleep(start - now)
                if self._episode != episode:
                    continue  # a 429 meanwhile: wait for its pause, take a new slot
            while True:
                with self._cond:
                    if self.rate is None or self._episode != episode:
                        break
                    now = self._clock()
                    self._expire(now)
                    if len(self._answered) + self._in_flight < max(1, int(self.rate * self.WINDOW)):
                        self._in_flight += 1
                        return now, True
                    if not self._answered:  # the window is full of requests in flight
                        self._cond.wait(self.WINDOW)  # until one is answered
                        continue
                    # Full: an answer does not make room (it stays in the window), time does.
                    delay = self._answered[0] + self.WINDOW - now
                self._sleep(delay)
            if self.rate is None and self._clock() >= self._not_before:
                return self._clock(), False
            # a 429 meanwhile: wait for its pause, take a new slot

    def done(self, ticket: Tuple[float, bool], status: Optional[int]) -> None:
        """The answer to the request `ticket` was for: its status, None for no answer at all (it
        may have reached the server: it is counted like an accepted one)."""
        if not ticket[1] and self.rate is None:
            if status != 429:
                now = self._clock()
                self._answered.append(now)
                self._sample_peak(now)
            return
        with self._cond:
            if ticket[1]:
                self._in_flight -= 1
            if status != 429:
                now = self._clock()
                self._answered.append(now)
                self._sample_peak(now)
            self._cond.notify()

    def _sample_peak(self, now: float) -> None:
        """Every PEAK_SAMPLE-th answer: the answers of the last WINDOW, the highest so far kept in
        `_peak` (the learned limit's floor). Counted from the newest, so it costs a window's
        worth of answers once in PEAK_SAMPLE; a concurrent append just skips a sample."""
        self._answers = answers = self._answers + 1
        if answers % self.PEAK_SAMPLE:
            return
        since, count = now - self.WINDOW, 0
        try:
            for t in reversed(self._answered):
                if t <= since:
                    break
                count += 1
        except RuntimeError:
            return
        if count / self.WINDOW > self._peak:
            self._peak = count / self.WINDOW

    def _answered_copy(self) -> List[float]:
        """Answer times, copied: without a limit `done()` appends without the lock, and a thread
        switch inside the copy (a finalizer) would make the deque raise; then copy again."""
        for _ in range(5):
            try:
                return list(self._answered)
            except RuntimeError:
                continue
        return []

    def throttled(self, ticket: Tuple[float, bool], pause: float) -> None:
        """A 429 for the request `ticket` was for (after its `done()`); `pause`: the seconds the
        client honours (Retry-After, capped; else the retry backoff)."""
        started = ticket[0]
        with self._cond:
            now = self._clock()
            self.throttles += 1
            until = now + max(pause, 0.0)
            if until > self._not_before:
                if self._pauses and self._pauses[-1][1] >= now:
                    self._pauses[-1] = (self._pauses[-1][0], until)
                else:
                    self._pauses.append((now, until))
                self._not_before = until
                self._episode += 1
                self._cond.notify_all()  # threads waiting for room in the window: the pause first
            if self.learned is not None:  # no rise while 429s come
                self._adjust_at = max(self._adjust_at, self._not_before + self.RECOVER_EVERY)
            if started < self._cut_at or now < self._cooldown_until:
                return  # in flight when the limit was last cut, or too soon after that cut
            since = now - self.WINDOW
            seen = sum(1 for t in self._answered_copy() if t > since)
            if seen < self.MIN_EVIDENCE:
                return  # too little traffic to tell a limit from a stray 429: the pause only
            # What a server counting a sliding window allows per window (a count: right after a
            # pause it may all have come in a burst).
            accepted_rate = seen / self.WINDOW
            if self.rate is None:
                # Unlimited so far: one 429 may be a stray one (a hiccup, a fault). A limit shows
                # by answering 429 again, soon, at about the same accepted rate.
                candidate, self._candidate = self._candidate, (accepted_rate, now)
                self._cut_at = now  # 429s already in flight are this episode
                if candidate is None or now - candidate[1] > self.CONFIRM_WITHIN or \
                        abs(accepted_rate - candidate[0]) > self.CONFIRM_TOLERANCE * candidate[0]:
                    logger.info("HTTP 429: every request waits %.2f s (the server accepted %d in the last "
                                "%.1f s)", pause, seen, self.WINDOW)
                    return
                accepted_rate = min(accepted_rate, candidate[0])
            self._peak = max(self._peak, accepted_rate)
            if self.ceiling is None or accepted_rate > self.ceiling:
                self.ceiling = accepted_rate
            elif accepted_rate < self.ceiling * (1.0 - 2 * self.SAFETY):
                self.ceiling = max(accepted_rate, self.ceiling * self.CEILING_DECAY)
            learned = accepted_rate
            if self.rate is not None:
                learned = min(learned, self.rate * (1.0 - self.SAFETY))
            self._cut_rate = self.rate
            # A server limit caps what it accepts per window, so the highest accepted rate ever
            # seen is at most that limit: never learn far below it. 429s that are not about the
            # rate (a hiccup, a per-request quota) would otherwise ratchet the run down to a crawl
            # (measured: 25 % random 429s made a 200-campaign load 28x slower).
            self._set_learned(max(learned, self.FLOOR_SHARE * self._peak, self.MIN_RATE))
            self.cuts += 1
            self._cut_at = now
            self._cooldown_until = self._not_before + self.COOLDOWN
            self._adjust_at = self._not_before + self.RECOVER_EVERY
            self._next = self._not_before  # paced starts resume after the pause, one by one
            logger.info("HTTP 429: every request waits %.2f s, then at most %.1f requests/s (the server "
                        "accepted %d in the last %.1f s)", pause, self.rate, seen, self.WINDOW)

    def _expire(self, now: float) -> None:
        answered, since = self._answered, now - self.WINDOW
        while answered and answered[0] <= since:
            answered.popleft()

    def _adjust(self, now: float) -> None:
        """No 429 for a while: raise the learned limit (back to the ceiling, then slowly above)."""
        if self.learned is None or self.ceiling is None:
            self._adjust_at = float("inf")
            return
        target = self.ceiling
        if self._cut_rate is not None:  # a limit that drew a 429 is not a safe target
            target = min(target, self._cut_rate * (1.0 - self.SAFETY))
        if self.learned < target * (1.0 - self.SAFETY / 4):
            self._set_learned(self.learned + (target - self.learned) * self.RECOVER_SHARE)
            self._adjust_at = now + self.RECOVER_EVERY
        elif now >= self._not_before + self.PROBE_EVERY:  # PROBE_EVERY s without a 429
            if self.cap is None or self.learned < self.cap:
                self._set_learned(max(self.learned, target) * (1.0 + self.PROBE_STEP))
            self._adjust_at = now + self.PROBE_EVERY
        else:
            self._adjust_at = self._not_before + self.PROBE_EVERY

    def _set_learned(self, learned: float) -> None:
        self.learned = learned
        self.rate = min(learned, self.cap) if self.cap else learned
        self._cond.notify_all()

