"""The dlt source: discover campaigns, fetch their details, keep the incremental state, and hand
the parsed batches to the four tables (the package's `__init__` is the table of contents)."""


from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, cast

import dlt
from dlt.sources import DltResource

from bsg_campaigns import settings as defaults
from bsg_campaigns.contract import tables
from bsg_campaigns.contract.batches import DetailBatch, campaigns_table, history_table, rejected_table, warm_up
from bsg_campaigns.api.client import BsgClient, RetryPolicy
from bsg_campaigns.config import SourceSettings, as_keyword_arguments, parse_date_setting
from bsg_campaigns.exceptions import ConfigError
from bsg_campaigns.extract.discovery import creation_windows, list_campaigns
from bsg_campaigns.extract.fetch import DetailFetcher, FetchResult
from bsg_campaigns.load.steps import active_pipeline, check_duckdb_catalog, for_destination
from bsg_campaigns.report import RunReport
from bsg_campaigns.incremental.state import (Observed, RefreshPolicy, RunOutcome, SourceState, affects_state, already_known,
                                             apply_outcome, ids_to_refresh, init_state, listing_start)



class _ExpectedDltWarnings(logging.Filter):
    """Two dlt warnings describe choices made here on purpose, on every run; drop exactly those.
    `extra_fields` is arrow text loaded as a JSON column (dlt warns about that hint difference on
    every batch), and on PostgreSQL the tables are written as INSERT statements from arrow
    (dlt warns that the conversion is slower: it is the fastest correct path, measured in
    load.steps.loader_file_format)."""

    _CONVERTED = tuple(f"For data items in `{table}` yielded as arrow and job file format insert_values "
                       for table in (tables.CAMPAIGNS, tables.CAMPAIGN_STATISTICS,
                                     tables.CAMPAIGN_STATISTICS_HISTORY, tables.REJECTED_RECORDS))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith(f"In resource: {tables.CAMPAIGNS}, when merging arrow schema")
                    or message.startswith(self._CONVERTED))


logging.getLogger("dlt").addFilter(_ExpectedDltWarnings())

# How far past the server's "now" the last listing window reaches (campaigns created while we
# list; the server accepts up to 30 days ahead).
LIST_END_MARGIN = timedelta(days=1)


@dlt.source(name=defaults.SOURCE_NAME, section=defaults.SOURCE_NAME, max_table_nesting=0, spec=SourceSettings)
@as_keyword_arguments(SourceSettings)
def bsg_source(
    # dlt injects the resolved spec into the parameter annotated with it: never None here
    settings: SourceSettings = None,  # type: ignore[assignment]
    *,
    campaign_ids: Optional[List[int]] = None,
    backfill_start: Optional[str] = None,
    backfill_end: Optional[str] = None,
    report: Optional[Any] = None,
    **_settings_as_arguments: Any,
) -> Sequence[DltResource]:
    """BSG campaign details, incrementally.

    Settings (`config.SourceSettings`: api_key, base_url, concurrency, ...) are keyword
    arguments or come from `[sources.bsg]` / `SOURCES__BSG__*`; a resolved `SourceSettings`
    may be passed instead. The rest choose what this run does and never come from
    configuration: `campaign_ids` fetches exactly those campaigns; `backfill_start`/
    `backfill_end` re-list a creation-date range without moving the normal cursor; `report`
    (a RunReport) receives counts and progress for the CLI.
    """
    api_key = settings.require_api_key()
    backfill = None
    if backfill_start or backfill_end:
        try:
            backfill = (parse_date_setting("backfill_start", backfill_start, settings.tz),
                        parse_date_setting("backfill_end", backfill_end, settings.tz))
        except ConfigError as exc:  # an argument, not a setting: the fix is in the caller's code
            raise ConfigError(exc.setting, exc.problem, fix=f"Pass `{exc.setting}` to bsg_source() as yyyy-mm-dd "
                              "(the CLI: --start-date/--end-date).") from None
    client = BsgClient(
        settings.base_url, api_key,
        retry=RetryPolicy(max_attempts=settings.max_attempts,
                          backoff_seconds=settings.retry_backoff_seconds,
                          max_retry_after_seconds=settings.max_retry_after_seconds,
                          timeout_seconds=settings.request_timeout_seconds),
        max_requests_per_second=settings.max_requests_per_second or None,
        pool_size=settings.concurrency + 2,
    )
    details = campaign_details(client, settings, report if report is not None else RunReport(),
                               [int(i) for i in campaign_ids or []], backfill)
    return (
        details,
        details | campaigns,
        details | campaign_statistics,
        details | campaign_statistics_history,
        details | rejected_records,
    )


