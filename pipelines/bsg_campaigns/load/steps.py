"""How a run's rows reach the destination: dlt's extract, normalize and load steps, the loader
file format per destination, DuckDB's memory while loading, and finishing a load that a killed
run left behind without loading any of its rows twice. Raises dlt's PipelineStepFailed (the
runner turns it into a message) and our own errors."""

from __future__ import annotations

import logging
import os
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import dlt
from dlt.common.destination import TLoaderFileFormat
from dlt.common.pipeline import LoadInfo
from dlt.common.storages.load_package import ParsedLoadJobFileName
from dlt.pipeline.exceptions import PipelineStepFailed

from bsg_campaigns import settings as defaults
from bsg_campaigns.contract import tables
from bsg_campaigns.exceptions import ConfigError, RunFailed
from bsg_campaigns.report import RunReport

logger = logging.getLogger(__name__)


def extract_and_load(pipeline: dlt.Pipeline, source: Any, report: RunReport, memory_limit: str) -> LoadInfo:
    """What `pipeline.run(source)` does, step by step, so that DuckDB's memory cap covers the load
    step only: a connection held open during a long extract would lock every other process (an
    analyst's notebook, a BI tool) out of the DuckDB file for the whole run."""
    # No data and (the runner finished them first) no pending packages: this only restores the
    # state and schema from the destination when they are newer there (a fresh machine), once
    # per pipeline object, as run() would before extracting. With packages pending it would load
    # them without settling their committed jobs (finish_interrupted_load), some rows twice.
    if pipeline.has_pending_data:
        raise RunFailed(f"Pipeline {pipeline.pipeline_name!r} has data of an interrupted run pending; it must be "
                        "loaded (finish_interrupted_load) before a new extract. Nothing of this run was extracted; "
                        "the next run loads the pending data first.")
    pipeline.run()
    adopt_legacy_state(pipeline)
    with _timed(report, "extract"):
        pipeline.extract(source)  # the resources declare their file format (for_destination)
    with _timed(report, "normalize"):
        pipeline.normalize()
        release_freed_memory()
    with _timed(report, "load"):
        return load(pipeline, memory_limit)


def adopt_legacy_state(pipeline: dlt.Pipeline) -> bool:
    """Until 0.1 the project's pipeline was called `bsg_campaigns` (the name of the dataset,
    which made dlt's default DuckDB file ambiguous); dlt keys the state at the destination by
    pipeline name. A pipeline under the new default name that finds no state of its own (local
    or at the destination) takes the old pipeline's committed source state from the same
    dataset, so an upgrade goes on incrementally instead of re-reading `start_date` onwards. Only
    the committed copy is taken: whatever the old name left pending locally is re-read, once."""
    source_state = legacy_source_state(pipeline)
    if not source_state:
        return False
    with pipeline.managed_state() as state:
        state.setdefault("sources", {})[defaults.SOURCE_NAME] = source_state
    logger.warning("adopted the incremental state of pipeline %r (the name before 0.2)", defaults.LEGACY_PIPELINE_NAME)
    return True


def legacy_source_state(pipeline: dlt.Pipeline) -> Optional[Dict[str, Any]]:
    """The source state the old pipeline name committed in this pipeline's dataset, when this
    pipeline (under the new default name) has none of its own: what the next run adopts
    (adopt_legacy_state) and `status` shows until then. Only reads the destination."""
    if (pipeline.pipeline_name != defaults.PIPELINE_NAME
            or pipeline.state.get("sources", {}).get(defaults.SOURCE_NAME)):
        return None
    from dlt.common.destination.client import WithStateSync
    from dlt.pipeline.state_sync import load_pipeline_state_from_destination

    try:
        with pipeline.destination_client() as client:
            if not isinstance(client, WithStateSync):
                return None
            legacy = load_pipeline_state_from_destination(defaults.LEGACY_PIPELINE_NAME, client)
    except Exception as exc:  # noqa: BLE001 - no dataset or no state table yet: a first run
        logger.debug("no state of pipeline %r to adopt: %s", defaults.LEGACY_PIPELINE_NAME, exc)
        return None
    return (legacy or {}).get("sources", {}).get(defaults.SOURCE_NAME) or None


@contextmanager
def _timed(report: RunReport, step: str) -> Iterator[None]:
    started = time.time()
    try:
        yield
    finally:
        report.steps[step] = (started, time.time())


