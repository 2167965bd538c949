"""The request limiter (`ratelimit.RateLimiter`): no throttling without a cap or a 429, a configured
cap that a server enforcing exactly that cap never answers 429 to, and a limit learned from the
API's 429s that all threads respect. Unit tests run on a fake clock; the loopback tests run the
connector against the simulator's sliding-window `rate_limit`. Nothing asserts on durations."""

from __future__ import annotations

import threading
from typing import List, Tuple

import pytest

from bsg_campaigns.api.client import BsgClient, RetryPolicy
from bsg_campaigns.api.exceptions import ApiError
from bsg_campaigns.api.ratelimit import RateLimiter
from bsg_campaigns.simulator import Simulator, SimulatorConfig
from conftest import Harness


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: List[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _limiter(rate=None) -> Tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(rate, clock=clock, sleep=clock.sleep), clock


def _accept(limiter: RateLimiter, clock: FakeClock, n: int, spacing: float) -> None:
    for _ in range(n):
        ticket = limiter.wait()
        clock.now += spacing
        limiter.done(ticket, 200)


# -- unit: fake clock ------------------------------------------------------------------------------


def test_no_cap_and_no_429_never_waits():
    limiter, clock = _limiter()
    _accept(limiter, clock, 500, 0.0)  # 500 requests in the same instant
    assert clock.sleeps == [] and limiter.rate is None and limiter.cuts == 0


def test_configured_cap_paces_evenly_without_bursts():
    limiter, clock = _limiter(10)
    starts = []
    for _ in range(25):
        ticket = limiter.wait()
        starts.append(ticket[0])
        limiter.done(ticket, 200)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 0.1 - 1e-9  # never two starts closer than 1/R: no burst, not even the first
    # and never more than R starts in any 1-s window
    assert all(sum(1 for s in starts if t - 1.0 < s <= t) <= 10 for t in starts)


def test_configured_cap_counts_requests_in_flight():
    """The window holds requests not answered yet (the server may count them at any moment) and
    answers until they are a window old."""
    limiter, clock = _limiter(3)
    tickets = [limiter.wait() for _ in range(3)]  # three in flight, none answered
    got = []
    worker = threading.Thread(target=lambda: got.append(limiter.wait()))
    worker.start()
    answered_at = clock.now  # the fake clock stands still unless the limiter sleeps on it
    limiter.done(tickets[0], 200)
    worker.join(5)
    # A fourth start would make 4 in the window: whenever the worker asked (before or after that
    # answer), it may start only when the answer leaves the window, on the fake clock - a start
    # that ignored the requests in flight would carry the unmoved clock (answered_at).
    assert got and got[0][0] >= answered_at + 1.0
    assert clock.sleeps and sum(clock.sleeps) >= 1.0
    for ticket in tickets[1:] + got:
        limiter.done(ticket, 200)


def test_a_429_pauses_every_thread_until_retry_after():
    limiter, clock = _limiter()
    ticket = limiter.wait()
    limiter.done(ticket, 429)
    limiter.throttled(ticket, 1.5)
    paused_at = clock.now
    # another thread, not the one that got the 429, starts its next request only after the pause
    assert limiter.wait()[0] >= paused_at + 1.5
    assert limiter.cuts == 0  # one request in the window: too little to estimate a limit


def _burst_then_429(limiter: RateLimiter, clock: FakeClock, accepted: int, in_flight: int = 5):
    """`accepted` requests answered within 0.25 s, then a 429, and 429s for the `in_flight`
    requests started before it came back (the server's window is full)."""
    _accept(limiter, clock, accepted, 0.25 / accepted)
    tickets = []
    for _ in range(1 + in_flight):
        tickets.append(limiter.wait())
        clock.now += 0.0001
    _answered_429(limiter, tickets, 1.0)


def _answered_429(limiter: RateLimiter, tickets: list, pause: float) -> None:
    for ticket in tickets:
        limiter.done(ticket, 429)
        limiter.throttled(ticket, pause)


def test_a_limit_is_learned_from_two_429s_at_the_same_accepted_rate():
    limiter, clock = _limiter()
    _burst_then_429(limiter, clock, 100)
    assert limiter.rate is None and limiter.cuts == 0  # one 429 episode: a pause only
    first_pause_end = limiter._not_before
    _burst_then_429(limiter, clock, 100, in_flight=15)  # after the pause: the same again
    assert clock.now >= first_pause_end
    assert limiter.rate == pytest.approx(100.0) and limiter.cuts == 1
    assert limiter.throttles == 6 + 16  # the 429s in flight did not cut again
    starts = []
    for _ in range(150):  # after the pause: evenly paced at the learned limit
        ticket = limiter.wait()
        starts.append(ticket[0])
        clock.now += 0.001
        limiter.done(ticket, 200)
    assert starts[0] >= limiter._pauses[-1][1] - 1e-9  # not before the 429's Retry-After
    assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.01 - 1e-9
    assert all(sum(1 for s in starts if t - 1.0 < s <= t) <= 100 for t in starts)


def test_stray_429s_at_changing_rates_do_not_slow_the_run():
    """429s while listing (a few requests/s), then while fetching (hundreds/s): no limit."""
    limiter, clock = _limiter()
    for accepted in (15, 60, 200):
        _burst_then_429(limiter, clock, accepted, in_flight=1)
        clock.now += 1.0
    assert limiter.rate is None and limiter.cuts == 0 and limiter.throttles == 6
    sleeps = len(clock.sleeps)
    _accept(limiter, clock, 300, 0.0)
    assert len(clock.sleeps) == sleeps  # unthrottled


def test_429s_that_are_not_about_the_rate_cannot_ratchet_the_limit_down():
    """A limit learned at 100/s, then 429s keep coming whatever the pace (a quota, a hiccup):
    each cut takes what was accepted, but never below half the highest rate ever accepted."""
    limiter, clock = _limiter()
    _burst_then_429(limiter, clock, 100)
    _burst_then_429(limiter, clock, 100)
    assert limiter.rate == pytest.approx(100.0)
    for _ in range(40):
        clock.now = max(clock.now, limiter._cooldown_until) + 0.5
        rate = limiter.rate
        _accept(limiter, clock, max(int(rate * 0.7), 10), 1.0 / rate)  # 30 % answered 429
        _burst_then_429(limiter, clock, 10, in_flight=0)
    assert limiter.cuts > 5
    assert limiter.rate >= 50.0 - 1e-9


def test_learned_limit_recovers_towards_the_ceiling_then_probes_slowly():
    limiter, clock = _limiter()
    _burst_then_429(limiter, clock, 100)
    _burst_then_429(limiter, clock, 100)
    assert limiter.rate == pytest.approx(100.0)
    # a later, genuine cut while paced at 100: the limit goes below what drew the 429
    clock.now += 10
    _accept(limiter, clock, 100, 0.01)
    ticket = limiter.wait()
    behind = [limiter.wait(), limiter.wait()]  # paced: they start after it
    clock.now += 0.001
    _answered_429(limiter, [ticket, *behind], 1.0)
    cut = limiter.rate
    assert 90 <= cut <= 98.0 + 1e-9  # what was accepted, at least 2 % below the limit that drew a 429
    for _ in range(10):  # 21 s without a 429: back up, but not to the limit that drew one
        clock.now += 2.1
        _accept(limiter, clock, 1, 0.01)
    assert cut <= limiter.rate <= 98.0 + 1e-9 and limiter.rate >= 97.0
    before = limiter.rate
    clock.now += RateLimiter.PROBE_EVERY
    _accept(limiter, clock, 1, 0.01)  # 30 s quiet: one slow probe above it
    assert before < limiter.rate <= 98.0 * (1 + RateLimiter.PROBE_STEP) + 1e-9


def test_configured_cap_bounds_the_learned_limit():
    limiter, clock = _limiter(50)
    _accept(limiter, clock, 60, 0.0)
    ticket = limiter.wait()
    behind = [limiter.wait(), limiter.wait()]  # paced: they start after it
    clock.now += 0.001
    limiter.done(ticket, 429)
    limiter.throttled(ticket, 0.5)
    for other in behind:
        limiter.done(other, 429)
    assert limiter.rate <= 50.0


# -- loopback: the connector against the simulator's sliding-window limit --------------------------

CAMPAIGNS = 400
RATE = 100.0
CONCURRENCY = 16


@pytest.fixture(scope="module")
def uncapped(tmp_path_factory):
    with Simulator(SimulatorConfig(seed=23, campaigns=CAMPAIGNS)).start() as sim:
        harness = Harness(tmp_path_factory.mktemp("uncapped"), sim, "uncapped")
        report = harness.run(concurrency=CONCURRENCY)
        return report, harness.snapshot(), sim.stats()


def _capped_run(root, **overrides):
    with Simulator(SimulatorConfig(seed=23, campaigns=CAMPAIGNS, rate_limit=RATE)).start() as sim:
        harness = Harness(root, sim, "capped")
        report = harness.run(concurrency=CONCURRENCY, max_retry_after_seconds=5, **overrides)
        return report, harness.snapshot(), sim.stats()


def test_uncapped_run_is_never_throttled(uncapped):
    report, snapshot, stats = uncapped
    assert "pace" not in report.http  # the limiter never engaged
    assert stats["status"].get("429", 0) == 0 and len(snapshot["campaigns"]) > CAMPAIGNS * 0.6


def test_server_cap_learned_from_429s(tmp_path, uncapped):
    """Connector defaults (no client cap). The old limiter let each thread sleep its own
    Retry-After while the others kept hitting the cap (~15 % of requests answered 429)."""
    report, snapshot, stats = _capped_run(tmp_path)
    limited = stats["status"].get("429", 0)
    assert limited > 0, "the simulator never limited: the test proves nothing"
    # the requests in flight when the first 429 came (at most CONCURRENCY) and a few more at most
    assert limited <= 2 * CONCURRENCY, stats
    assert report.http["pace"]["requests_per_s"] is not None
    assert report.failed == 0 and report.rejected == 0
    assert snapshot == uncapped[1]


def test_configured_cap_equal_to_the_server_cap_draws_no_429(tmp_path, uncapped):
    """The server counts a request between its start and its answer; the limiter counts every
    answer of the last second plus every request in flight, so the server's window never holds
    more than R: no 429 whatever the jitter."""
    report, snapshot, stats = _capped_run(tmp_path, max_requests_per_second=RATE)
    assert stats["status"].get("429", 0) == 0, stats
    assert report.http["retries"] == 0
    assert snapshot == uncapped[1]


def test_retry_after_http_date_is_shared_and_measured_on_the_server_clock():
    """A 429 whose Retry-After is an HTTP-date (1 s after the simulated clock's Date, weeks
    behind this machine's): honoured as a 1 s pause for every thread, never as 0 or weeks."""
    config = SimulatorConfig(seed=2, campaigns=20, fault_rate=1.0, fault_kinds=("429_retry_after_date",))
    with Simulator(config).start() as sim:
        client = BsgClient(sim.base_url, sim.api_key, retry=RetryPolicy(max_attempts=2, max_retry_after_seconds=10))
        client.login()
        with pytest.raises(ApiError):
            client.get("/api/campaigns", params={"filter[type]": "sms"})
        limiter = client._limiter
        assert limiter.throttles == 2
        begin, end = limiter._pauses[-1]
        assert end - begin == pytest.approx(1.0, abs=0.01)  # the shared pause: 1 s