@dlt.resource(name="campaign_details", selected=False)
def campaign_details(
    client: BsgClient,
    settings: SourceSettings,
    report: RunReport,
    campaign_ids: List[int],
    backfill: Optional[Tuple[Optional[datetime], Optional[datetime]]],
) -> Iterator[DetailBatch]:
    """Discover, fetch, batch; fold the outcome into the dlt state after the last batch."""
    check_duckdb_catalog(active_pipeline())
    state = init_state(dlt.current.source_state())
    warm_up()
    now = client.login().server_time
    report.server_now = now.isoformat()
    policy = RefreshPolicy(settings.refresh_window, _resolved(settings.final_statuses),
                           timedelta(minutes=settings.cursor_overlap_minutes))
    outcome = RunOutcome(move_cursor=not campaign_ids and backfill is None)
    report.mode = "by id" if campaign_ids else "backfill" if backfill else "incremental"
    fetcher = DetailFetcher(client, tz=settings.tz, concurrency=settings.concurrency)

    batch, batches = DetailBatch(), 0
    for result in fetcher.fetch_many(_plan(state, settings, policy, client, now, outcome, report,
                                           campaign_ids, backfill)):
        _record(result, outcome, batch, report, lambda i, o: affects_state(state, i, o, policy, now))
        if report.progress_due():
            report.http = client.stats.as_dict()
            report.progress()
        if len(batch) >= settings.batch_size:
            yield _counted(batch, report)
            batch, batches = DetailBatch(), batches + 1
    if len(batch) or not batches:  # at least one batch, even empty: every table exists after run 1
        yield _counted(batch, report)

    changes = apply_outcome(state, outcome, policy, now)
    report.settled, report.still_open = len(changes.settled), changes.still_open
    report.given_up, report.cursors = len(changes.given_up), changes.cursors
    report.new_extra_fields = _new_extra_fields(state, outcome)
    report.http = client.stats.as_dict()
    state["last_run"] = {"server_now": report.server_now, "mode": report.mode, "fetched": report.fetched,
                         "new": report.new, "refreshed": report.refreshed, "rejected": report.rejected,
                         "settled": report.settled, "gone": report.gone, "failed": report.failed,
                         "listed": report.listed_total, "requests": report.http.get("requests", 0)}
    report.progress(force=True)


def _plan(state: SourceState, settings: SourceSettings, policy: RefreshPolicy, client: BsgClient, now: datetime,
          outcome: RunOutcome, report: RunReport, campaign_ids: List[int],
          backfill: Optional[Tuple[Optional[datetime], Optional[datetime]]]) -> Iterator[int]:
    """The ids to fetch, lazily: open campaigns first, then what the listing discovers."""
    if campaign_ids:
        outcome.explicit.update(campaign_ids)
        yield from campaign_ids
        return
    if backfill is None:
        refresh = ids_to_refresh(state)
        outcome.refreshed.update(refresh)
        report.to_refresh = len(refresh)
        yield from refresh
    first_start = settings.first_run_start or now - timedelta(days=defaults.DEFAULT_START_DAYS_BACK)
    for campaign_type in _resolved(settings.types):
        if backfill is None:
            start, end = listing_start(state, campaign_type, first_start, policy), now + LIST_END_MARGIN
        else:
            start, end = backfill[0] or first_start, backfill[1] or now + LIST_END_MARGIN
        listed = outcome.listed.setdefault(campaign_type, {})
        for window in creation_windows(start, end, settings.list_window_months, settings.tz):
            for item in list_campaigns(client, campaign_type, window, page_size=settings.page_size,
                                       tz=settings.tz):
                listed[item.campaign_id] = item.created_at
                report.listed[campaign_type] = len(listed)
                if backfill is not None:
                    outcome.backfilled.add(item.campaign_id)
                    yield item.campaign_id
                elif not already_known(state, campaign_type, item.campaign_id):
                    outcome.new.add(item.campaign_id)
                    yield item.campaign_id