def load(pipeline: dlt.Pipeline, memory_limit: str) -> LoadInfo:
    """dlt's load step under the memory cap. Should DuckDB run out of it (an unusually large run
    on a big table: 300,000 campaigns merged into 300,000 fit in 128 MB, not in 64 MB), the load
    is tried once more without the cap (dlt first retries such a job up to
    `load.raise_on_max_retries` times, 5 by default, under the cap). Best effort: seen once to
    fail on a transaction conflict left by dlt's retries; then the run stops with a message that
    names the setting, and the pending data is loaded first by the next run. Into a local DuckDB file the jobs run one at a time: DuckDB writes
    them one by one anyway, and each parallel job holds its own parquet read buffers outside
    the cap (-13 MB at 100,000 campaigns, no slower)."""
    workers = 1 if _duckdb_database(pipeline) is not None else 20  # 20: dlt's default
    if memory_limit and _rows_to_load(pipeline) > MAX_ROWS_UNDER_CAP:
        logger.info("a large load (more than %s rows): DuckDB's own memory limit applies", MAX_ROWS_UNDER_CAP)
        memory_limit = ""
    try:
        with duckdb_load_settings(pipeline, memory_limit):
            return pipeline.load(workers=workers)
    except PipelineStepFailed as exc:
        if not memory_limit or not out_of_memory(exc):
            raise
    logger.warning("DuckDB needed more memory than duckdb_load_memory_limit = %s to load this run; "
                   "finishing the load without the cap (raise the setting to avoid this)", memory_limit)
    return pipeline.load(workers=workers)


# The cap is for the everyday run. A merge's memory grows with the rows it merges: 300,000
# campaigns (9.9 M rows over the tables) merged into as many fit in 128 MB, 1,000,000 do not - and
# once DuckDB runs out inside a merge, dlt's retries meet that transaction's leftovers
# ("Conflict on tuple deletion") and the load cannot finish in this process. So a package with
# more rows to load than this (~150,000 campaigns: a big backfill) is loaded under DuckDB's own
# limit, as before the cap existed.
MAX_ROWS_UNDER_CAP = 5_000_000


def _rows_to_load(pipeline: dlt.Pipeline) -> int:
    """Rows in the parquet jobs of the packages about to be loaded (from the files' footers)."""
    import pyarrow.parquet as pq

    rows = 0
    for load_id in pipeline.list_normalized_load_packages():
        for state, jobs in pipeline.get_load_package_info(load_id).jobs.items():
            if state in ("new_jobs", "started_jobs"):
                rows += sum(pq.read_metadata(job.file_path).num_rows for job in jobs
                            if job.job_file_info.file_format == "parquet")
    return rows


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: dlt's `.exception`, else the cause, else the context."""
    seen = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = getattr(current, "exception", None) or current.__cause__ or current.__context__


def out_of_memory(exc: BaseException) -> bool:
    return any(type(cause).__name__ == "OutOfMemoryException" or "Out of Memory Error" in str(cause)
               for cause in causes(exc))


