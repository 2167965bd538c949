"""One run, end to end: finish any interrupted load, extract + load the source, build the SQL
models, run the checks. Raises `UserError` for what the user must fix (exit 2) and
`RunFailed` for what failed at the API or destination (exit 1); the CLI only formats."""

from __future__ import annotations

import difflib
import fcntl
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import dlt
from dlt.common.configuration.exceptions import (ConfigFieldMissingException, ConfigValueCannotBeCoercedException,
                                                 flatten_traces)
from dlt.common.exceptions import DltException, MissingDependencyException
from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.exceptions import PipelineStepFailed

from bsg_campaigns import settings as defaults
from bsg_campaigns.config import (SETTING_NAMES, PostgresCredentialsPasswordOptional, coercion_error, is_identifier,
                                  resolve_settings)
from bsg_campaigns.load.steps import (causes, drop_unfinished_schema_writes, duckdb_file, extract_and_load,
                      finish_interrupted_load, load_memory_limit, out_of_memory)
from bsg_campaigns.load.publish import published_file, publishing, working_copy
from bsg_campaigns.load.exceptions import PublishFailed
from bsg_campaigns.report import RunReport
from bsg_campaigns.exceptions import BsgError, RunFailed, UserError, error_for

logger = logging.getLogger("bsg_campaigns.app.runner")


def make_pipeline(destination: Optional[str] = None, dataset_name: Optional[str] = None,
                  pipelines_dir: Optional[str] = None, pipeline_name: str = defaults.PIPELINE_NAME,
                  duckdb_path: Optional[str] = None, read_only: bool = False) -> dlt.Pipeline:
    """A pipeline for the CLI and the demo. A local DuckDB file (`duckdb_path`, else the configured
    `destination.duckdb.credentials` path, else ./bsg.duckdb) is loaded through its working copy
    and published to that path (publish.py), so readers never block a run. `read_only` opens
    the published file itself, read-only, for commands that only read (status)."""
    dataset = dataset_name or defaults.DATASET_NAME
    if not is_identifier(dataset):  # a user error (exit 2), not a traceback: it names the CLI flag to fix
        raise UserError(f"Invalid dataset name {dataset_name!r}: use a plain SQL identifier (letters, digits and "
                        "underscores, not starting with a digit, at most 63 characters), e.g. --dataset "
                        f"{defaults.DATASET_NAME}. Nothing was run.")
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
    elif target == "postgres":
        target = _postgres(pipeline_name)
    kwargs: Dict[str, Any] = {"pipeline_name": pipeline_name, "destination": target, "dataset_name": dataset}
    if pipelines_dir:
        kwargs["pipelines_dir"] = pipelines_dir
    drop_unfinished_schema_writes(Path(pipelines_dir or get_dlt_pipelines_dir()) / pipeline_name)
    try:
        pipeline: dlt.Pipeline = dlt.pipeline(**kwargs)  # **kwargs fits both overloads: mypy picks none
        return pipeline
    except Exception as exc:  # an unknown destination name, a bad credentials string
        raise UserError(_destination_message(destination or "duckdb", exc)) from None


def _destination_message(name: str, exc: BaseException) -> str:
    from dlt.common.destination.exceptions import UnknownDestinationModule

    if isinstance(exc, UnknownDestinationModule):
        import dlt.destinations

        known = [d for d in dlt.destinations.__all__ if d != "destination"]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        return (f"Unknown destination {name!r} (--destination).{hint} Use one of dlt's destinations "
                f"({', '.join(sorted(known))}), or a named destination with `destination_type` set under "
                f"[destination.{name}]. Nothing was run.")
    return f"Cannot set up destination {name!r}: {_first_line(exc)} Nothing was run."


def _postgres(pipeline_name: str) -> Any:
    """The [destination.postgres] credentials dlt would resolve, with the password optional,
    handed to dlt resolved (it then uses them as they are; libpq finds the password or needs
    none). Verified: a URL without a password loads with trust auth."""
    from dlt.common.configuration.resolve import inject_section, resolve_configuration
    from dlt.common.configuration.specs.config_section_context import ConfigSectionContext

    context = ConfigSectionContext(pipeline_name=pipeline_name, sections=("destination", "postgres"))
    try:
        with inject_section(context):
            credentials = resolve_configuration(PostgresCredentialsPasswordOptional())
    except ConfigFieldMissingException as exc:
        raise UserError(_missing_destination_setting("postgres", exc)) from None
    except (DltException, ValueError) as exc:  # a malformed URL, a port that is not a number
        raise UserError(f"The PostgreSQL credentials cannot be used: {_first_line(exc)} Set them as "
                        "[destination.postgres] credentials = \"postgresql://user:password@host:5432/database\" in "
                        ".dlt/secrets.toml (or DESTINATION__POSTGRES__CREDENTIALS). Nothing was run.") from None
    return dlt.destinations.postgres(credentials=credentials)


