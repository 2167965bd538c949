"""Target 2, the load path: parsed records -> committed DuckDB tables, no network.

    python -m benchmarks.load_path PARAMS_JSON RESULT_PATH      (params: mode, n, workdir, batch_size)

mode "connector": the connector's own path. Records go in `DetailBatch`es of `batch_size` through
the connector's transformers (`campaigns`, `campaign_statistics`, `campaign_statistics_history`,
`rejected_records`: the same arrow builders, hints, merge/append dispositions) in a dlt source,
into a pipeline made by `runner.make_pipeline`. Timed from the first batch to the committed load,
split into arrow conversion, dlt extract (rest), normalize and load (with its merge SQL jobs).

mode "floor": the same three tables as arrow (built beforehand, untimed) inserted with plain
`duckdb` (`CREATE TABLE ... AS SELECT * FROM arrow`), committed. Also times building those
arrow tables from the records in one go, for reference.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

from benchmarks.common import child_main, self_peak_rss_mb


_DEPTH = threading.local()


def _timed(fn: Any, bucket: Dict[str, float], key: str) -> Any:
    """Accumulate the time of outermost calls only (a builder may call another)."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_DEPTH, "n", 0)
        _DEPTH.n = depth + 1
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _DEPTH.n = depth
            if depth == 0:
                bucket[key] = bucket.get(key, 0.0) + time.perf_counter() - started
    return wrapper


def _time_arrow_builders(bucket: Dict[str, float]) -> None:
    """Wrap the records -> arrow builders wherever the transformers look them up (the batches
    module, and the source module's namespace if it imported them by name)."""
    import bsg_campaigns
    from bsg_campaigns.contract import batches

    for name in ("campaigns_table", "statistics_table", "history_table", "rejected_table"):
        original = getattr(batches, name, None)
        if original is None:
            continue
        wrapped = _timed(original, bucket, name)
        setattr(batches, name, wrapped)
        if getattr(bsg_campaigns, name, None) is original:
            setattr(bsg_campaigns, name, wrapped)


def records_source(records: List[Any], batch_size: int = 2000) -> Any:
    """The connector's table resources fed with `DetailBatch`es of already parsed records."""
    import bsg_campaigns
    from bsg_campaigns.contract.batches import DetailBatch

    def details() -> Iterator[Any]:
        for start in range(0, len(records), batch_size):
            yield DetailBatch(records=records[start:start + batch_size])

    return _batch_source("bsg_load_bench", details, (
        bsg_campaigns.campaigns, bsg_campaigns.campaign_statistics, bsg_campaigns.campaign_statistics_history,
        bsg_campaigns.rejected_records))


def _batch_source(name: str, batches: Any, transformers: Any) -> Any:
    """A dlt source: `batches` (a generator function) as an unselected parent resource, piped into
    each of the connector's `transformers`."""
    import dlt

    details = dlt.resource(batches, name="campaign_details", selected=False)

    @dlt.source(name=name, max_table_nesting=0)
    def source() -> Any:
        return (details, *(details | transformer for transformer in transformers))

    return source()


def connector(p: Dict[str, Any], records: List[Any]) -> Dict[str, Any]:
    arrow: Dict[str, float] = {}
    _time_arrow_builders(arrow)
    return _timed_load(p, "bsg_load_bench", records_source(records, int(p.get("batch_size", 2000))), arrow,
                       ("campaigns", "campaign_statistics", "campaign_statistics_history"))


