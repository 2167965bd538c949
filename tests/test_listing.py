"""extract.discovery.list_many, the concurrent listing, against the simulator over loopback: it
lists exactly what the sequential list_campaigns lists, under every page rule the server can
show (short pages, no meta.page.total, a page size changing mid-listing, an ignored offset),
with requests that really overlap (the simulator counts them in flight), a bounded number of
pages asked ahead of the consumer, and an error of any page failing the listing."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, List, Set, Tuple

import pytest

from bsg_campaigns.api.client import BsgClient, RetryPolicy
from bsg_campaigns.api.exceptions import ApiError
from bsg_campaigns.extract.discovery import (ListJob, ListedCampaign, _Paging, creation_windows, list_campaigns,
                                             list_many)
from bsg_campaigns.simulator import Simulator, SimulatorConfig

UTC = timezone.utc
TYPES = ("rcs", "sms", "whatsapp")
Row = Tuple[str, int, datetime]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    # 300 campaigns over 400 days: a first run from 2020 lists 28 windows per type, most empty
    with Simulator(SimulatorConfig(seed=5, campaigns=300, history_days=400)).start() as simulator:
        yield simulator


def client_of(sim: Simulator, attempts: int = 2) -> BsgClient:
    return BsgClient(sim.base_url, sim.api_key, retry=RetryPolicy(max_attempts=attempts, backoff_seconds=0.01))


def first_run_jobs(sim: Simulator, types: Tuple[str, ...] = TYPES, months: int = 3) -> List[ListJob]:
    end = sim.now + timedelta(days=1)
    return [(kind, window) for kind in types
            for window in creation_windows(datetime(2020, 1, 1, tzinfo=UTC), end, months)]


def sequential(client: BsgClient, jobs: List[ListJob], page_size: int = 30) -> List[Row]:
    return [row(kind, item) for kind, window in jobs
            for item in list_campaigns(client, kind, window, page_size=page_size, tz=UTC)]


def concurrent(client: BsgClient, jobs: List[ListJob], page_size: int = 30, concurrency: int = 4) -> List[Row]:
    return [row(kind, item) for kind, item in
            list_many(client, jobs, page_size=page_size, tz=UTC, concurrency=concurrency)]


def row(kind: str, item: ListedCampaign) -> Row:
    assert item.created_at is not None and item.type == kind
    return kind, item.campaign_id, item.created_at


def fullest_window(sim: Simulator, client: BsgClient, kind: str = "rcs") -> Tuple[ListJob, int]:
    """The 3-month window with the most campaigns of `kind`, and how many."""
    counts = [(len(list(list_campaigns(client, *job, page_size=500, tz=UTC))), job)
              for job in first_run_jobs(sim, types=(kind,))]
    count, job = max(counts, key=lambda pair: pair[0])
    return job, count


def truth(sim: Simulator) -> Set[Tuple[str, int]]:
    return {(kind, cid) for kind in TYPES for cid in sim.visible_campaign_ids(kind)}


def no_list_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("bsg-list")]


@pytest.mark.parametrize("knobs", [{}, {"max_page_size": 7}, {"page_total": False},
                                   {"page_total": False, "max_page_size": 7}],
                         ids=["total", "short_pages", "no_total", "no_total_short_pages"])
def test_list_many_lists_what_the_sequential_listing_lists(sim: Simulator, knobs: Any) -> None:
    """84 windows (3 types from 2020), 66 of them empty, 3 with more than the 30 rows asked per
    page (up to 47), the 300 campaigns in the other 18: the same
    (type, id, created_at) rows, each once, as list_campaigns window by window, and exactly the
    simulator's campaigns; with the same number of list requests (pages asked ahead are the
    pages the sequential listing asks, not extra ones)."""
    sim.configure(**knobs)
    jobs = first_run_jobs(sim)
    client = client_of(sim)
    expected = sequential(client, jobs)
    sequential_calls = sim.stats()["list"]
    sim.reset_stats()
    got = concurrent(client, jobs)
    assert len(got) == len(set(got)) == len(expected) and set(got) == set(expected)
    assert {(kind, cid) for kind, cid, _ in got} == truth(sim)
    filled = {index for kind, _, created in got for index, (job_kind, (lo, hi)) in enumerate(jobs)
              if job_kind == kind and lo <= created <= hi}
    assert len(jobs) == 84 and len(filled) == 18 and len(got) == 300
    assert sim.stats()["list"] == sequential_calls
    assert no_list_threads()


def test_pages_asked_ahead_at_a_stride_the_server_left_are_dropped(sim: Simulator) -> None:
    """A server whose page size changes all the time (7, 5, 6, 4, 3, switched at every campaign
    the listing yields): pages asked ahead at the last page's stride mostly no longer sit where
    the listing goes on, so they are dropped (14 times here) and the right offsets asked. Whatever
    the sizes, the rows come out exactly as the sequential listing's, in offset order, each once.
    (Kept, such pages would only hold slots: the page the listing needs is always asked first.)"""
    client = client_of(sim)
    one_window, count = fullest_window(sim, client)
    expected = sequential(client, [one_window])
    sizes = (7, 5, 6, 4, 3)
    sim.configure(max_page_size=sizes[0])
    got: List[Row] = []
    for kind, item in list_many(client, [one_window], page_size=30, tz=UTC, concurrency=2):
        got.append(row(kind, item))
        sim.configure(max_page_size=sizes[len(got) % len(sizes)])
    assert got == expected and len(got) == count > 40


def test_a_server_ignoring_the_offset_without_a_total_fails_the_listing(sim: Simulator) -> None:
    """Whichever window repeats its first page first names its offset (the rows it served)."""
    sim.configure(page_total=False, page_offset=False)
    with pytest.raises(ApiError, match=r"list for rcs answered page\[offset\]=[1-9]\d* with campaigns already listed"):
        concurrent(client_of(sim), first_run_jobs(sim, types=("rcs",)))
    assert no_list_threads()


def test_list_requests_overlap_up_to_the_concurrency(sim: Simulator) -> None:
    """At 20 ms a request, 84 first pages and a window of many pages (its later pages asked ahead
    from the total) have several requests in flight at once, never more than asked; the
    sequential listing never more than one."""
    sim.configure(latency_ms=20)
    client = client_of(sim)
    sequential(client, first_run_jobs(sim, types=("sms",)))
    assert sim.stats()["max_in_flight"]["list"] == 1
    sim.reset_stats()
    concurrent(client, first_run_jobs(sim), concurrency=4)
    assert 2 <= sim.stats()["max_in_flight"]["list"] <= 4
    sim.configure(max_page_size=7)
    sim.reset_stats()
    one_window, _ = fullest_window(sim, client)
    sim.reset_stats()
    rows = concurrent(client, [one_window], concurrency=3)
    assert len(rows) > 7 * 6 and sim.stats()["list"] == -(-len(rows) // 7)  # many pages, none extra
    assert 2 <= sim.stats()["max_in_flight"]["list"] <= 3


def test_pages_asked_ahead_of_the_consumer_are_bounded(sim: Simulator) -> None:
    """A consumer that stops after the first campaign: 2 * concurrency pages were asked, no
    more, however long it waits (memory stays bounded); closing the listing ends its threads."""
    jobs = [job for job in first_run_jobs(sim, types=("rcs",), months=1)]
    client = client_of(sim)
    assert len([job for job in jobs if list(list_campaigns(client, *job, page_size=30, tz=UTC))]) >= 6
    jobs = [job for job in jobs if any(True for _ in list_campaigns(client, *job, page_size=30, tz=UTC))]
    sim.reset_stats()
    listing = list_many(client, jobs, page_size=30, tz=UTC, concurrency=2)
    next(listing)
    deadline = time.monotonic() + 30  # only against a hang: the test passes as soon as all 4 answered
    while not (sim.stats()["list"] >= 4 and sim.stats()["in_flight"]["list"] == 0):
        assert time.monotonic() < deadline, sim.stats()
        time.sleep(0.01)
    assert sim.stats()["list"] == 4
    listing.close()
    assert no_list_threads() and sim.stats()["list"] == 4


def test_an_error_mid_listing_fails_it_and_stops_asking(sim: Simulator) -> None:
    """The API goes down after the first campaign came out (no retries): the listing raises the
    API's error, having sent at most the pages it had asked (2 * concurrency beyond the consumed
    ones, of 25 the window has in pages of 2), and no request is in flight or left to go once it raised."""
    sim.configure(max_page_size=2)
    client = client_of(sim, attempts=1)
    one_window, count = fullest_window(sim, client)
    pages = -(-count // 2)
    sim.reset_stats()
    got: List[Row] = []
    with pytest.raises(ApiError, match="503"):
        for kind, item in list_many(client, [one_window], page_size=30, tz=UTC, concurrency=4):
            got.append(row(kind, item))
            if len(got) == 1:
                sim.configure(outage=True)
    assert 1 <= len(got) < count and no_list_threads()
    consumed_pages = -(-len(got) // 2)
    assert consumed_pages + 1 <= sim.stats()["list"] <= consumed_pages + 2 * 4 < pages
    assert sim.stats()["in_flight"]["list"] == 0


def test_the_paging_rules_warn_when_a_total_is_not_served(caplog: pytest.LogCaptureFixture) -> None:
    """The one rule no consistent server shows (the simulator's totals always hold), on the shared
    page logic itself: an empty page before the reported total ends the listing with a warning
    naming both counts; the page after it is never asked."""
    paging = _Paging("rcs", {}, UTC)
    item = {"id": 7, "created_at": "2026-10-01 10:00:00", "type": "rcs"}
    assert [c.campaign_id for c in paging.take(0, {"data": [item], "meta": {"page": {"total": 5}}})] == [7]
    assert list(paging.ahead()) == [1, 2, 3, 4] and not paging.done
    with caplog.at_level(logging.WARNING, logger="bsg_campaigns.extract.discovery"):
        assert paging.take(1, {"data": [], "meta": {"page": {"total": 5}}}) == []
    assert paging.done and list(paging.needed()) == [] and list(paging.ahead()) == []
    assert [r.getMessage() for r in caplog.records] == [
        "list for rcs stopped early: server reported 5 campaigns, served 1"]
