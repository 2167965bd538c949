"""`bsg-campaigns`: run, demo, status, models, simulator. Formats; the work is in runner.py.

Exit codes: 0 ok; 1 the API or destination failed (the next run resumes); 2 a setting or the
api key must be fixed; 3 `--strict` and rejected records or failed data-quality checks.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import logging
import os
import sys
import threading
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterator, NoReturn, Optional, Sequence

import dlt

from bsg_campaigns import settings as defaults
from bsg_campaigns.app.console import clear_progress, error, one_paragraph, progress_printer
from bsg_campaigns.report import RunReport
from bsg_campaigns.exceptions import BsgError, ChecksFailed, RunFailed, UserError

EXIT_OK, EXIT_FAILED, EXIT_USER_ERROR, EXIT_STRICT = 0, RunFailed.exit_code, UserError.exit_code, ChecksFailed.exit_code


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("dlt").setLevel(logging.ERROR)
        # dlt logs a failing step at ERROR, with tracebacks, before it raises; the runner turns
        # that exception into one paragraph, so dlt's lines only repeat it (-v shows them). A
        # filter, not a level: dlt re-initialises its logger's level from its runtime config.
        logging.getLogger("dlt").addFilter(_drop_dlt_errors)
    from dlt.common.configuration.exceptions import ConfigProviderException

    try:
        return int(args.handler(args) or 0)
    except BsgError as exc:
        error(f"{'error' if exc.exit_code == EXIT_USER_ERROR else 'run failed'}: {exc}")
        return exc.exit_code
    except ConfigProviderException as exc:  # e.g. a .dlt/config.toml that is not valid TOML
        error(f"error: {one_paragraph(exc)} Fix the file and run again. Nothing was run.")
        return EXIT_USER_ERROR
    except BrokenPipeError:  # output piped into `head` etc.
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        error("interrupted: nothing of this run was committed; the next run resumes.")
        return 130


def console_main() -> NoReturn:
    """The `bsg-campaigns` console script (and `python -m bsg_campaigns.app.cli`): `main()`, then
    the process ends as `sys.exit` would end it, minus the teardown of the ~1,200 modules a run
    imports (dlt, pandas, pyarrow, sqlglot): 0.33-0.51 s of a 6 s first run of 2,000 campaigns,
    measured, spent freeing memory the operating system reclaims anyway. Everything a finished
    run relies on still happens, in Python's own order: non-daemon threads are joined, the atexit
    handlers run (logging's flush, dlt's telemetry, temporary directories' finalizers, a
    coverage or tracing hook), stdout and stderr are flushed, then `os._exit` with main's code.
    Every DuckDB connection is closed before main returns (tests/test_cli.py checks that no
    write-ahead log is left beside the files, after a run that succeeded and one that failed).
    Output that cannot be flushed (a full disk) turns exit 0 into 120, as Python's own exit does.
    An exception escaping main (a bug), argparse's own exits, and a process under a profiler or
    tracer (`python -m cProfile`, `trace`, pdb: they write their output after the module returns)
    take Python's normal path. Only the command line does this: `main()` called in-process
    returns as usual."""
    code = main()
    # What Py_FinalizeEx calls first, in its order: threading's shutdown (executors stopped, then
    # non-daemon threads joined), then the atexit handlers. Private functions of CPython (3.11 to
    # 3.13 here); where either is missing, the normal exit.
    join_threads = getattr(threading, "_shutdown", None)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if join_threads is None or run_exit_handlers is None or _observed():
        sys.exit(code)
    join_threads()
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # the reader went away (`| head`), or main closed it
            pass
        except OSError as exc:
            code = code or 120
            _last_words(f"error: could not write the output: {exc}")
    os._exit(code)


def _observed() -> bool:
    """A profiler, a tracer or (3.12+) a sys.monitoring tool is attached: it needs the normal exit."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)
    return monitoring is not None and any(monitoring.get_tool(tool) is not None for tool in range(6))