def _timed_load(p: Dict[str, Any], pipeline_name: str, source: Any, arrow: Dict[str, float],
                tables: Any) -> Dict[str, Any]:
    """`source` into a pipeline made by `runner.make_pipeline`, timed from the first batch to the
    committed load and split by step; `arrow`: the builders' time, filled during the run. DuckDB
    loads with the settings the runner's load step gives it (load.steps.duckdb_load_settings: the
    `duckdb_load_memory_limit` cap, param `memory_limit`, default the setting's; parallel inserts)."""
    from bsg_campaigns import settings as defaults
    from bsg_campaigns.app.runner import make_pipeline
    from bsg_campaigns.load.publish import working_copy
    from bsg_campaigns.load.steps import duckdb_load_settings

    workdir = Path(p["workdir"])
    # a first load, as the floor's is: nothing of an earlier run in the same workdir to merge onto
    shutil.rmtree(workdir / "pipelines", ignore_errors=True)
    shutil.rmtree(working_copy(workdir / "load.duckdb").parent, ignore_errors=True)
    pipeline = make_pipeline(pipelines_dir=str(workdir / "pipelines"), duckdb_path=str(workdir / "load.duckdb"),
                             pipeline_name=pipeline_name)
    started = time.perf_counter()
    with duckdb_load_settings(pipeline, p.get("memory_limit", defaults.DEFAULT_DUCKDB_LOAD_MEMORY_LIMIT)):
        info = pipeline.run(source)
    wall = time.perf_counter() - started
    phases = {step.step: round((step.finished_at - step.started_at).total_seconds(), 3)
              for step in pipeline.last_trace.steps if step.finished_at}
    jobs = _load_jobs(info)
    arrow_s = sum(arrow.values())
    with pipeline.sql_client() as client:
        counts = {t: client.execute_sql(f"select count(*) from {t}")[0][0] for t in tables}
    return {"wall_s": wall, "rows": counts,
            "breakdown_s": {"arrow_conversion": round(arrow_s, 3),
                            "dlt_extract_excl_arrow": round(phases.get("extract", 0) - arrow_s, 3),
                            "normalize": phases.get("normalize"), "load": phases.get("load"),
                            "load_copy_jobs": jobs["copy"], "load_merge_sql": jobs["sql"],
                            "other": round(wall - sum(phases.get(k, 0) for k in ("extract", "normalize", "load")), 3)},
            "arrow_by_table_s": {k: round(v, 3) for k, v in arrow.items()},
            "load_jobs": jobs["by_table"]}


def _load_jobs(info: Any) -> Dict[str, Any]:
    """Sum the load step's job durations by kind: file copies vs the merge SQL follow-up jobs."""
    copy = sql = 0.0
    by_table: Dict[str, float] = {}
    for metrics in (info.metrics or {}).values():
        for step in metrics:
            for job in (step.get("job_metrics") or {}).values():
                if not job.started_at or not job.finished_at:
                    continue
                took = (job.finished_at - job.started_at).total_seconds()
                key = f"{job.table_name} ({job.job_id.rsplit('.', 1)[-1]})"
                by_table[key] = round(by_table.get(key, 0.0) + took, 3)
                if str(job.job_id).endswith(".sql"):
                    sql += took
                else:
                    copy += took
    return {"copy": round(copy, 3), "sql": round(sql, 3), "by_table": by_table}


def floor(p: Dict[str, Any], records: List[Any]) -> Dict[str, Any]:
    from bsg_campaigns.contract.batches import campaigns_table, history_table, statistics_table

    started = time.perf_counter()
    tables = {"campaigns": campaigns_table(records), "campaign_statistics": statistics_table(records),
              "campaign_statistics_history": history_table(records)}
    arrow_s = time.perf_counter() - started
    result = _insert_floor(Path(p["workdir"]) / "floor.duckdb", tables)
    return {**result, "arrow_from_records_s": round(arrow_s, 3)}


MESSAGE_BATCH = 50_000  # messages per MessageBatch: source.MESSAGE_BATCH_ROWS, what a run hands to dlt


PAGE_ROWS = 500  # a parsed page: what the reader hands to the source


