"""Campaign details, fetched concurrently with a bounded number in flight, each turned into a
record, a rejection, a 'gone' (deleted/unknown id) or a 'failed' (retries exhausted)."""

from __future__ import annotations

import json
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import tzinfo
from typing import Iterable, Iterator, Optional, Set

from .client import ApiError, AuthError, BsgClient
from .records import CampaignRecord, Rejection, parse_detail

DETAIL_PATH = "/api/campaigns/{id}/detail"
GONE_MESSAGES = ("invalid campaign id", "not found")


class ApiUnavailable(Exception):
    """Too many consecutive campaigns could not be fetched: treat it as an outage, stop the run."""


@dataclass(frozen=True)
class FetchResult:
    campaign_id: int
    record: Optional[CampaignRecord] = None
    rejection: Optional[Rejection] = None
    gone_reason: Optional[str] = None
    failure: Optional[str] = None


class DetailFetcher:
    def __init__(self, client: BsgClient, *, tz: tzinfo, concurrency: int,
                 max_consecutive_failures: int = 0) -> None:
        self.client = client
        self.tz = tz
        self.concurrency = concurrency
        # A failure streak this long means the API is down, not that a few campaigns are broken.
        self.max_consecutive_failures = max_consecutive_failures or max(20, 2 * concurrency)

    def fetch_one(self, campaign_id: int) -> FetchResult:
        try:
            response = self.client.get(DETAIL_PATH.format(id=campaign_id), ok_statuses=frozenset({200, 404, 422}))
        except AuthError:
            raise
        except ApiError as exc:
            return FetchResult(campaign_id, failure=str(exc))
        if response.status in (404, 422):
            message = _message(response.text)
            if response.status == 404 or message.lower() in GONE_MESSAGES:
                return FetchResult(campaign_id, gone_reason=f"HTTP {response.status}: {message}")
            return FetchResult(campaign_id, failure=f"HTTP {response.status}: {message}")
        # The bytes as received: the parser rejects a body that is not valid UTF-8 instead of
        # loading U+FFFD in place of what the API sent.
        parsed = parse_detail(response.raw or response.text, fetched_at=response.server_time, tz=self.tz,
                              expected_id=campaign_id)
        if isinstance(parsed, Rejection):
            return FetchResult(campaign_id, rejection=parsed)
        return FetchResult(campaign_id, record=parsed)

    def fetch_many(self, campaign_ids: Iterable[int]) -> Iterator[FetchResult]:
        """Results in completion order; ids may be a lazy iterator (listing streams into fetching)."""
        seen: Set[int] = set()
        streak = 0
        in_flight: Set[Future] = set()
        limit = self.concurrency * 2
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="bsg-detail") as pool:
            try:
                for campaign_id in campaign_ids:
                    if campaign_id in seen:
                        continue
                    seen.add(campaign_id)
                    in_flight.add(pool.submit(self.fetch_one, campaign_id))
                    while len(in_flight) >= limit:
                        for result in self._drain(in_flight, block=True):
                            streak = self._check_streak(streak, result)
                            yield result
                    for result in self._drain(in_flight, block=False):
                        streak = self._check_streak(streak, result)
                        yield result
                while in_flight:
                    for result in self._drain(in_flight, block=True):
                        streak = self._check_streak(streak, result)
                        yield result
            finally:
                for future in in_flight:
                    future.cancel()

    def _check_streak(self, streak: int, result: FetchResult) -> int:
        streak = streak + 1 if result.failure else 0
        if streak >= self.max_consecutive_failures:
            raise ApiUnavailable(f"{streak} campaign details in a row could not be fetched; "
                                 f"last error: {result.failure}")
        return streak

    @staticmethod
    def _drain(in_flight: Set[Future], block: bool) -> Iterator[FetchResult]:
        if block:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        else:
            done = {f for f in in_flight if f.done()}
        for future in done:
            in_flight.discard(future)
            yield future.result()


def _message(text: str) -> str:
    try:
        body = json.loads(text)
        return str(body.get("message", "")) if isinstance(body, dict) else ""
    except ValueError:
        return ""
