"""Prototypes of suggested connector changes, applied by monkeypatching inside a benchmark child
only, to measure what each would move before anyone edits `pipelines/`. Never used for the
reported connector numbers (those run the connector as shipped).

    experiment names (combine with "+"): gc_freeze, gc_off, gc_threshold, arrow_once, drain_queue,
    list_prefetch, stats_merge_key_only, messages_merge_key_only, duck_mem256, duck_no_order, duck_threads1
"""

from __future__ import annotations

import gc
import queue
from typing import Any, Dict, Iterator, List, Optional


def apply(spec: Optional[str]) -> List[str]:
    if not spec:
        return []
    names = spec.split("+")
    for name in names:
        PATCHES[name]()
    return names


def _gc_freeze() -> None:
    """Everything imported so far goes to the permanent generation: full collections during the
    run only walk objects created by the run."""
    import bsg_campaigns  # noqa: F401
    import bsg_campaigns.analyst.models  # noqa: F401
    import dlt  # noqa: F401
    import pandas  # noqa: F401  (pyarrow pulls it in during the run otherwise)
    import pyarrow  # noqa: F401

    gc.collect()
    gc.freeze()


def _gc_off() -> None:
    gc.disable()


def _gc_threshold() -> None:
    _gc_freeze()
    gc.set_threshold(50_000, 20, 100)


def _arrow_once() -> None:
    """statistics and history tables built once per batch, column-wise (zip/numpy), the
    fetched_at epoch computed once per record instead of once per row."""
    import numpy as np
    import pyarrow as pa

    import bsg_campaigns
    from bsg_campaigns.contract import batches
    from bsg_campaigns.contract.tables import HISTORY_SCHEMA, STATISTICS_SCHEMA

    if not hasattr(bsg_campaigns, "statistics_table"):
        print("experiment arrow_once: the connector already builds statistics once per batch; skipped")
        return
    cache: Dict[int, Any] = {}

    def _lengths(records: List[Any]) -> Any:
        return np.fromiter((len(r.statistics) for r in records), np.int64, len(records))

    def statistics_table(records: List[Any]) -> pa.Table:
        key = id(records)
        hit = cache.get(key)
        if hit is not None and hit[0] is records:
            return hit[1]
        lengths = _lengths(records)
        rows = [s for r in records for s in r.statistics]
        if rows:
            channel, is_fallback, status, count = zip(*rows)
        else:
            channel = is_fallback = status = count = ()
        ids = np.repeat(np.fromiter((r.campaign_id for r in records), np.int64, len(records)), lengths)
        table = pa.Table.from_arrays([pa.array(ids, pa.int64()), pa.array(channel, pa.string()),
                                      pa.array(is_fallback, pa.bool_()), pa.array(status, pa.string()),
                                      pa.array(count, pa.int64())], schema=STATISTICS_SCHEMA)
        cache.clear()
        cache[key] = (records, table, lengths)
        return table

    def history_table(records: List[Any]) -> pa.Table:
        table = statistics_table(records)
        lengths = cache[id(records)][2]
        micros = np.repeat(np.fromiter((batches._epoch_micros(r.fetched_at) for r in records), np.int64,
                                       len(records)), lengths)
        field = HISTORY_SCHEMA.field("fetched_at")
        return table.append_column(field, pa.array(micros, pa.int64()).cast(field.type))

    bsg_campaigns.source.statistics_table = statistics_table
    bsg_campaigns.source.history_table = history_table


def _drain_queue() -> None:
    """Adopted: DetailFetcher.fetch_many now takes completed futures from a queue
    (add_done_callback) instead of scanning every in-flight future. Kept as a no-op so earlier
    A/B names still run."""


def _list_prefetch() -> None:
    """Discovery (list pages) runs in a background thread feeding a bounded queue of ids, so
    the detail pool never idles while the main thread waits for the next list page (a 500-item
    page takes ~85 ms on the simulator, cold, vs ~25 ms for a detail)."""
    import threading

    import bsg_campaigns

    original = bsg_campaigns.source._plan
    done = object()

    class _Failed:
        def __init__(self, exc: BaseException) -> None:
            self.exc = exc

    def _plan(*args: Any, **kwargs: Any) -> Iterator[int]:
        ids: "queue.Queue[Any]" = queue.Queue(maxsize=5000)
        stop = threading.Event()

        def produce() -> None:
            try:
                for campaign_id in original(*args, **kwargs):
                    while not stop.is_set():
                        try:
                            ids.put(campaign_id, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                ids.put(done)
            except BaseException as exc:  # handed to the consumer, raised there
                ids.put(_Failed(exc))

        thread = threading.Thread(target=produce, name="bsg-list", daemon=True)
        thread.start()
        try:
            while True:
                item = ids.get()
                if item is done:
                    break
                if isinstance(item, _Failed):
                    raise item.exc
                yield item
        finally:
            stop.set()
            thread.join()

    bsg_campaigns.source._plan = _plan


def _duck(config: Dict[str, Any]) -> Any:
    def patch() -> None:
        """Every DuckDB connection dlt opens gets these settings (as `global_config` would)."""
        import duckdb

        original = duckdb.connect

        def connect(*args: Any, **kwargs: Any) -> Any:
            merged = dict(kwargs.pop("config", None) or {})
            merged.update(config)
            return original(*args, config=merged, **kwargs)

        duckdb.connect = connect
    return patch


def _stats_merge_key_only() -> None:
    """campaign_statistics keeps merge_key=campaign_id but loses primary_key: dlt's delete-insert
    then deletes on campaign_id alone (no `pk OR merge_key` join) and skips the ROW_NUMBER()
    dedup window over the whole staging table (ids are already unique within a run)."""
    import bsg_campaigns

    bsg_campaigns.campaign_statistics.apply_hints(primary_key=[])


def _messages_merge_key_only() -> None:
    """messages and message_fallbacks merged on merge_key=message_id without a primary_key: dlt's
    delete-insert then deletes a re-read message's rows and inserts the staged ones without the
    ROW_NUMBER() dedup window over the whole staging table, which does not fit the load's 128 MB
    DuckDB cap from ~200,000 messages (the merge job fails 5 times, then loads without the cap).
    Needs ids unique within a run: the reader's chunks never overlap."""
    from bsg_campaigns import source

    source.messages.apply_hints(primary_key=[], merge_key="message_id")
    source.message_fallbacks.apply_hints(primary_key=[], merge_key="message_id")


def _message_batch(rows: int) -> Any:
    def patch() -> None:
        """Messages handed to dlt in batches of `rows` (source.MESSAGE_BATCH_ROWS, 25,000 shipped)."""
        from bsg_campaigns import source

        source.MESSAGE_BATCH_ROWS = rows  # type: ignore[misc]
    return patch


PATCHES = {"gc_freeze": _gc_freeze, "gc_off": _gc_off, "gc_threshold": _gc_threshold,
           "arrow_once": _arrow_once, "drain_queue": _drain_queue, "list_prefetch": _list_prefetch, "stats_merge_key_only": _stats_merge_key_only,
           "messages_merge_key_only": _messages_merge_key_only,
           "message_batch_5k": _message_batch(5_000),
           "duck_mem256": _duck({"memory_limit": "256MB"}),
           "duck_no_order": _duck({"preserve_insertion_order": False}),
           "duck_threads1": _duck({"threads": 1})}
