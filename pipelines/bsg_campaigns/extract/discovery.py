"""Which campaigns exist: the list endpoint, per type, in creation-date windows, paged by what
the server reports in `meta.page` (it may serve fewer rows than asked; without `total`, until
an empty page)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Iterator, List, Optional, Tuple

from bsg_campaigns.api.client import BsgClient
from bsg_campaigns.api.exceptions import ApiError
from bsg_campaigns.contract.parsing import parse_timestamp
from bsg_campaigns.contract.exceptions import RecordError

logger = logging.getLogger("bsg_campaigns.extract.discovery")

LIST_PATH = "/api/campaigns"
FILTER_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class ListedCampaign:
    campaign_id: int
    type: str
    created_at: Optional[datetime]  # UTC; None when the list item's value is unreadable


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months, clamping the day (Jan 31 + 1 month = Feb 28/29)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    for day in range(moment.day, 27, -1):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month, day=min(moment.day, 28))


def creation_windows(start: datetime, end: datetime, months: int,
                     tz: tzinfo = timezone.utc) -> List[Tuple[datetime, datetime]]:
    """Consecutive [from, to] windows covering start..end, each at most `months` long on the
    API's wall clock (the server measures in its own time zone, so a DST change must not stretch
    a window past its limit). Bounds are inclusive to the second, so windows never overlap."""
    windows = []
    end = end.astimezone(tz)
    cursor = start.astimezone(tz).replace(microsecond=0)
    while cursor <= end:
        upper = min(add_months(cursor, months) - timedelta(seconds=1), end)
        windows.append((cursor, upper))
        cursor = upper + timedelta(seconds=1)
    return windows


def format_filter_time(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime(FILTER_FORMAT)


def list_campaigns(
    client: BsgClient,
    campaign_type: str,
    window: Tuple[datetime, datetime],
    *,
    page_size: int,
    tz: tzinfo,
) -> Iterator[ListedCampaign]:
    """Every campaign of one type created inside `window`, following `meta.page`. A page without
    `meta.page.total` cannot say whether it is the last (a short page is not: the server may serve
    fewer than asked), so then the listing goes on until a page is empty."""
    offset, last_id = 0, None
    base = {
        "filter[type]": campaign_type,  # omitted, the server assumes sms
        "filter[from]": format_filter_time(window[0], tz),
        "filter[to]": format_filter_time(window[1], tz),
        "sort": "id",
        "way": "asc",
        "page[limit]": page_size,
    }
    while True:
        body = client.get(LIST_PATH, params={**base, "page[offset]": offset}).json()
        items, total = _page(body)
        page = [_listed(item, campaign_type, tz) for item in items]
        if total is None and page and last_id is not None and page[0].campaign_id <= last_id:
            # sorted by id: a page that does not move past the previous one means the offset is ignored
            raise ApiError(f"list for {campaign_type} answered page[offset]={offset} with campaigns already listed "
                           "and without meta.page.total: the server does not page, so the listing cannot end")
        yield from page
        offset += len(page)  # step by what was served, never by what was asked
        if not page or (total is not None and offset >= total):
            if not page and total is not None and offset < total:
                logger.warning("list for %s stopped early: server reported %d campaigns, served %d",
                               campaign_type, total, offset)
            return
        last_id = page[-1].campaign_id


def _page(body: object) -> Tuple[List[object], Optional[int]]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ApiError("list endpoint answered without a 'data' list")
    page = (body.get("meta") or {}).get("page") or {}
    total = page.get("total") if isinstance(page, dict) else None
    return body["data"], total if isinstance(total, int) else None


def _listed(item: object, campaign_type: str, tz: tzinfo) -> ListedCampaign:
    if not isinstance(item, dict) or isinstance(item.get("id"), bool):
        raise ApiError(f"list item without a usable id: {str(item)[:100]}")
    try:
        campaign_id = int(item["id"])
    except (KeyError, TypeError, ValueError):
        raise ApiError(f"list item without a usable id: {str(item)[:100]}") from None
    try:
        created_at = parse_timestamp(item.get("created_at"), "created_at", tz)
    except RecordError:
        created_at = None
    listed_type = item.get("type") or item.get("message_type") or campaign_type
    return ListedCampaign(campaign_id, str(listed_type), created_at)
