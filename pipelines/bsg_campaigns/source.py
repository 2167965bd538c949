"""The dlt source: discover campaigns, fetch their details, keep the incremental state, and hand
the parsed batches to the four tables (the package's `__init__` is the table of contents)."""


from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union, cast

import dlt
from dlt.sources import DltResource

from bsg_campaigns import settings as defaults
from bsg_campaigns.contract import tables
from bsg_campaigns.contract.batches import (DetailBatch, MessageBatch, campaigns_table, history_table,
                                            message_reads_table, rejected_table, warm_up)
from bsg_campaigns.api.client import BsgClient, RetryPolicy
from bsg_campaigns.config import SourceSettings, as_keyword_arguments, parse_date_setting
from bsg_campaigns.exceptions import ConfigError
from bsg_campaigns.extract.discovery import creation_windows, list_many
from bsg_campaigns.extract.fetch import DetailFetcher, FetchResult
from bsg_campaigns.extract.messages import CampaignRead, MessageReader, PageRead
from bsg_campaigns.load.steps import active_pipeline, check_duckdb_catalog, for_destination
from bsg_campaigns.report import RunReport
from bsg_campaigns.incremental.messages import (PlannedRead, ReadOutcome, Tally, apply_reads,
                                                init_messages_state, plan_for, planned_rereads)
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
                                     tables.CAMPAIGN_STATISTICS_HISTORY, tables.REJECTED_RECORDS, tables.MESSAGES,
                                     tables.MESSAGE_FALLBACKS, tables.MESSAGE_READS))
    _JSON_TEXT = tuple(f"In resource: {table}, when merging arrow schema" for table in (tables.CAMPAIGNS, tables.MESSAGES))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith(self._JSON_TEXT) or message.startswith(self._CONVERTED))


logging.getLogger("dlt").addFilter(_ExpectedDltWarnings())

Batch = Union[DetailBatch, MessageBatch]
logger = logging.getLogger("bsg_campaigns.source")

# How far past the server's "now" the last listing window reaches (campaigns created while we
# list; the server accepts up to 30 days ahead).
LIST_END_MARGIN = timedelta(days=1)
# Messages per chunk handed to dlt, as arrow (contract/batches.py, MessageBatch). dlt's extract
# costs ~4 ms a chunk per table: 20,000 rather than 5,000 took the load path of 1 M parsed
# messages from 7.3 to 5.7 s (50,000: 5.5 s).
MESSAGE_BATCH_ROWS = 50_000
# Rejections stay Python objects with their raw payloads (up to ~1 KB each) until their table is
# built: a chunk is handed on after this many, however few messages it holds.
MESSAGE_BATCH_REJECTIONS = 5_000


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
        # the listing and the detail fetcher (or the message reader) each keep `concurrency` in flight
        pool_size=2 * settings.concurrency + 2,
    )
    details = campaign_details(client, settings, report if report is not None else RunReport(),
                               [int(i) for i in campaign_ids or []], backfill)
    return (
        details,
        details | campaigns,
        details | campaign_statistics,
        details | campaign_statistics_history,
        details | rejected_records,
        details | messages,
        details | message_fallbacks,
        details | message_reads,
    )


@dlt.resource(name="campaign_details", selected=False)
def campaign_details(
    client: BsgClient,
    settings: SourceSettings,
    report: RunReport,
    campaign_ids: List[int],
    backfill: Optional[Tuple[Optional[datetime], Optional[datetime]]],
) -> Iterator[Union[DetailBatch, MessageBatch]]:
    """Discover, fetch, batch; then (the `messages` setting) read the messages of the campaigns
    whose counts moved; fold the outcome into the dlt state after the last batch."""
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
    message_state = init_messages_state(state) if settings.messages else None
    recipients = settings.recipient_policy(message_state.get("key_fingerprint")) if message_state is not None else None
    reads: List[PlannedRead] = []

    batch, batches = DetailBatch(), 0
    for result in fetcher.fetch_many(_plan(state, settings, policy, client, now, outcome, report,
                                           campaign_ids, backfill)):
        _record(result, outcome, batch, report, lambda i, o: affects_state(state, i, o, policy, now))
        if message_state is not None and result.record is not None:
            planned = plan_for(message_state, result.record)
            if planned is not None:
                reads.append(planned)
        if report.progress_due():
            report.http = client.stats.as_dict()
            report.progress()
        if len(batch) >= settings.batch_size:
            yield _counted(batch, report)
            batch, batches = DetailBatch(), batches + 1
    if len(batch) or not batches:  # at least one batch, even empty: every table exists after run 1
        yield _counted(batch, report)

    outcomes: List[ReadOutcome] = []
    if message_state is not None and recipients is not None:
        fetched = {planned.campaign_id for planned in reads}
        reads += planned_rereads(message_state, fetched | set(outcome.gone))
        reader = MessageReader(client, recipients, settings.tz, settings.concurrency, settings.message_page_size,
                               keep_text=settings.store_message_text)
        yield from _read_messages(reader, reads, outcomes, MESSAGE_BATCH_ROWS, report)
        if recipients.mode == "hash":
            message_state["key_fingerprint"] = recipients.scheme.rsplit(":", 1)[-1]
    else:
        yield MessageBatch()  # the message tables exist (empty) whether or not messages are read

    changes = apply_outcome(state, outcome, policy, now)
    if message_state is not None:
        for campaign_id in outcome.gone:
            message_state["reread"].pop(str(campaign_id), None)
        message_changes = apply_reads(message_state, outcomes, state["open"].keys() | state["retry"].keys(),
                                      max_rereads=settings.message_mismatch_rereads, now=now)
        report.messages.update(matched=message_changes.matched, disagreed=len(message_changes.disagreed),
                               incomplete=len(message_changes.incomplete), to_reread=message_changes.to_reread,
                               given_up=len(message_changes.given_up))
        if message_changes.given_up:
            logger.warning("messages of %d settled campaigns still disagree with their statistics after %d "
                           "re-reads; not read again (the check messages_match_statistics reports them): %s",
                           len(message_changes.given_up), settings.message_mismatch_rereads,
                           ", ".join(map(str, message_changes.given_up[:10])))
    report.settled, report.still_open = len(changes.settled), changes.still_open
    report.given_up, report.cursors = len(changes.given_up), changes.cursors
    report.new_extra_fields = _new_extra_fields(state, outcome)
    report.http = client.stats.as_dict()
    state["last_run"] = {"server_now": report.server_now, "mode": report.mode, "fetched": report.fetched,
                         "new": report.new, "refreshed": report.refreshed, "rejected": report.rejected,
                         "settled": report.settled, "gone": report.gone, "failed": report.failed,
                         "listed": report.listed_total, "requests": report.http.get("requests", 0)}
    if report.messages:
        state["last_run"]["messages"] = dict(report.messages)
    report.progress(force=True)