def release_freed_memory() -> None:
    """Hand back to the OS what pyarrow's allocator kept from the extract (it keeps freed blocks
    for reuse), so that the load and the models do not run on top of the extract's peak."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def load_memory_limit(settings: Any = None) -> str:
    """[sources.bsg] duckdb_load_memory_limit as the source's settings resolve and validate it
    ("" = DuckDB's own default)."""
    from bsg_campaigns.config import resolve_settings

    return (settings if settings is not None else resolve_settings()).duckdb_load_memory_limit


@contextmanager
def duckdb_load_settings(pipeline: dlt.Pipeline, limit: str) -> Iterator[None]:
    """DuckDB's settings while dlt loads a local DuckDB file:
    - `memory_limit = limit` (unless ""): left alone, DuckDB (up to 80% of RAM) keeps every row
      the run loaded in memory until the load ends: +250 MB for 100,000 campaigns. Loading streams
      from files and spills what it must, so the cap costs little time.
    - `preserve_insertion_order = false`: dlt's copy jobs are `INSERT ... SELECT * FROM
      read_parquet(...)`, which DuckDB spreads over its threads only when it need not keep the
      file's row order (measured, 1 M messages on 2 cores: 1.35 -> 0.77 s); rows in a table have
      no order, and the load's merges pick no row by position.
    DuckDB keeps one database instance per file within a process, so settings made on our
    connection hold for the connections dlt opens to load; they are reset after, so the models
    and any later query get DuckDB's defaults back."""
    database = _duckdb_database(pipeline)
    if database is None:
        yield
        return
    import duckdb

    settings = {"preserve_insertion_order": "false", **({"memory_limit": f"'{limit}'"} if limit else {})}
    try:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        connection = duckdb.connect(database)  # exactly dlt's path: DuckDB shares instances by path
        for name, value in settings.items():  # the limit is validated by config.SourceSettings
            connection.execute(f"SET {name} = {value}")
    except (duckdb.Error, OSError) as exc:  # e.g. another process has the file open: dlt says so
        logger.warning("could not set DuckDB's load settings (%s); loading with its defaults", exc)
        yield
        return
    try:
        yield
    finally:
        try:
            for name in settings:
                connection.execute(f"RESET {name}")
            connection.close()
        except duckdb.Error as exc:  # never hide the load's own outcome behind this
            logger.debug("could not reset DuckDB's load settings: %s", exc)


def _duckdb_database(pipeline: dlt.Pipeline) -> Optional[str]:
    """The local DuckDB file's path exactly as dlt opens it, if the pipeline writes one (not
    resolved: DuckDB keys its per-process instance cache on the path as given, and a symlink
    would make a second instance)."""
    if pipeline.destination is None or pipeline.destination.destination_type != "dlt.destinations.duckdb":
        return None
    try:
        database = getattr(pipeline.destination_client().config.credentials, "database", None)
    except Exception:  # noqa: BLE001 - unresolved credentials: dlt reports them when loading
        return None
    if not isinstance(database, str) or database == ":memory:" or database.startswith("md:"):
        return None
    return database


def check_duckdb_catalog(pipeline: Optional[dlt.Pipeline]) -> None:
    """DuckDB names a file's catalog after the file (dlt's default file is `<pipeline
    name>.duckdb`); when that catalog has the dataset's name, DuckDB 1.5 and 2.0 reject every
    `dataset.table` that dlt writes as ambiguous, and the failed load stays pending for every later
    run. Stop before extracting anything, with the fix."""
    if pipeline is None:
        return
    database = _duckdb_database(pipeline)
    if database is None or Path(database).stem.casefold() != str(pipeline.dataset_name).casefold():
        return
    raise ConfigError("credentials", (
        f"The DuckDB file {database!r} gives DuckDB a catalog {Path(database).stem!r}, the name of the dataset "
        f"{pipeline.dataset_name!r}, and DuckDB then rejects every table name of the load as ambiguous. Use "
        "another file name (DuckDB names the catalog after it; dlt's default is <pipeline name>.duckdb, so "
        f"dlt.pipeline(\"{defaults.PIPELINE_NAME}\", destination=\"duckdb\", dataset_name=\"{defaults.DATASET_NAME}\") "
        f"writes {defaults.DEFAULT_DUCKDB_FILE}) or another dataset name (dataset_name=, --dataset). Nothing was "
        "extracted."), section="destination.duckdb")


def duckdb_file(pipeline: dlt.Pipeline) -> Optional[Path]:
    """The local DuckDB file this pipeline writes, resolved (for locks), if it writes one."""
    database = _duckdb_database(pipeline)
    return None if database is None else Path(database).resolve()


def loader_file_format(pipeline: Optional[dlt.Pipeline]) -> Optional[TLoaderFileFormat]:
    """The file format our arrow tables must be loaded in on this pipeline's destination; None =
    dlt's own choice. PostgreSQL is the exception: dlt 1.31 writes arrow tables there as CSV and
    loads them with `COPY ... NULL '', FORCE_NULL(<every nullable column>)`, which turns every
    empty string into NULL (a sender of "" would read as unknown); typed INSERT statements keep
    "" and NULL apart. Measured, 5,000 campaigns (4,915 + 2 x 78,685 rows), normalize + load on
    2 cores: CSV 6.4 s (wrong), arrow -> insert_values 13.1 s, the same rows as Python dicts
    24.8 s (and dlt adds _dlt_id/_dlt_load_id columns to them)."""
    destination = pipeline.destination if pipeline is not None else None
    if destination is not None and destination.destination_type == "dlt.destinations.postgres":
        return "insert_values"
    return None


def active_pipeline() -> Optional[dlt.Pipeline]:
    """The pipeline extracting right now, if any: `dlt.current.pipeline()` would create a default
    pipeline when none is active (e.g. a test iterating a resource by hand)."""
    from dlt.common.configuration.container import Container
    from dlt.common.pipeline import PipelineContext

    context = Container()[PipelineContext]
    # PipelineContext types it as the SupportsPipeline protocol; dlt.pipeline() put a Pipeline there.
    return context.pipeline() if context.is_active() else None  # type: ignore[return-value]


def for_destination(table: Any) -> Any:
    """`table` marked with the file format its destination needs (see loader_file_format). The
    resources call this at extract time, so a run through the user's own `pipeline.run()`
    loads exactly what the CLI loads."""
    file_format = loader_file_format(active_pipeline())
    if file_format is None:
        return table
    return dlt.mark.with_hints(table, dlt.mark.make_hints(file_format=file_format))


def finish_interrupted_load(pipeline: dlt.Pipeline, memory_limit: str) -> None:
    """A killed run may leave extracted/normalized packages: load them before extracting anew,
    so the state and the rows they carry land together, exactly once."""
    _drop_committed_extracted_packages(pipeline)
    if pipeline.list_extracted_load_packages():
        pipeline.normalize()
    for load_id in pipeline.list_normalized_load_packages():
        _settle_committed_jobs(pipeline, load_id)
    if pipeline.list_normalized_load_packages():
        load(pipeline, memory_limit)


# dlt's FileStorage.save_atomic writes a file as `<uniq_id(8)>` (16 hex digits) in the target
# folder, then renames it. Killed in between, the temporary file stays in the pipeline's schemas
# folder, dlt lists it as a schema named like that, and every later run fails at its sync step
# (InvalidSchemaName '9db56bcdeb07d583': tests/reliability/test_crashes.py hit it once).
_UNFINISHED_ATOMIC_WRITE = re.compile(r"^[0-9a-f]{16}$")


def drop_unfinished_schema_writes(working_dir: Path) -> None:
    """Remove what a kill left half-saved in a pipeline's schemas folder (see above). Before
    dlt.pipeline() attaches to `working_dir`: dlt lists the schemas when it creates the object."""
    folder = working_dir / "schemas"
    if not folder.is_dir():
        return
    for leftover in folder.iterdir():
        if leftover.is_file() and _UNFINISHED_ATOMIC_WRITE.match(leftover.name):
            logger.warning("removing %s, a schema file an interrupted run left half-written", leftover)
            leftover.unlink()


def _drop_committed_extracted_packages(pipeline: dlt.Pipeline) -> None:
    """dlt's normalize commits a package by renaming it into the load storage, then deletes the
    extracted copy; "do not kill this process" in between, its log says. A SIGKILL there leaves
    both, and normalizing the extracted copy again fails on every later run ("Directory not
    empty": tests/reliability/test_crashes.py hit it once in 12 trials). The renamed package is
    the committed one: finish what dlt would have done next and delete the extracted copy."""
    committed = set(pipeline.list_normalized_load_packages()) | set(pipeline.list_completed_load_packages())
    leftovers = [load_id for load_id in pipeline.list_extracted_load_packages() if load_id in committed]
    if not leftovers:
        return
    extracted = pipeline._get_normalize_storage().extracted_packages  # dlt 1.31: no public accessor
    for load_id in leftovers:
        logger.warning("package %s was normalized before the interruption; dropping its extracted copy", load_id)
        extracted.delete_package(load_id)


# Jobs whose re-run would duplicate rows: an append table's job appends its rows twice, and a
# copy into campaign_statistics' staging table (dlt does not truncate staging again on resume)
# doubles the rows the delete-insert merge then inserts - it has no primary key to dedup on.
# campaigns' staging copy is harmless to re-run (merge dedups on campaign_id) and is settled too.
# The message tables merge on message_id without a dedup window (source.py), like
# campaign_statistics: a re-run copy would insert its messages twice.
_SETTLED_TABLES = (tables.CAMPAIGN_STATISTICS_HISTORY, tables.REJECTED_RECORDS,
                   tables.CAMPAIGN_STATISTICS, tables.CAMPAIGNS, tables.MESSAGES, tables.MESSAGE_FALLBACKS,
                   tables.MESSAGE_READS)
# How a job file's rows are told apart from other files' of the same package: a campaign's details
# are in one file per table, its messages in many (batches of MESSAGE_BATCH_ROWS), each message in one.
_ROW_KEY = {tables.MESSAGES: "message_id", tables.MESSAGE_FALLBACKS: "message_id"}


def _settle_committed_jobs(pipeline: dlt.Pipeline, load_id: str) -> None:
    """dlt re-runs every job that was in flight when the process died, unless the job left its
    'done' marker. That marker is written a few ms *after* the destination committed, so a kill
    in between makes the re-run load the job's rows a second time (tests/reliability/
    test_crashes.py kills exactly there). Before resuming, look for such a job's rows at the
    destination - in the final table for append tables, in the staging table for merge tables -
    and, when they are all there, leave the marker dlt would have left. An INSERT is all or
    nothing, so "all rows there" means "committed". Best effort: on any doubt the job is re-run,
    as dlt would do anyway. Parquet jobs only (DuckDB and the other parquet destinations):
    PostgreSQL's insert_values jobs are not settled yet."""
    try:
        packages = pipeline._get_load_storage().normalized_packages  # dlt 1.31: no public accessor
        started = packages.list_started_jobs(load_id)
    except Exception as exc:  # noqa: BLE001 - an unexpected dlt layout: keep dlt's own behaviour
        logger.debug("cannot inspect package %s: %s", load_id, exc)
        return
    for path in started:
        name = os.path.basename(path)
        parsed = ParsedLoadJobFileName.parse(name)
        if (parsed.table_name not in _SETTLED_TABLES or parsed.file_format != "parquet"
                or packages.load_pending_transition(load_id, name) is not None):
            continue
        try:
            if _rows_already_loaded(pipeline, parsed.table_name, packages.storage.make_full_path(path)):
                packages.save_pending_transition(load_id, name, "completed")
                logger.warning("%s: its rows were committed before the interruption; not loading them again", name)
        except Exception as exc:  # noqa: BLE001 - e.g. the table does not exist yet
            logger.debug("cannot check %s at the destination (%s); dlt re-runs it", name, exc)


def _rows_already_loaded(pipeline: dlt.Pipeline, table_name: str, file_path: str) -> bool:
    """Are all of this job file's rows at the destination? Rows are told apart by campaign id
    (a campaign is in one file of a table per package) or message id (_ROW_KEY) and, in the append
    tables that keep every run's rows, by the run's fetched_at range. Staging tables start empty
    per package."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    with_time = table_name in (tables.CAMPAIGN_STATISTICS_HISTORY, tables.REJECTED_RECORDS)
    key = _ROW_KEY.get(table_name, "campaign_id")
    data = pq.read_table(file_path, columns=[key, "fetched_at"] if with_time else [key])
    if data.num_rows == 0:
        return False
    if data.column(key).null_count:
        # Rejected payloads without a usable id: nothing tells this file's rows apart from
        # another file's in the same package, so it is re-run (a duplicate is possible there,
        # a lost rejection is not).
        return False
    ids = sorted({int(i) for i in data.column(key).to_pylist()})
    # Only integers and ISO timestamps taken from our own typed file reach the SQL text.
    where = f"{key} in ({', '.join(str(i) for i in ids)})"
    if with_time:
        low, high = pc.min(data.column("fetched_at")).as_py(), pc.max(data.column("fetched_at")).as_py()
        where += f" and fetched_at between '{low.isoformat()}' and '{high.isoformat()}'"
    job_client: Any = pipeline.destination_client()
    with job_client:
        if table_name == tables.REJECTED_RECORDS:
            # A campaign's message rejections are spread over many files of a package, with equal
            # fetched_at seconds: only the exact rows tell this file's apart (each message is read
            # once per run, so its rejection row is unique in the package).
            return _all_rows_found(job_client.sql_client, table_name, where, pq.read_table(file_path))
        if with_time:
            found = _count(job_client.sql_client, table_name, where)
        else:  # merge tables: the copy job loads the staging dataset
            with job_client.with_staging_dataset():
                found = _count(job_client.sql_client, table_name, where)
    return found >= int(data.num_rows)


def _all_rows_found(sql_client: Any, table_name: str, where: str, rows: Any) -> bool:
    from collections import Counter

    names = ("campaign_id", "fetched_at", "reason", "payload")
    wanted = Counter(zip(*(rows.column(name).to_pylist() for name in names)))
    sql = f"select {', '.join(names)} from {sql_client.make_qualified_table_name(table_name)} where {where}"
    found = Counter(tuple(row) for row in sql_client.execute_sql(sql))
    return all(found[row] >= copies for row, copies in wanted.items())


def _count(sql_client: Any, table_name: str, where: str) -> int:
    sql = f"select count(*) from {sql_client.make_qualified_table_name(table_name)} where {where}"
    return int(sql_client.execute_sql(sql)[0][0])


