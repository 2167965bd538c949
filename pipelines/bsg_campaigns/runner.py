"""One run, end to end: finish any interrupted load, extract + load the source, build the SQL
models, run the checks. Raises `UserError` for what the user must fix (exit 2) and
`RunFailed` for what failed at the API or destination (exit 1); the CLI only formats."""

from __future__ import annotations

import fcntl
import gc
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.exceptions import PipelineStepFailed

from . import settings as defaults
from .client import ApiError, AuthError
from .config import ConfigError, validate_identifier
from .fetch import ApiUnavailable
from .loading import (causes, drop_unfinished_schema_writes, duckdb_file, extract_and_load,
                      finish_interrupted_load, load_memory_limit, out_of_memory)
from .publish import PublishFailed, published_file, publishing, working_copy
from .report import RunReport

logger = logging.getLogger("bsg_campaigns.runner")


class UserError(Exception):
    """Something the user must fix (configuration, credentials): exit code 2."""


class RunFailed(Exception):
    """The API or the destination failed; the state did not advance, the next run resumes."""


def make_pipeline(destination: Optional[str] = None, dataset_name: Optional[str] = None,
                  pipelines_dir: Optional[str] = None, pipeline_name: str = defaults.PIPELINE_NAME,
                  duckdb_path: Optional[str] = None, read_only: bool = False) -> dlt.Pipeline:
    """A pipeline for the CLI and the demo. A local DuckDB file (`duckdb_path`, else the configured
    `destination.duckdb.credentials` path, else ./bsg.duckdb) is loaded through its working copy
    and published to that path (publish.py), so readers never block a run. `read_only` opens
    the published file itself, read-only, for commands that only read (status)."""
    try:
        dataset = validate_identifier("dataset_name", dataset_name or defaults.DATASET_NAME)
    except ConfigError:  # a user error (exit 2), not a traceback: it names the CLI flag to fix
        raise UserError(f"Invalid dataset name {dataset_name!r}: use a plain SQL identifier (letters, digits and "
                        "underscores, not starting with a digit, at most 63 characters), e.g. --dataset "
                        f"{defaults.DATASET_NAME}. Nothing was run.") from None
    target: Any = destination or "duckdb"
    if duckdb_path is None and target == "duckdb":
        duckdb_path = _configured_duckdb_file()
    if duckdb_path is not None:
        published = Path(duckdb_path).resolve()
        if read_only:
            target = dlt.destinations.duckdb(DuckDbCredentials(str(published), read_only=True))
        else:
            working = working_copy(published)
            working.parent.mkdir(parents=True, exist_ok=True)  # DuckDB creates the file, not its folder
            target = dlt.destinations.duckdb(str(working))
    kwargs: Dict[str, Any] = {"pipeline_name": pipeline_name, "destination": target, "dataset_name": dataset}
    if pipelines_dir:
        kwargs["pipelines_dir"] = pipelines_dir
    drop_unfinished_schema_writes(Path(pipelines_dir or get_dlt_pipelines_dir()) / pipeline_name)
    try:
        return dlt.pipeline(**kwargs)
    except Exception as exc:  # an unknown destination name, a bad credentials string
        raise UserError(f"Cannot set up destination {destination or 'duckdb'!r}: {exc}") from None


def _configured_duckdb_file() -> Optional[str]:
    """The DuckDB file path the configuration names, the default when it names none, or None
    when it is not a plain local file (":pipeline:", MotherDuck, a credentials table with its
    own options): dlt then opens it as configured, without a working copy."""
    value = dlt.config.get("destination.duckdb.credentials")
    if value is None:
        # dlt would name the file after the pipeline (bsg_campaigns.duckdb); DuckDB then has a
        # catalog and a schema both called bsg_campaigns and rejects the load as ambiguous.
        return defaults.DEFAULT_DUCKDB_FILE
    if not isinstance(value, str):
        return None
    try:
        database = DuckDbCredentials(value).database
    except Exception:  # noqa: BLE001 - an unparsable value: dlt reports it when it resolves it
        return None
    if not isinstance(database, str) or database.startswith((":", "md:", "motherduck:")):
        return None
    return database


def run(pipeline: dlt.Pipeline, report: Optional[RunReport] = None, *, build_models: bool = True,
        **source_args: Any) -> RunReport:
    """Extract and load; `source_args` override injected config (campaign_ids, backfill_*, ...)."""
    from . import bsg_source

    report = report or RunReport()
    try:
        source = bsg_source(report=report, **source_args)
        memory_limit = load_memory_limit()
    except ConfigFieldMissingException as exc:
        raise UserError(_missing_config_message(exc)) from None
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    with run_lock(pipeline), published_snapshot(pipeline), _gc_tuned_for_bulk():
        try:
            if pipeline.has_pending_data:
                logger.warning("found data from an interrupted run: loading it first")
                finish_interrupted_load(pipeline, memory_limit)
            info = extract_and_load(pipeline, source, report, memory_limit)
        except PipelineStepFailed as exc:
            raise _translate(exc) from None
        report.load_ids = list(info.loads_ids)
        if build_models:
            build_and_check(pipeline, report, source_refresh_hours(source_args))
    return report


@contextmanager
def published_snapshot(pipeline: dlt.Pipeline) -> Iterator[None]:
    """publish.publishing, its failure as a RunFailed (exit 1). Inside run_lock."""
    try:
        with publishing(pipeline):
            yield
    except PublishFailed as exc:
        raise RunFailed(f"{exc}. What this run loaded is committed in the working copy; readers keep the "
                        "previous snapshot, and the next run publishes it.") from None