def _read_messages(reader: MessageReader, reads: List[PlannedRead], outcomes: List[ReadOutcome], batch_rows: int,
                   report: RunReport, batch_rejections: int = MESSAGE_BATCH_REJECTIONS) -> Iterator[MessageBatch]:
    """Every planned campaign's messages, in batches of about `batch_rows` (or fewer once a batch
    holds `batch_rejections` rejections); each read's outcome (complete? the counts) appended to
    `outcomes`."""
    planned = {read.campaign_id: read for read in reads}
    tallies = {campaign_id: Tally(read.primary_channel) for campaign_id, read in planned.items()}
    loaded: Dict[int, List[int]] = {}  # campaign -> [records, rejections]
    requests_before = reader.client.stats.as_dict().get("requests", 0)
    report.messages.update(campaigns=0, pages=0, rows=0, rejected=0, requests=0)
    batch, batches = MessageBatch(), 0
    for event in reader.read_many(planned):
        if isinstance(event, PageRead):
            page = event.page
            tallies[event.campaign_id].add(page.messages)
            counts = loaded.setdefault(event.campaign_id, [0, 0])
            counts[0] += len(page.messages)
            counts[1] += len(page.rejections)
            batch.add(page.messages)
            batch.rejections.extend(page.rejections)
            report.messages["pages"] += 1
            report.messages["rows"] += len(page.messages)
            report.messages["rejected"] += len(page.rejections)  # report.rejected counts campaigns
        else:
            outcomes.append(_finished(event, planned[event.campaign_id], tallies.pop(event.campaign_id),
                                      loaded.pop(event.campaign_id, [0, 0]), batch))
            report.messages["campaigns"] += 1
        if len(batch) >= batch_rows or len(batch.rejections) >= batch_rejections:
            yield _counted_messages(batch, report)
            batch, batches = MessageBatch(), batches + 1
    if len(batch) or batch.reads or not batches:
        yield _counted_messages(batch, report)
    report.messages["requests"] = reader.client.stats.as_dict().get("requests", 0) - requests_before


def _finished(read: CampaignRead, planned: PlannedRead, tally: Tally, loaded: List[int],
              batch: MessageBatch) -> ReadOutcome:
    outcome = ReadOutcome(planned, read.complete, tally.counts)
    if read.failure:
        logger.warning("messages of campaign %d not read in full (read again next run): %s", read.campaign_id,
                       read.failure)
    batch.reads.append({"campaign_id": read.campaign_id, "read_at": read.read_at, "messages": loaded[0],
                        "rejected": loaded[1], "pages": read.pages, "complete": read.complete,
                        "matches_statistics": outcome.matches if read.complete else None})
    return outcome


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
    jobs = []
    for campaign_type in _resolved(settings.types):
        if backfill is None:
            start, end = listing_start(state, campaign_type, first_start, policy), now + LIST_END_MARGIN
        else:
            start, end = backfill[0] or first_start, backfill[1] or now + LIST_END_MARGIN
        outcome.listed.setdefault(campaign_type, {})
        jobs += [(campaign_type, window)
                 for window in creation_windows(start, end, settings.list_window_months, settings.tz)]
    # every type's windows at once: a first run from 2020 lists 56 mostly empty windows
    for campaign_type, item in list_many(client, jobs, page_size=settings.page_size, tz=settings.tz,
                                         concurrency=settings.concurrency):
        listed = outcome.listed[campaign_type]
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