def _configured_duckdb_file() -> Optional[str]:
    """The DuckDB file path the configuration names, the default when it names none, or None
    when it is not a plain local file (":pipeline:", MotherDuck, a credentials table with its
    own options): dlt then opens it as configured, without a working copy."""
    value: object = dlt.config.get("destination.duckdb.credentials")
    if value is None:
        # dlt's own default would be <pipeline name>.duckdb in the working dir; resolved here
        # so the working copy, the run lock and the memory cap see the same path.
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
    """Extract and load. `source_args`: settings (config.SourceSettings fields) override the
    configuration; campaign_ids / backfill_start / backfill_end choose what this run fetches."""
    from bsg_campaigns.source import bsg_source

    report = report or RunReport()
    setting_args = _settings_part(source_args)
    settings = resolve_settings(pipeline.pipeline_name, **setting_args)
    source = bsg_source(settings, report=report, **{k: v for k, v in source_args.items() if k not in setting_args})
    memory_limit = load_memory_limit(settings)
    with run_lock(pipeline), published_snapshot(pipeline):
        try:
            if pipeline.has_pending_data:
                logger.warning("found data from an interrupted run: loading it first")
                finish_interrupted_load(pipeline, memory_limit)
            info = extract_and_load(pipeline, source, report, memory_limit)
        except (PipelineStepFailed, DltException) as exc:
            raise _translate(exc) from None
        report.load_ids = list(info.loads_ids)
        if build_models:
            build_and_check(pipeline, report, settings.refresh_window_hours, settings.final_statuses or ())
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


def build_and_check(pipeline: dlt.Pipeline, report: RunReport, refresh_window_hours: float,
                    final_statuses: Sequence[str] = defaults.FINAL_STATUSES) -> None:
    """Rebuild the SQL views and run the data-quality checks (the analyst layer) into `report`."""
    try:
        from bsg_campaigns.analyst.models import models_and_checks
    except ImportError:  # the analyst layer is optional for a bare extract
        return
    report.models, checks = models_and_checks(pipeline, refresh_window_hours, final_statuses)
    report.checks = checks.to_dict()
    report.checks["summary"] = (f"{len(checks.failures)} failed, {len(checks.warnings)} warnings, "
                                f"{len(checks.results)} run")
    report.checks["text"] = checks.to_text()


def _settings_part(source_args: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in source_args.items() if k in SETTING_NAMES}


def _translate(exc: BaseException) -> Exception:
    """A failed run as one paragraph: UserError (exit 2) for what the user must fix, RunFailed
    (exit 1) for the API or the destination. Works on any exception: it never assumes an
    attribute, and should it fail itself it still returns a message about `exc`."""
    try:
        return _translated(exc)
    except Exception:  # noqa: BLE001 - the translator must never hide the run's own failure
        return RunFailed(f"The pipeline failed: {_first_line(exc)} Data already extracted stays pending and is "
                         "loaded first by the next run.")


def _translated(exc: BaseException) -> Exception:
    step = getattr(exc, "step", None) or "the run"
    cause = _root_cause(exc)
    for seen, error, message in _FOREIGN_FAILURES:
        if isinstance(cause, seen) if isinstance(seen, type) else seen(exc, step):
            return error(message(exc, cause))
    if isinstance(cause, BsgError):  # our own errors explain themselves
        return error_for(cause.exit_code, cause.explain(step))
    return RunFailed(f"The pipeline failed during {step} (destination {_destination_name(exc)}): "
                     f"{type(cause).__name__}: {_first_line(cause)} Data already extracted stays pending and is "
                     "loaded first by the next run.")


def _out_of_memory_while_loading(exc: BaseException, step: str) -> bool:
    return step == "load" and out_of_memory(exc)


# DuckDB 2.x writes storage version 69, which the duckdb 1.x this package pins (so that BI tools
# can read the file) cannot open: e.g. a file an install of 0.1 (duckdb 2.0.1) wrote.
_NEWER_STORAGE = "database file with version number"
NEWER_DUCKDB_FILE = (
    "The DuckDB file was written by a newer DuckDB (storage version 69: duckdb 2.x, which bsg-campaigns 0.1 "
    "installed) than this install reads (duckdb 1.x, so that BI tools and the duckdb CLI 1.5 can open it). "
    "Convert it once: with duckdb 2.x run EXPORT DATABASE 'bsg_dump', then with this install's duckdb run "
    "IMPORT DATABASE 'bsg_dump' into a new file and put it in place (README, \"Installing / DuckDB versions\"); "
    "or move the file aside to load afresh. Nothing was loaded.")


def _newer_duckdb_file(exc: BaseException, step: str) -> bool:
    return any(_NEWER_STORAGE in str(cause) for cause in causes(exc))


