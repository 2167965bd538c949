"""Campaign details, fetched concurrently with a bounded number in flight, each turned into a
record, a rejection, a 'gone' (deleted/unknown id), a 'refused' (another client error about this
id) or a 'failed' (retries exhausted, no answer).

Only failures count toward the outage breaker. A 4xx other than 401/429 is the server answering
about one id: the vendor documents no error bodies, so anything but "Invalid campaign id" (422)
or 404 is reported and retried on later runs, never taken for an outage."""

from __future__ import annotations

import json
import queue
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import tzinfo
from typing import Iterable, Iterator, Optional, Set, Tuple

from bsg_campaigns.api.client import BsgClient
from bsg_campaigns.api.exceptions import ApiError, AuthError, ClientError
from bsg_campaigns.contract.campaigns import CampaignRecord, parse_detail
from bsg_campaigns.contract.parsing import Rejection
from bsg_campaigns.api.exceptions import ApiUnavailable

DETAIL_PATH = "/api/campaigns/{id}/detail"
GONE_MESSAGES = ("invalid campaign id", "not found")


@dataclass(frozen=True)
class FetchResult:
    campaign_id: int
    record: Optional[CampaignRecord] = None
    rejection: Optional[Rejection] = None
    gone_reason: Optional[str] = None
    refusal: Optional[str] = None  # "HTTP 403: <the server's message>"
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
            response = self.client.get(DETAIL_PATH.format(id=campaign_id))
        except ClientError as exc:  # before AuthError: a 403 on one detail is about that id
            message = _message(exc.body)
            reason = f"HTTP {exc.status}: {message or 'no message'}"
            if exc.status == 404 or (exc.status == 422 and message.lower() in GONE_MESSAGES):
                return FetchResult(campaign_id, gone_reason=reason)
            return FetchResult(campaign_id, refusal=reason)
        except AuthError:
            raise
        except ApiError as exc:
            return FetchResult(campaign_id, failure=str(exc))
        # The bytes as received: the parser rejects a body that is not valid UTF-8 instead of
        # loading U+FFFD in place of what the API sent.
        parsed = parse_detail(response.raw or response.text, fetched_at=response.server_time, tz=self.tz,
                              expected_id=campaign_id)
        if isinstance(parsed, Rejection):
            return FetchResult(campaign_id, rejection=parsed)
        return FetchResult(campaign_id, record=parsed)

    def fetch_many(self, campaign_ids: Iterable[int]) -> Iterator[FetchResult]:
        """Results in completion order; ids may be a lazy iterator (listing streams into fetching).
        Completed futures arrive through a queue (no scanning of every in-flight future)."""
        seen: Set[int] = set()
        streak = 0
        done: "queue.SimpleQueue[Future[FetchResult]]" = queue.SimpleQueue()
        in_flight: Set[Future[FetchResult]] = set()
        limit = self.concurrency * 2
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="bsg-detail") as pool:
            try:
                for campaign_id in campaign_ids:
                    if campaign_id in seen:
                        continue
                    seen.add(campaign_id)
                    future = pool.submit(self.fetch_one, campaign_id)
                    in_flight.add(future)
                    future.add_done_callback(done.put)
                    while len(in_flight) >= limit or not done.empty():
                        streak, result = self._take(done, in_flight, streak)
                        yield result
                while in_flight:
                    streak, result = self._take(done, in_flight, streak)
                    yield result
            finally:
                for future in in_flight:
                    future.cancel()

    def _take(self, done: "queue.SimpleQueue[Future[FetchResult]]", in_flight: Set[Future[FetchResult]],
              streak: int) -> Tuple[int, FetchResult]:
        finished = done.get()
        in_flight.discard(finished)
        result = finished.result()
        return self._check_streak(streak, result), result

    def _check_streak(self, streak: int, result: FetchResult) -> int:
        streak = streak + 1 if result.failure else 0  # any answer about an id, refusals too, shows the API is up
        if streak >= self.max_consecutive_failures:
            raise ApiUnavailable(f"{streak} campaign details in a row could not be fetched; "
                                 f"last error: {result.failure}")
        return streak


def _message(text: str) -> str:
    try:
        body = json.loads(text)
        return str(body.get("message", "")) if isinstance(body, dict) else ""
    except ValueError:
        return ""