def _counted_messages(batch: MessageBatch, report: RunReport) -> MessageBatch:
    report.add_rows(tables.MESSAGES, batch.rows)
    report.add_rows(tables.MESSAGE_FALLBACKS, batch.fallback_rows)
    report.add_rows(tables.MESSAGE_READS, len(batch.reads))
    report.add_rows(tables.REJECTED_RECORDS, len(batch.rejections))
    return batch


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
def campaigns(batch: Batch) -> Iterator[Any]:
    """One row per campaign, merged on campaign_id (the latest fetch wins)."""
    if isinstance(batch, DetailBatch):
        yield for_destination(campaigns_table(batch.records))


# dlt 1.31 annotates transformer()'s write_disposition as the bare name, though it passes it on
# to resource(), which takes (and documents) the merge-strategy dict (the mismatch leaves the
# decorated function untyped).
@dlt.transformer(name=tables.CAMPAIGN_STATISTICS,  # type: ignore[call-overload, untyped-decorator]
                 write_disposition={"disposition": "merge", "strategy": "delete-insert"},
                 merge_key="campaign_id",
                 columns=tables.STATISTICS_COLUMNS)
def campaign_statistics(batch: Batch) -> Iterator[Any]:
    """Current counts; merge_key=campaign_id deletes a campaign's old rows before inserting the
    new ones, so a status that disappeared does not linger. No primary_key on purpose: a run
    fetches each campaign once, and with it dlt adds an OR-join and a dedup window over the
    whole staging table (measured: 2.6x the merge time and +200 MB at 1.6M rows). The
    `unique_statistics_key` check guards the key."""
    if isinstance(batch, DetailBatch):
        yield for_destination(batch.statistics())


@dlt.transformer(name=tables.CAMPAIGN_STATISTICS_HISTORY, write_disposition="append",
                 columns=tables.HISTORY_COLUMNS)
def campaign_statistics_history(batch: Batch) -> Iterator[Any]:
    """Every fetch's counts with fetched_at: the growth of delivered/read after sending."""
    if isinstance(batch, DetailBatch):
        yield for_destination(history_table(batch.records, batch.statistics()))


@dlt.transformer(name=tables.REJECTED_RECORDS, write_disposition="append", columns=tables.REJECTED_COLUMNS)
def rejected_records(batch: Batch) -> Iterator[Any]:
    """Payloads that could not be parsed (details and messages), with the raw text (a phone number
    in it replaced per recipient_mode) and a specific reason."""
    yield for_destination(rejected_table(batch.rejections))


# The message tables, merged on the message id: a re-read updates every row it reads (statuses,
# prices, delivery times) and never filters rows against a cursor. merge_key, not primary_key:
# dlt's delete-insert deletes the rows of the staged ids and inserts the staged rows; with a
# primary_key it also runs a ROW_NUMBER() dedup window over the whole staging table, which does not
# fit the load's 128 MB DuckDB cap from ~200,000 messages (measured: 5 failed attempts, then an
# uncapped load at 2 GB RSS for 2.1 M messages). A read's pages never overlap, so ids are unique
# within a run; the check unique_message_id guards it. message_fallbacks on message_id too: a
# re-read message's links are replaced whole while it has any (one that lost every link keeps
# its old rows: it has none in the new batch to delete by; not seen from the API).
def _message_table(name: str, key: Tuple[str, ...], columns: Any, build: Callable[[MessageBatch], Any],
                   doc: str) -> Any:
    # dlt's transformer() annotation takes the bare disposition name (see campaign_statistics)
    @dlt.transformer(name=name, write_disposition={"disposition": "merge",  # type: ignore[call-overload, untyped-decorator, unused-ignore]
                                                   "strategy": "delete-insert"},
                     merge_key=list(key), columns=columns)
    def message_table(batch: Batch) -> Iterator[Any]:
        if isinstance(batch, MessageBatch):
            yield for_destination(build(batch))

    message_table.__doc__ = doc
    return message_table


messages = _message_table(tables.MESSAGES, tables.MESSAGES_KEY, tables.MESSAGES_COLUMNS,
                          lambda batch: batch.messages(),
                          "One row per message (GET /api/messages), the recipient as recipient_mode makes it.")
message_fallbacks = _message_table(tables.MESSAGE_FALLBACKS, tables.MESSAGES_KEY,
                                   tables.MESSAGE_FALLBACKS_COLUMNS, lambda batch: batch.fallbacks(),
                                   "A message -> the fallback message(s) it was re-sent as (an RCS message's SMS).")
message_reads = _message_table(tables.MESSAGE_READS, tables.MESSAGE_READS_KEY, tables.MESSAGE_READS_COLUMNS,
                               lambda batch: message_reads_table(batch.reads),
                               "The latest read of each campaign's messages: complete? matched its statistics?")
