"""The calls for using the connector inside your own dlt pipeline and orchestrator (README, "Use
it as a library"). The source declares what its tables need (types, keys, file format per
destination), so `pipeline.run(bsg_source())` loads exactly what `bsg-campaigns run` loads; these
add what a plain `pipeline.run()` does not do:

    with exclusive_run(pipeline):            # one run at a time; an interrupted run's load settled
        pipeline.run(bsg_source())
    build_models_and_checks(pipeline)        # the SQL views in sql/ + the data-quality checks
    run(pipeline)                            # all of the above, as `bsg-campaigns run` does it
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, List, Optional

import dlt

from bsg_campaigns.config import check_settings, resolve_settings
from bsg_campaigns.load.steps import finish_interrupted_load, load_memory_limit
from bsg_campaigns.report import RunReport
from bsg_campaigns.app.runner import published_snapshot, run_lock
from bsg_campaigns.app.runner import run as _runner_run
from bsg_campaigns.exceptions import ChecksFailed, RunFailed, UserError

if TYPE_CHECKING:  # the analyst layer (sqlglot) loads only when models are built
    from bsg_campaigns.analyst.checks import ChecksReport

__all__ = ["exclusive_run", "build_models_and_checks", "run", "ModelsAndChecks", "ChecksFailed", "RunFailed",
           "UserError"]


@dataclass
class ModelsAndChecks:
    views: List[str]  # built, in build order
    checks: "ChecksReport"  # .ok, .failures, .warnings, .to_text()


@contextmanager
def exclusive_run(pipeline: dlt.Pipeline) -> Iterator[dlt.Pipeline]:
    """Wrap your own `pipeline.run(bsg_source())` in this. It takes the run lock first (per
    pipeline, and per DuckDB file): a second run of the same pipeline raises `RunFailed` at once,
    touching nothing. Then it loads what an interrupted run left pending, without loading any of
    its rows twice (dlt alone would re-run jobs that had already committed, and its `run()` would
    load only those leftovers and ignore the new data). Raises `UserError` for a bad
    `duckdb_load_memory_limit` setting; a failing load raises dlt's `PipelineStepFailed`. On a
    DuckDB working copy (`load.publish.working_copy(path)` as the file, what the CLI does) the
    completed loads are published to `path` when the block ends, so readers never block it."""
    memory_limit = load_memory_limit(resolve_settings(pipeline.pipeline_name))  # pipeline-scoped too
    with run_lock(pipeline), published_snapshot(pipeline):
        if pipeline.has_pending_data:
            finish_interrupted_load(pipeline, memory_limit)
        yield pipeline


def build_models_and_checks(pipeline: dlt.Pipeline, *, refresh_window_hours: Optional[float] = None,
                            strict: bool = False) -> ModelsAndChecks:
    """Build the SQL views (`sql/`: staging, then marts) in the dataset of any pipeline that
    loaded `bsg_source` (DuckDB, PostgreSQL, or another dlt SQL destination; the SQL is
    transpiled to its dialect), then run the data-quality checks. The checks compare what the
    last run set out to read with what it loaded, from the source state that run committed.
    `refresh_window_hours` defaults to the configured one. With `strict`, a failed
    error-severity check raises `ChecksFailed` (to fail an orchestrator's task)."""
    hours, final_statuses = check_settings({} if refresh_window_hours is None
                                           else {"refresh_window_hours": refresh_window_hours})
    with run_lock(pipeline), published_snapshot(pipeline):  # views are written like a run's loads
        from bsg_campaigns.analyst.models import models_and_checks

        result = ModelsAndChecks(*models_and_checks(pipeline, hours, final_statuses))
    if strict and not result.checks.ok:
        raise ChecksFailed(result)
    return result


def run(pipeline: dlt.Pipeline, *, build_models: bool = True, report: Optional[RunReport] = None,
        **source_args: Any) -> RunReport:
    """The whole safe run, exactly what `bsg-campaigns run` does, on your pipeline: the run lock,
    an interrupted load finished first, extract and load with DuckDB's memory capped during the
    load, then the views and checks. `source_args` are `bsg_source` arguments (they override the
    configuration). Returns the run's report (counts, requests, checks). Raises `UserError` for
    what the user must fix (a setting, the api key) and `RunFailed` when the API or the
    destination failed (nothing of the run was committed; the next run resumes)."""
    return _runner_run(pipeline, report, build_models=build_models, **source_args)
