"""Airflow DAG: the connector embedded in your own dlt pipeline, through its public calls.

Copy into your DAGs folder with this package installed in the Airflow environment
(`pip install "bsg-campaigns[postgres]"`). Configuration comes from the environment as dlt reads
it (SOURCES__BSG__API_KEY, DESTINATION__POSTGRES__CREDENTIALS, ...). The incremental state is
restored from the destination, so workers may start empty; with BSG_PIPELINES_DIR on storage
that outlives a worker, a load killed half-way is finished by the next run without loading a
row twice (exclusive_run).

Two tasks, so that failed data-quality checks fail only the second one: the load has committed.
dlt's own `PipelineTasksGroup` is not used: it runs `pipeline.run()` itself, with no place for
the run lock and the settling of an interrupted load around it.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import dlt

from bsg_campaigns import bsg_source, build_models_and_checks, exclusive_run
from bsg_campaigns.settings import DATASET_NAME, PIPELINE_NAME


def bsg_pipeline() -> dlt.Pipeline:
    destination = os.environ.get("BSG_DESTINATION", "postgres")
    pipelines_dir = os.environ.get("BSG_PIPELINES_DIR") or None  # None: dlt's default
    return dlt.pipeline(pipeline_name=PIPELINE_NAME, destination=destination, dataset_name=DATASET_NAME,
                        pipelines_dir=pipelines_dir)


def load() -> dict:
    """Extract and load: one run at a time, an interrupted run's leftovers loaded first."""
    pipeline = bsg_pipeline()
    with exclusive_run(pipeline):
        info = pipeline.run(bsg_source())
    return {"load_ids": list(info.loads_ids), "dataset": pipeline.dataset_name}


def models_and_checks() -> dict:
    """Rebuild the SQL views; a failed error-severity check fails the task (ChecksFailed)."""
    result = build_models_and_checks(bsg_pipeline(), strict=True)
    return {"views": result.views, "warnings": [check.name for check in result.checks.warnings]}


try:
    from airflow.decorators import dag, task
except ImportError:  # imported outside Airflow (tests/test_deploy.py runs the task callables)
    dag = task = None

if dag is not None:

    @dag(schedule="15 */6 * * *", start_date=datetime(2026, 1, 1), catchup=False, max_active_runs=1,
         default_args={"retries": 1, "retry_delay": timedelta(minutes=15)})
    def bsg_campaigns_load():
        task(load)() >> task(models_and_checks)()

    bsg_campaigns_load()
