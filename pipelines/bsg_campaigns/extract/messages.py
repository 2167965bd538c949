"""A campaign's messages (`GET /api/messages?filter[campaign_id]=...`), read concurrently: once a
campaign's first page gives `meta.page.total`, its remaining pages go out at once, beside other
campaigns' pages, through the one shared client (its pace, retries and rate limit).

Pages are fetched as chunks [offset, end) of the id-sorted list: a chunk asks for `end - offset`
rows (at least the server's minimum) and keeps the first `end - offset` served; a server that
serves fewer than asked (it may) leaves the rest of the chunk as a new chunk, so rows are never
skipped and never read twice. Without `total` a campaign is paged one page at a time until an
empty page, as the listing is. Each page is parsed in the worker that fetched it (contract/
message_pages.py: messages as columns, and rejections); the caller gets pages in completion order and, after a
campaign's last page, one CampaignRead saying whether every page was read."""

from __future__ import annotations

import logging
import queue
import sys
import threading
from contextlib import contextmanager
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple, Union

from bsg_campaigns.api.client import BsgClient
from bsg_campaigns.api.exceptions import ApiError, ApiUnavailable, AuthError, ClientError
from bsg_campaigns.contract.message_pages import MessagePage, parse_message_page
from bsg_campaigns.contract.privacy import RecipientPolicy

logger = logging.getLogger("bsg_campaigns.extract.messages")

MESSAGES_PATH = "/api/messages"
# The interpreter's thread switch interval while pages are read (CPython's default: 5 ms). Each
# worker parses ~5 ms of JSON and columns a page; at 5 ms the GIL is handed between 16 such
# threads mid-parse, and the hand-overs and cold caches cost more than the parsing (measured,
# 441,338 messages at 20 ms latency: extract 17.3-17.9 -> 13.0-13.3 s, process CPU 17.8-18.6 ->
# 12.8-12.9 s at 50 or 200 ms). Restored when the read ends.
READ_SWITCH_INTERVAL_S = 0.05
SERVER_MIN_LIMIT = 15  # the server refuses a smaller page[limit] (bsg-one-api.md)


@dataclass(frozen=True)
class PageRead:
    """One page of one campaign's messages, parsed."""

    campaign_id: int
    page: MessagePage


@dataclass(frozen=True)
class CampaignRead:
    """A campaign's read has ended: `complete` when every row up to the reported total (or up to
    an empty page) was read; otherwise `failure` says why (the rows read are still loaded)."""

    campaign_id: int
    read_at: datetime
    pages: int
    rows: int
    complete: bool
    failure: Optional[str] = None


MessageEvent = Union[PageRead, CampaignRead]


@dataclass(frozen=True)
class _Chunk:
    campaign_id: int
    offset: int
    end: Optional[int]  # None: the first page, or paging without a total


@dataclass
class _Progress:
    """One campaign's read in flight (touched by the consuming thread only)."""

    read_at: Optional[datetime] = None
    outstanding: int = 0
    pages: int = 0
    rows: int = 0
    failure: Optional[str] = None


@dataclass(frozen=True)
class _Fetched:
    chunk: _Chunk
    page: Optional[MessagePage] = None
    served: int = 0
    total: Optional[int] = None
    server_time: Optional[datetime] = None
    failure: Optional[str] = None
    refused: bool = False  # the failure is the server answering about this campaign (a 4xx)


