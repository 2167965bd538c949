"""Airflow DAG using dlt's own Airflow integration (`dlt.helpers.airflow_helper`).

Copy into your DAGs folder with this package installed in the Airflow environment. Config comes
from Airflow variables / environment as dlt reads it (SOURCES__BSG__API_KEY, destination
credentials). The state is restored from the destination, so workers may start empty.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import dlt
from airflow.decorators import dag, task
from dlt.helpers.airflow_helper import PipelineTasksGroup

from bsg_campaigns import bsg_source
from bsg_campaigns.settings import DATASET_NAME, PIPELINE_NAME


@dag(schedule="15 */6 * * *", start_date=datetime(2026, 1, 1), catchup=False, max_active_runs=1,
     default_args={"retries": 1, "retry_delay": timedelta(minutes=15)})
def bsg_campaigns_load():
    tasks = PipelineTasksGroup(PIPELINE_NAME, use_data_folder=False, wipe_local_data=True,
                               use_task_logger=True)
    pipeline = dlt.pipeline(pipeline_name=PIPELINE_NAME, dataset_name=DATASET_NAME, destination="postgres")
    # One task: the source's resources share one fetch, so they must not be split apart.
    load_tasks = tasks.add_run(pipeline, bsg_source(), decompose="none")

    @task
    def models_and_checks() -> dict:
        """Rebuild the SQL views and fail the task when a data-quality check fails."""
        from bsg_campaigns.report import RunReport
        from bsg_campaigns.runner import build_and_check, source_refresh_hours

        report = RunReport()
        build_and_check(pipeline, report, source_refresh_hours({}))
        if report.checks.get("failures"):
            raise RuntimeError(report.checks.get("text", "data-quality checks failed"))
        return {"models": report.models, "checks": report.checks.get("summary")}

    load_tasks[-1] >> models_and_checks()


bsg_campaigns_load()