def _record(result: FetchResult, outcome: RunOutcome, batch: DetailBatch, report: RunReport,
            affects_state: Callable[[int, Observed], bool]) -> None:
    campaign_id = result.campaign_id
    if result.record is not None:
        observed = Observed.of(result.record)
        if affects_state(campaign_id, observed):
            outcome.observed[campaign_id] = observed
        else:  # the latest observation wins, as when every one was kept
            outcome.observed.pop(campaign_id, None)
        outcome.extra_field_names.update(result.record.extra_fields)
        batch.records.append(result.record)
        report.fetched += 1
    elif result.rejection is not None:
        outcome.rejected[campaign_id] = result.rejection.reason
        batch.rejections.append(result.rejection)
        report.fetched += 1
        report.rejected += 1
    elif result.gone_reason is not None:
        outcome.gone[campaign_id] = result.gone_reason
        report.gone += 1
        report.gone_ids.append(campaign_id)
    elif result.refusal is not None:  # retried on later runs until the refresh window passes
        outcome.failed[campaign_id] = result.refusal
        report.failed += 1
        report.refused.setdefault(result.refusal, []).append(campaign_id)
    else:
        outcome.failed[campaign_id] = result.failure or "unknown failure"
        report.failed += 1
    if result.record is not None or result.rejection is not None:
        if campaign_id in outcome.new:
            report.new += 1
        elif campaign_id in outcome.refreshed:
            report.refreshed += 1
        elif campaign_id in outcome.explicit:
            report.explicit += 1
        elif campaign_id in outcome.backfilled:
            report.backfilled += 1


def _resolved(names: Optional[List[str]]) -> List[str]:
    """A list setting of resolved settings: Optional only as an input (None = the default),
    which on_resolved has replaced."""
    return cast(List[str], names)


def _counted(batch: DetailBatch, report: RunReport) -> DetailBatch:
    statistics_rows = sum(len(r.statistics) for r in batch.records)
    report.add_rows(tables.CAMPAIGNS, len(batch.records))
    report.add_rows(tables.CAMPAIGN_STATISTICS, statistics_rows)
    report.add_rows(tables.CAMPAIGN_STATISTICS_HISTORY, statistics_rows)
    report.add_rows(tables.REJECTED_RECORDS, len(batch.rejections))
    return batch


def _new_extra_fields(state: SourceState, outcome: RunOutcome) -> List[str]:
    seen = set(state.setdefault("seen_extra_fields", []))
    found = outcome.extra_field_names
    new = sorted(found - seen)
    if new:
        state["seen_extra_fields"] = sorted(seen | found)
    return new


# Every table resource yields its typed arrow table even when it is empty, so all four tables
# exist with their declared types from the first run on (dashboards on rejected_records must
# not fail until something is rejected). dlt creates a table from an empty arrow table (its
# ArrowExtractor counts it as a table with items, dlt/extract/extractors.py `_write_item`);
# `dlt.mark.materialize_table_schema()` would take the JSON path instead and add NOT NULL
# `_dlt_id`/`_dlt_load_id` columns that arrow rows never fill (measured: the next rejection
# fails the load with "NOT NULL constraint failed: rejected_records._dlt_load_id"). Empty
# tables of one run share one buffered file per table: no extra load jobs.


@dlt.transformer(name=tables.CAMPAIGNS, write_disposition="merge", primary_key="campaign_id",
                 columns=tables.CAMPAIGNS_COLUMNS)
def campaigns(batch: DetailBatch) -> Iterator[Any]:
    """One row per campaign, merged on campaign_id (the latest fetch wins)."""
    yield for_destination(campaigns_table(batch.records))


# dlt 1.31 annotates transformer()'s write_disposition as the bare name, though it passes it on
# to resource(), which takes (and documents) the merge-strategy dict (the mismatch leaves the
# decorated function untyped).
@dlt.transformer(name=tables.CAMPAIGN_STATISTICS,  # type: ignore[call-overload, untyped-decorator]
                 write_disposition={"disposition": "merge", "strategy": "delete-insert"},
                 merge_key="campaign_id",
                 columns=tables.STATISTICS_COLUMNS)
def campaign_statistics(batch: DetailBatch) -> Iterator[Any]:
    """Current counts; merge_key=campaign_id deletes a campaign's old rows before inserting the
    new ones, so a status that disappeared does not linger. No primary_key on purpose: a run
    fetches each campaign once, and with it dlt adds an OR-join and a dedup window over the
    whole staging table (measured: 2.6x the merge time and +200 MB at 1.6M rows). The
    `unique_statistics_key` check guards the key."""
    yield for_destination(batch.statistics())


@dlt.transformer(name=tables.CAMPAIGN_STATISTICS_HISTORY, write_disposition="append",
                 columns=tables.HISTORY_COLUMNS)
def campaign_statistics_history(batch: DetailBatch) -> Iterator[Any]:
    """Every fetch's counts with fetched_at: the growth of delivered/read after sending."""
    yield for_destination(history_table(batch.records, batch.statistics()))


@dlt.transformer(name=tables.REJECTED_RECORDS, write_disposition="append", columns=tables.REJECTED_COLUMNS)
def rejected_records(batch: DetailBatch) -> Iterator[Any]:
    """Payloads that could not be parsed, with the raw text and a specific reason."""
    yield for_destination(rejected_table(batch.rejections))