@contextmanager
def _gc_tuned_for_bulk() -> Iterator[None]:
    """A run allocates millions of short-lived objects (rows, parsed JSON). With the default
    thresholds the cyclic collector keeps rescanning the heap: measured 1.13x throughput from
    freezing what exists at start and collecting young objects less often. Restored after."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@contextmanager
def run_lock(pipeline: dlt.Pipeline) -> Iterator[None]:
    """One run per pipeline at a time: a second concurrent run stops at once instead of racing
    the first over the same state and load packages. A DuckDB file is locked too: a run from
    another pipelines dir (another user, another DLT_DATA_DIR) writing the same file at the same
    time would otherwise start from the same committed state and load every row twice. For a
    published file the lock is next to it and guards its working copy and the publish too."""
    pipeline_lock = Path(pipeline.pipelines_dir) / f".{pipeline.pipeline_name}.run.lock"
    with _exclusive(pipeline_lock, f"Another run of pipeline {pipeline.pipeline_name!r} is in progress"):
        database = duckdb_file(pipeline)
        database = database and (published_file(database) or database)
        if database is None:
            yield
            return
        with _exclusive(database.with_name(database.name + ".bsg-run.lock"),
                        f"Another run is loading into the DuckDB file {str(database)!r}"):
            yield


@contextmanager
def _exclusive(lock_path: Path, busy: str) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunFailed(f"{busy} ({holder}); this one stopped without touching anything. "
                            "Try again when it has finished.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_and_check(pipeline: dlt.Pipeline, report: RunReport, refresh_window_hours: float) -> None:
    """Rebuild the SQL views and run the data-quality checks (the analyst layer)."""
    try:
        from .models import CheckContext, build_models_and_run_checks
    except ImportError:  # the analyst layer is optional for a bare extract
        return
    context = CheckContext(refresh_window_hours=int(refresh_window_hours),
                           # what the run set out to read vs what it loaded
                           campaigns_listed=report.fetched + report.gone + report.failed,
                           campaigns_loaded=report.fetched - report.rejected)
    report.models, checks = build_models_and_run_checks(pipeline, context)
    report.checks = checks.to_dict()
    report.checks["summary"] = (f"{len(checks.failures)} failed, {len(checks.warnings)} warnings, "
                                f"{len(checks.results)} run")
    report.checks["text"] = checks.to_text()


def source_refresh_hours(source_args: Dict[str, Any]) -> float:
    value = source_args.get("refresh_window_hours")
    if value is None:
        value = dlt.config.get("sources.bsg.refresh_window_hours")
    return float(value) if value is not None else float(defaults.DEFAULT_REFRESH_WINDOW_HOURS)


def _translate(exc: PipelineStepFailed) -> Exception:
    cause = _root_cause(exc)
    if exc.step == "load" and out_of_memory(exc):
        return RunFailed("DuckDB ran out of memory while loading. Raise `duckdb_load_memory_limit` under "
                         "[sources.bsg] in .dlt/config.toml (SOURCES__BSG__DUCKDB_LOAD_MEMORY_LIMIT; \"\" = "
                         "DuckDB's default) or free memory on this machine. The extracted data stays pending "
                         "and the next run loads it first.")
    if isinstance(cause, AuthError):
        return UserError(
            f"The BSG API rejected the api key ({cause}). Check `api_key` under [sources.bsg] in "
            ".dlt/secrets.toml (or SOURCES__BSG__API_KEY) and `base_url` (SOURCES__BSG__BASE_URL). "
            "Nothing was loaded and the incremental state did not move.")
    if isinstance(cause, ConfigError):
        return UserError(str(cause))
    if isinstance(cause, ConfigFieldMissingException):
        keys = "; ".join(f"{f} ({' or '.join(t.key for t in traces[:2])})" if traces else f
                         for f, traces in list(cause.traces.items())[:3]) if getattr(cause, "traces", None) else ""
        return UserError(f"The destination is missing a setting: {', '.join(cause.fields)}. "
                         f"Set it in .dlt/secrets.toml or the environment{': ' + keys if keys else ''}. "
                         "Nothing was loaded.")
    if isinstance(cause, (ApiUnavailable, ApiError)):
        return RunFailed(f"The BSG API failed during {exc.step}: {cause}. Nothing was committed for "
                         "this run; the next run resumes from the last committed state.")
    return RunFailed(f"The pipeline failed during {exc.step}: {type(cause).__name__}: {cause}. "
                     "Data already extracted stays pending and is loaded first by the next run.")


def _root_cause(exc: BaseException) -> BaseException:
    known = (AuthError, ApiError, ApiUnavailable, ConfigError, ConfigFieldMissingException)
    return next((cause for cause in causes(exc) if isinstance(cause, known)), exc)


def _missing_config_message(exc: ConfigFieldMissingException) -> str:
    fields = ", ".join(f"`{f}`" for f in exc.fields)
    hints = "; ".join(f"SOURCES__BSG__{f.upper()}" for f in exc.fields)
    return (f"Missing setting {fields} for the BSG source. Put it under [sources.bsg] in "
            f".dlt/secrets.toml (see .dlt/secrets.toml.example) or set the environment variable "
            f"({hints}). Nothing was run.")