def _last_words(message: str) -> None:
    try:
        os.write(2, (message + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


class _Parser(argparse.ArgumentParser):
    """argparse prints the whole usage before its error; one line naming the flag is enough."""

    def error(self, message: str) -> NoReturn:
        error(f"error: {message} (see `{self.prog} --help`).")
        sys.exit(EXIT_USER_ERROR)


def _date_flag(value: str) -> str:
    """--start-date/--end-date: checked here so that the error names the flag; the source reads
    the same text in the API's time zone."""
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date: use yyyy-mm-dd (or \"yyyy-mm-dd hh:mm:ss\"), "
                                         "in the API's time zone") from None
    return value.strip()


def _not_after(end: str, start: str) -> bool:
    try:
        return datetime.fromisoformat(end) <= datetime.fromisoformat(start)
    except TypeError:  # one with an offset, one without: the source compares them in its time zone
        return False


def _campaign_id(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a campaign id (a positive whole number)")
    return number


def _drop_dlt_errors(record: logging.LogRecord) -> bool:
    return not logging.ERROR <= record.levelno < logging.CRITICAL


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bsg-campaigns",
        description="Load BSG One-API SMS/RCS campaign statistics into DuckDB or any dlt destination.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (secrets stay masked)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")  # subparsers: _Parser too

    run = sub.add_parser("run", help="extract + load against the configured API, then build models",
                         description="Incremental run: new campaigns since the last cursor plus every "
                                     "campaign still moving. Settings come from [sources.bsg] in "
                                     ".dlt/config.toml / secrets.toml or SOURCES__BSG__* variables.")
    _destination_args(run)
    run.add_argument("--campaign-id", type=_campaign_id, action="append", dest="campaign_ids", metavar="ID",
                     help="fetch exactly this campaign (repeatable); does not move the cursor")
    run.add_argument("--start-date", type=_date_flag, help="backfill: list campaigns created from this date "
                                          "(yyyy-mm-dd, API time zone); does not move the cursor")
    run.add_argument("--end-date", type=_date_flag, help="backfill: ... up to this date (default: now)")
    run.add_argument("--strict", action="store_true",
                     help="exit 3 when records were rejected or a data-quality check failed")
    run.add_argument("--json", action="store_true", help="print the run summary as JSON on stdout")
    run.add_argument("--no-models", action="store_true", help="skip building SQL models and checks")
    run.set_defaults(handler=_cmd_run)

    demo = sub.add_parser("demo", help="run everything offline against the bundled simulator",
                          description="Starts the simulator on a free loopback port, loads it into "
                                      "demo/bsg.duckdb, advances the simulated clock a day "
                                      "and runs again.")
    demo.add_argument("--campaigns", type=int, default=400, help="campaigns in the simulator (default 400)")
    demo.add_argument("--dir", default="demo", help="where the DuckDB file and pipeline state go (default demo/)")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(handler=_cmd_demo)

    status = sub.add_parser("status", help="show the incremental state: cursors, open campaigns, last run")
    _destination_args(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_cmd_status)

    models = sub.add_parser("models", help="rebuild the SQL models (views) and run the data-quality checks")
    _destination_args(models)
    models.add_argument("--strict", action="store_true", help="exit 3 when a check fails")
    models.set_defaults(handler=_cmd_models)

    from bsg_campaigns.simulator.__main__ import add_arguments as simulator_arguments

    simulator = sub.add_parser("simulator", help="serve the bundled API simulator (for trying things by hand)")
    simulator_arguments(simulator)
    simulator.set_defaults(handler=_cmd_simulator)
    return parser


def _destination_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--destination", help="dlt destination name (default duckdb; e.g. postgres)")
    parser.add_argument("--dataset", help=f"dataset/schema name (default {defaults.DATASET_NAME})")
    parser.add_argument("--pipelines-dir", help="where dlt keeps local pipeline state (default: dlt's)")


def _pipeline(args: argparse.Namespace, duckdb_path: Optional[str] = None, read_only: bool = False) -> dlt.Pipeline:
    from bsg_campaigns.app.runner import make_pipeline

    return make_pipeline(args.destination, args.dataset, args.pipelines_dir, duckdb_path=duckdb_path,
                         read_only=read_only)


def _cmd_run(args: argparse.Namespace) -> int:
    from bsg_campaigns.app.runner import run

    if args.campaign_ids and (args.start_date or args.end_date):
        raise UserError("--campaign-id fetches exactly the campaigns named, --start-date/--end-date a creation-date "
                        "range: use one or the other. Nothing was run.")
    if args.start_date and args.end_date and _not_after(args.end_date, args.start_date):
        raise UserError(f"--end-date {args.end_date} is not after --start-date {args.start_date}: the backfill "
                        "range would be empty. Nothing was run.")
    report = RunReport(_on_progress=progress_printer())
    source_args: Dict[str, Any] = {}
    if args.campaign_ids:
        source_args["campaign_ids"] = args.campaign_ids
    if args.start_date or args.end_date:
        source_args["backfill_start"], source_args["backfill_end"] = args.start_date, args.end_date
    pipeline = _pipeline(args)
    try:
        with gc_tuned_for_bulk():
            run(pipeline, report, build_models=not args.no_models, **source_args)
    except RunFailed as exc:
        report.finish("failed", str(exc))
        _write_summary(pipeline, report)
        raise
    report.finish("ok")
    _write_summary(pipeline, report)
    _print_report(report, args.json)
    return _exit_code(report, args.strict)


def _exit_code(report: RunReport, strict: bool) -> int:
    if strict and (report.rejected or report.checks.get("failures")):
        return EXIT_STRICT
    return EXIT_OK


def _print_report(report: RunReport, as_json: bool) -> None:
    clear_progress()
    if as_json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
        return
    print(report.summary_text())
    if report.checks.get("text"):
        print(report.checks["text"])


def _write_summary(pipeline: Any, report: RunReport) -> None:
    """Machine-readable summary for schedulers: <pipelines dir>/<pipeline>/last_run.json."""
    try:
        path = Path(pipeline.working_dir) / "last_run.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.as_dict(), indent=2, default=str))
    except OSError:
        pass


def _cmd_status(args: argparse.Namespace) -> int:
    from bsg_campaigns.load.steps import duckdb_file, legacy_source_state
    from bsg_campaigns.app.runner import destination_unreachable
    from bsg_campaigns.incremental.state import open_campaigns

    pipeline = _pipeline(args, read_only=True)  # the published DuckDB file: never blocks, nor is blocked by, a run
    database = duckdb_file(pipeline)
    try:
        if not pipeline.state.get("sources") and (database is None or database.exists()):
            # A fresh machine: the state lives at the destination. A dataset that does not
            # exist yet is not an error (dlt finds no state); a warehouse it cannot reach is.
            pipeline.sync_destination()
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none as "No runs yet"
        raise destination_unreachable(pipeline, exc) from None
    source_state = pipeline.state.get("sources", {}).get(defaults.SOURCE_NAME, {})
    legacy = None if source_state else legacy_source_state(pipeline)  # upgraded from 0.1, not run since
    source_state = source_state or legacy or {}
    opened = list(open_campaigns(source_state))
    info = {"pipeline": pipeline.pipeline_name, "dataset": pipeline.dataset_name,
            "destination": str(pipeline.destination.destination_name if pipeline.destination else None),
            "cursors": source_state.get("cursors", {}), "open_campaigns": len(opened),
            "retrying": source_state.get("retry", {}), "last_run": source_state.get("last_run"),
            "known_extra_fields": source_state.get("seen_extra_fields", []),
            "adopted_from": defaults.LEGACY_PIPELINE_NAME if legacy else None}
    if args.json:
        print(json.dumps({**info, "open": opened}, indent=2, default=str))
        return EXIT_OK
    if not source_state:
        print(f"No runs yet for pipeline {pipeline.pipeline_name!r} (dataset {pipeline.dataset_name!r}).")
        return EXIT_OK
    print(f"pipeline {info['pipeline']} → {info['destination']} dataset {info['dataset']}")
    if legacy:
        print(f"state of pipeline {defaults.LEGACY_PIPELINE_NAME!r} (the name before 0.2): the next run adopts it")
    print("cursors (newest campaign creation time listed, per type):")
    for campaign_type, cursor in sorted(info["cursors"].items()):
        print(f"  {campaign_type:10s} {cursor}")
    print(f"campaigns still being refreshed: {len(opened)}")
    for entry in opened[:15]:
        print(f"  {entry['campaign_id']}  {entry.get('type') or '-':6s} {entry.get('status') or '-':10s} "
              f"finished {entry.get('finished_at') or '-'}")
    if len(opened) > 15:
        print(f"  … and {len(opened) - 15} more (--json lists all)")
    if info["retrying"]:
        print(f"campaigns to retry (rejected or failed): {len(info['retrying'])}")
    if info["last_run"]:
        print("last run: " + ", ".join(f"{k}={v}" for k, v in info["last_run"].items()))
    return EXIT_OK


def _cmd_models(args: argparse.Namespace) -> int:
    from bsg_campaigns.app.runner import build_and_check, published_snapshot, run_lock
    from bsg_campaigns.config import check_settings

    pipeline = _pipeline(args)
    report = RunReport()
    with run_lock(pipeline), published_snapshot(pipeline):  # views are written like a run's loads
        build_and_check(pipeline, report, *check_settings({}))
    print("built views: " + ", ".join(report.models))
    print(report.checks.get("text", "no checks"))
    return EXIT_STRICT if args.strict and report.checks.get("failures") else EXIT_OK


def _cmd_simulator(args: argparse.Namespace) -> int:
    from bsg_campaigns.simulator.__main__ import serve

    return serve(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from bsg_campaigns.app.demo import run_demo

    with gc_tuned_for_bulk():
        return run_demo(Path(args.dir), campaigns=args.campaigns, seed=args.seed, progress=progress_printer())


@contextmanager
def gc_tuned_for_bulk() -> Iterator[None]:
    """A run allocates millions of short-lived objects (rows, parsed JSON) on top of a heap of
    imported modules that the cyclic collector would otherwise keep rescanning: freeze what exists
    at start and collect young objects less often. Garbage collection is process-wide, so only
    the command line, which owns its process, does this (never the library calls: an embedding
    program keeps its own settings), and it restores exactly what it found: the thresholds, and
    the frozen set (frozen only when nothing was frozen before, so unfreeze() releases only
    what this froze)."""
    thresholds = gc.get_threshold()
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.collect()
        gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if freeze:
            gc.unfreeze()


if __name__ == "__main__":
    console_main()