def _coercion_message(exc: BaseException, cause: Any) -> str:
    field = str(getattr(cause, "field_name", "?"))
    if field in SETTING_NAMES:
        return str(coercion_error(cause))
    return (f"A destination setting `{field}` has a value dlt cannot use (expected "
            f"{getattr(getattr(cause, 'hint', None), '__name__', 'another type')}). Fix it in .dlt/"
            "config.toml / secrets.toml or its DESTINATION__* environment variable. Nothing was loaded.")


# What dlt, DuckDB or a driver can stop a run with, and the paragraph each becomes: (a type the
# root cause is, or a test of the step's whole chain; the error raised; its text from the step's
# exception and the root cause). The first that matches wins. Our own errors are not listed.
_FOREIGN_FAILURES: Tuple[Tuple[Any, Callable[[str], Exception], Callable[[BaseException, Any], str]], ...] = (
    (_out_of_memory_while_loading, RunFailed, lambda exc, cause: (
        "DuckDB ran out of memory while loading. Raise `duckdb_load_memory_limit` under [sources.bsg] in "
        ".dlt/config.toml (SOURCES__BSG__DUCKDB_LOAD_MEMORY_LIMIT; \"\" = DuckDB's default) or free memory on "
        "this machine. The extracted data stays pending and the next run loads it first.")),
    (_newer_duckdb_file, UserError, lambda exc, cause: NEWER_DUCKDB_FILE),
    (ConfigValueCannotBeCoercedException, UserError, _coercion_message),
    (ConfigFieldMissingException, UserError,
     lambda exc, cause: _missing_destination_setting(_destination_name(exc), cause)),
    (MissingDependencyException, UserError, lambda exc, cause: (
        f"{_first_line(cause)} Install it with pip into this environment (same dlt minor). Nothing was loaded.")),
)
_ROOT_CAUSES = (BsgError,) + tuple(seen for seen, _, _ in _FOREIGN_FAILURES if isinstance(seen, type))


def destination_unreachable(pipeline: dlt.Pipeline, exc: BaseException) -> Exception:
    """`status` could not read the state from the destination: say which, never "No runs yet"."""
    translated = _translate(exc)
    if isinstance(translated, UserError):
        return translated
    name = str(getattr(pipeline.destination, "destination_name", None) or "?")
    return RunFailed(f"Cannot read the pipeline state from the destination {name!r} (dataset "
                     f"{pipeline.dataset_name!r}): {type(_root_cause(exc)).__name__}: {_first_line(_root_cause(exc))} "
                     "Check that the warehouse is reachable and its credentials.")


def _root_cause(exc: BaseException) -> BaseException:
    """The first error in the chain the translator knows (ours or one of _FOREIGN_FAILURES), else
    the innermost."""
    chain = list(causes(exc))
    return next((cause for cause in chain if isinstance(cause, _ROOT_CAUSES)), chain[-1] if chain else exc)


def _destination_name(exc: BaseException) -> str:
    pipeline = getattr(exc, "pipeline", None)
    destination = getattr(pipeline, "destination", None)
    return str(getattr(destination, "destination_name", None) or "?")


def _missing_destination_setting(destination: str, exc: ConfigFieldMissingException) -> str:
    """Which keys dlt looked for, from its traces (nested ones included), never their values."""
    traces = getattr(exc, "traces", None) or {}
    fields = list(traces) or list(getattr(exc, "fields", []) or [])
    keys: List[str] = []
    for field_traces in list(traces.values())[:3]:
        tried = [str(getattr(trace, "key", "")) for trace in flatten_traces(field_traces)]
        # the most specific key dlt tried outside a pipeline-scoped section
        key = next((k for k in tried if k.upper().startswith("DESTINATION__")), None)
        if key and key not in keys:
            keys.append(key)
    where = f" (dlt looked for {', '.join(keys)}, among others)" if keys else ""
    example = (" e.g. [destination.postgres] credentials = \"postgresql://user:password@host:5432/database\" (the "
               "password may be left out with trust auth, ~/.pgpass or PGPASSWORD), or DESTINATION__POSTGRES__CREDENTIALS"
               if destination == "postgres" else f" under [destination.{destination}] or as DESTINATION__* variables")
    return (f"The destination {destination!r} is missing {', '.join(f'`{f}`' for f in fields) or 'a setting'}{where}. "
            f"Set {'it' if len(fields) == 1 else 'them'} in .dlt/secrets.toml{example}. Nothing was loaded.")


def _first_line(exc: BaseException) -> str:
    """dlt's messages run over many lines; the first says what happened."""
    try:
        text = str(exc).strip().splitlines()
    except Exception:  # noqa: BLE001 - an exception that cannot even print itself
        text = []
    line = text[0].strip() if text else type(exc).__name__
    line = line if len(line) <= 400 else line[:400] + "…"
    return line if line.endswith((".", "!", "?")) else line + "."