@dataclass
class MessageReader:
    client: BsgClient
    policy: RecipientPolicy = field(repr=False)
    tz: tzinfo
    concurrency: int
    page_size: int
    keep_text: bool = False
    max_consecutive_failures: int = 0

    def __post_init__(self) -> None:
        # A failure streak this long means the API is down (as for details).
        self.max_consecutive_failures = self.max_consecutive_failures or max(20, 2 * self.concurrency)

    def read_many(self, campaign_ids: Iterable[int]) -> Iterator[MessageEvent]:
        """Every message page of every campaign, then its CampaignRead; at most 2 x concurrency
        pages in flight or waiting (memory stays flat in the size of a campaign)."""
        done: "queue.SimpleQueue[Future[_Fetched]]" = queue.SimpleQueue()
        in_flight: Set["Future[_Fetched]"] = set()
        progress: Dict[int, _Progress] = {}
        waiting: List[_Chunk] = []  # chunks known but not yet submitted (bounded by campaigns' pages)
        ids = iter(dict.fromkeys(campaign_ids))
        limit = 2 * self.concurrency
        streak = 0
        with _switch_interval(READ_SWITCH_INTERVAL_S), \
                ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="bsg-messages") as pool:

            def submit(chunk: _Chunk) -> None:
                future = pool.submit(self._fetch, chunk)
                in_flight.add(future)  # this thread only; the callback only queues
                future.add_done_callback(done.put)

            try:
                exhausted = False
                while True:
                    while len(in_flight) < limit and (waiting or not exhausted):
                        if waiting:
                            submit(waiting.pop())
                            continue
                        campaign_id = next(ids, None)
                        if campaign_id is None:
                            exhausted = True
                            break
                        progress[campaign_id] = _Progress(outstanding=1)
                        submit(_Chunk(campaign_id, 0, None))
                    if not in_flight:
                        return
                    finished = done.get()
                    in_flight.discard(finished)
                    fetched = finished.result()
                    # an answer about the campaign (a 4xx) shows the API is up, as for details
                    streak = streak + 1 if fetched.failure and not fetched.refused else 0
                    if streak >= self.max_consecutive_failures:
                        raise ApiUnavailable(f"{streak} message pages in a row could not be fetched; "
                                             f"last error: {fetched.failure}")
                    yield from self._take(fetched, progress, waiting)
            finally:
                for future in in_flight:
                    future.cancel()

    def _take(self, fetched: _Fetched, progress: Dict[int, _Progress], waiting: List[_Chunk]) -> Iterator[MessageEvent]:
        chunk = fetched.chunk
        state = progress[chunk.campaign_id]
        state.outstanding -= 1
        if state.read_at is None and fetched.server_time is not None and chunk.offset == 0:
            state.read_at = fetched.server_time
        if fetched.page is not None:  # even a failed one: its rejection is kept
            state.pages += 1
            state.rows += fetched.served
            yield PageRead(chunk.campaign_id, fetched.page)
        if fetched.failure is not None:
            if state.failure is None:  # the read is incomplete: its chunks not sent yet are not
                kept = [c for c in waiting if c.campaign_id != chunk.campaign_id]
                state.outstanding -= len(waiting) - len(kept)
                waiting[:] = kept
            state.failure = state.failure or fetched.failure
        elif state.failure is None:
            follow_ups, short = self._follow_ups(fetched)
            state.failure = short  # served less than it reported: not complete
            for follow_up in follow_ups:
                state.outstanding += 1
                waiting.append(follow_up)
        if state.outstanding == 0:
            del progress[chunk.campaign_id]
            read_at = state.read_at or fetched.server_time or datetime.now(timezone.utc)
            yield CampaignRead(chunk.campaign_id, read_at, state.pages, state.rows, state.failure is None,
                               state.failure)

    def _follow_ups(self, fetched: _Fetched) -> Tuple[List[_Chunk], Optional[str]]:
        """The chunks a served page leaves to read, and why the read ends short (an empty page
        before the reported total), if it does."""
        chunk, served = fetched.chunk, fetched.served
        start = chunk.offset + served
        if chunk.end is None:
            if fetched.total is None:  # page on, one page at a time, until an empty page
                return ([_Chunk(chunk.campaign_id, start, None)] if served else []), None
            if not served:
                return [], self._short(chunk.campaign_id, start, fetched.total)
            # the first page: the rest in chunks as long as what the server served
            step = served
            return [_Chunk(chunk.campaign_id, offset, min(offset + step, fetched.total))
                    for offset in range(start, fetched.total, step)][::-1], None  # popped from the end: in order
        if start < chunk.end and served:
            return [_Chunk(chunk.campaign_id, start, chunk.end)], None
        return [], self._short(chunk.campaign_id, start, chunk.end) if start < chunk.end else None

    @staticmethod
    def _short(campaign_id: int, offset: int, end: int) -> Optional[str]:
        if offset >= end:
            return None
        logger.warning("messages of campaign %d stopped early at offset %d of %d", campaign_id, offset, end)
        return f"an empty page at offset {offset} of {end}"

    def _fetch(self, chunk: _Chunk) -> _Fetched:
        wanted = self.page_size if chunk.end is None else chunk.end - chunk.offset
        params = {"filter[campaign_id]": chunk.campaign_id, "sort": "id", "way": "asc",
                  "page[offset]": chunk.offset, "page[limit]": max(wanted, SERVER_MIN_LIMIT)}
        try:
            response = self.client.get(MESSAGES_PATH, params=params)
        except AuthError:
            raise
        except ClientError as exc:  # about this campaign (e.g. a 422): its read is incomplete, retried later
            return _Fetched(chunk, failure=f"HTTP {exc.status} at offset {chunk.offset}", refused=True)
        except ApiError as exc:
            return _Fetched(chunk, failure=f"{exc} (offset {chunk.offset})")
        page = parse_message_page(response.raw or response.text, fetched_at=response.server_time,
                                  policy=self.policy, tz=self.tz, campaign_id=chunk.campaign_id,
                                  keep_text=self.keep_text)
        served = len(page)
        if page.meta == {} and not page.messages and page.rejections:
            # not a page at all (one rejection for the body): the read cannot go on
            return _Fetched(chunk, page=page, failure=f"unreadable page at offset {chunk.offset}",
                            server_time=response.server_time)
        if served > wanted:  # more than asked would overlap the next chunk: read twice, counted twice
            page = page.head(wanted)
            served = wanted
        return _Fetched(chunk, page=page, served=served, total=_total(page.meta),
                        server_time=response.server_time)


class _SwitchInterval:
    """The longer switch interval while at least one read is under way (reads may overlap, in
    threads of one process): the first to start sets it, the last to end restores what was there,
    unless someone else changed it in between."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0
        self._before = 0.0
        self._ours = 0.0

    @contextmanager
    def __call__(self, seconds: float) -> Iterator[None]:
        with self._lock:
            if self._readers == 0:
                self._before = sys.getswitchinterval()
                sys.setswitchinterval(max(self._before, seconds))
                self._ours = sys.getswitchinterval()  # as the interpreter stores it (whole microseconds)
            self._readers += 1
        try:
            yield
        finally:
            with self._lock:
                self._readers -= 1
                if self._readers == 0 and sys.getswitchinterval() == self._ours:
                    sys.setswitchinterval(self._before)


_switch_interval = _SwitchInterval()


def _total(meta: Dict[str, object]) -> Optional[int]:
    block = meta.get("page")
    total = block.get("total") if isinstance(block, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None
