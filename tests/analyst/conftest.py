"""Fixtures for the analyst layer: the crafted data of analyst_data.py loaded through a real dlt
pipeline into DuckDB and (when a server answers) PostgreSQL, with the models built."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import List, Optional

import pytest

# `bsg_campaigns` normally comes from PYTHONPATH=pipelines or the editable install
if str(Path(__file__).resolve().parents[2] / "pipelines") not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parents[2] / "pipelines"))
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt  # noqa: E402
from dlt.destinations.impl.postgres.configuration import PostgresCredentials  # noqa: E402

from .analyst_data import (  # noqa: E402
    POSTGRES_HOST,
    POSTGRES_PORT,
    POSTGRES_URL,
    bad_dataset,
    clean_dataset,
    drop_postgres_dataset,
    duckdb_pipeline,
    load,
    postgres_answers,
)
from bsg_campaigns.analyst import models  # noqa: E402


@pytest.fixture(scope="session")
def clean_duckdb(tmp_path_factory: pytest.TempPathFactory) -> dlt.Pipeline:
    directory = tmp_path_factory.mktemp("clean_duckdb")
    pipeline = duckdb_pipeline(directory, "clean")
    load(pipeline, clean_dataset())
    models.build_models(pipeline)
    return pipeline


@pytest.fixture(scope="session")
def bad_duckdb(tmp_path_factory: pytest.TempPathFactory) -> dlt.Pipeline:
    directory = tmp_path_factory.mktemp("bad_duckdb")
    pipeline = duckdb_pipeline(directory, "bad")
    load(pipeline, bad_dataset())
    models.build_models(pipeline)
    return pipeline


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------


def _no_postgres(reason: str) -> None:
    """Skip, except where PostgreSQL is required (`.ci/run` sets BSG_REQUIRE_POSTGRES=1): there a
    missing server fails every PostgreSQL test instead of silently skipping the analyst suite."""
    if os.environ.get("BSG_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"BSG_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_factory(tmp_path_factory: pytest.TempPathFactory):
    """Makes pipelines on the local PostgreSQL, each in its own unique dataset, dropped at the end."""
    if not postgres_answers():
        _no_postgres(f"no PostgreSQL server answers on {POSTGRES_HOST}:{POSTGRES_PORT}")
    created: List[dlt.Pipeline] = []

    def make(name: str, session_timezone: Optional[str] = None) -> dlt.Pipeline:
        dataset = f"bsg_analyst_{name}_{uuid.uuid4().hex[:10]}"
        credentials = PostgresCredentials(POSTGRES_URL)
        credentials.session_timezone = session_timezone
        pipeline = dlt.pipeline(
            pipeline_name=f"analyst_pg_{name}_{uuid.uuid4().hex[:6]}",
            destination=dlt.destinations.postgres(credentials=credentials),
            dataset_name=dataset,
            pipelines_dir=str(tmp_path_factory.mktemp(f"pg_{name}")),
        )
        created.append(pipeline)
        return pipeline

    try:
        probe = make("probe")
        with probe.sql_client() as client:
            client.execute_sql("SELECT 1")
    except Exception as ex:
        _no_postgres(f"PostgreSQL at {POSTGRES_URL} does not accept connections: {ex}")
    yield make
    for pipeline in created:
        drop_postgres_dataset(pipeline)


@pytest.fixture(scope="session")
def clean_postgres(postgres_factory) -> dlt.Pipeline:
    # a session far from UTC: dates and hours must not move (DuckDB's session stays in UTC)
    pipeline = postgres_factory("clean", session_timezone="Asia/Tokyo")
    load(pipeline, clean_dataset())
    models.build_models(pipeline)
    return pipeline


@pytest.fixture(scope="session")
def bad_postgres(postgres_factory) -> dlt.Pipeline:
    pipeline = postgres_factory("bad")
    load(pipeline, bad_dataset())
    models.build_models(pipeline)
    return pipeline