def message_source(records: List[Any], batch_size: int = MESSAGE_BATCH) -> Any:
    """The connector's message table resources (`messages`, `message_fallbacks`, `message_reads`,
    `rejected_records`: the same arrow builders, hints, merge keys) fed with `MessageBatch`es of
    already parsed pages (MessageColumns of 500 messages, built here untimed: the parser's output)
    extended into batches as source._read_messages does, one `message_reads` row per campaign in
    the batch that ends it."""
    import bsg_campaigns.source as source_module
    from bsg_campaigns.contract.batches import MessageBatch
    from bsg_campaigns.contract.message_pages import MessageColumns

    pages = [MessageColumns.of(records[start:start + PAGE_ROWS]) for start in range(0, len(records), PAGE_ROWS)]

    def details() -> Iterator[Any]:
        batch = MessageBatch()
        for page in pages:
            batch.add(page)
            if len(batch) >= batch_size:
                yield _with_reads(batch)
                batch = MessageBatch()
        if len(batch):
            yield _with_reads(batch)

    return _batch_source("bsg_message_load_bench", details, (
        source_module.messages, source_module.message_fallbacks, source_module.message_reads,
        source_module.rejected_records))


def _with_reads(batch: Any) -> Any:
    table = batch.messages()
    batch.reads = [{"campaign_id": cid, "read_at": table["fetched_at"][0].as_py(), "messages": 0, "rejected": 0,
                    "pages": 0, "complete": True, "matches_statistics": None}
                   for cid in sorted(set(table["campaign_id"].to_pylist()))]
    return batch


def messages_connector(p: Dict[str, Any], records: List[Any]) -> Dict[str, Any]:
    import bsg_campaigns.source as source_module
    from bsg_campaigns.contract import batches

    arrow: Dict[str, float] = {}
    for name in ("messages_table", "message_fallbacks_table", "message_reads_table", "rejected_table"):
        wrapped = _timed(getattr(batches, name), arrow, name)
        setattr(batches, name, wrapped)
        setattr(source_module, name, wrapped)  # the transformers look them up in source's namespace
    return _timed_load(p, "bsg_message_load_bench", message_source(records, int(p.get("batch_size", MESSAGE_BATCH))),
                       arrow, ("messages", "message_fallbacks"))


def messages_floor(p: Dict[str, Any], records: List[Any]) -> Dict[str, Any]:
    """The same two tables as arrow (built beforehand, untimed), inserted with plain duckdb."""
    from bsg_campaigns.contract.batches import message_fallbacks_table, messages_table
    from bsg_campaigns.contract.message_pages import MessageColumns

    started = time.perf_counter()
    columns = MessageColumns.of(records)
    tables = {"messages": messages_table(columns), "message_fallbacks": message_fallbacks_table(columns)}
    arrow_s = time.perf_counter() - started
    result = _insert_floor(Path(p["workdir"]) / "floor.duckdb", tables)
    return {**result, "arrow_from_records_s": round(arrow_s, 3)}


def _insert_floor(path: Path, tables: Dict[str, Any]) -> Dict[str, Any]:
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA bsg_campaigns")
    for name, table in tables.items():
        con.register("arrow_input", table)
        con.execute(f"CREATE TABLE bsg_campaigns.{name} AS SELECT * FROM arrow_input")
        con.unregister("arrow_input")
    con.close()  # checkpoint: committed and on disk
    return {"wall_s": time.perf_counter() - started, "rows": {k: v.num_rows for k, v in tables.items()}}


def main(p: Dict[str, Any]) -> Dict[str, Any]:
    from benchmarks import experiments
    from benchmarks.datagen import make_message_records, make_records

    experiments.apply(p.get("experiment"))

    started = time.perf_counter()
    messages = p["mode"].startswith("messages_")
    records = make_message_records(int(p["n"])) if messages else make_records(int(p["n"]))
    # pyarrow's first conversion from Python objects imports pandas (~0.25 s here): paid before the
    # timer in every mode, as the floor pays it in its untimed arrow build and a run pays it in
    # batches.warm_up while its first pages are on the network.
    import pyarrow

    pyarrow.array([0])
    setup = time.perf_counter() - started
    rss_records = self_peak_rss_mb()
    result = {"connector": connector, "floor": floor, "messages_connector": messages_connector,
              "messages_floor": messages_floor}[p["mode"]](p, records)
    result.update({"setup_records_s": round(setup, 2), ("messages" if messages else "campaigns"): len(records),
                   "rss_with_records_mb": round(rss_records, 1)})
    return result


if __name__ == "__main__":
    child_main(main)
