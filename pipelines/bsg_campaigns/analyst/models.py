"""The analyst layer's views: every model file under `sql/` (staging, then marts) built as a view
in the pipeline's dataset through dlt's SQL client, in the destination's own dialect.

Public API (the CLI calls exactly these):

    build_models(pipeline) -> list[str]                   # views built, in order
    run_checks(pipeline, context: CheckContext) -> ChecksReport   (from checks.py)
    build_models_and_run_checks(pipeline, context) -> (list[str], ChecksReport)   # both, one connection

The compiled statements are cached (this process + the pipeline's working dir) and a build whose
statements equal what the dataset already holds runs no DDL at all: see viewcache.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

from bsg_campaigns import settings as defaults
from bsg_campaigns.analyst.checks import CheckResult, ChecksReport, check_statements, run_checks
from bsg_campaigns.analyst.sqlcompile import (CHECKS, MODELS, SQL_DIR, CheckContext, SqlFile, TablePath, compile_file, model_names,
                                             view_ddl, view_statements)
from bsg_campaigns.analyst.exceptions import SqlModelError
from bsg_campaigns.analyst.viewcache import (SqlCache, bookkeeping_statements, client_dialect, client_table_path, compile_key,
                        definition_hash, missing_source_tables, pipeline_cache, stored_definitions)

__all__ = [
    "build_models", "run_checks", "build_models_and_run_checks", "CheckContext", "ChecksReport",
    "CheckResult", "SqlModelError", "compile_file", "view_statements", "check_statements", "MODELS",
    "CHECKS", "SQL_DIR", "models_and_checks",
]

logger = logging.getLogger(__name__)


def build_models(pipeline: Any, *, force: bool = False, client: Any = None, cache: Optional[SqlCache] = None,
                 missing_out: Optional[List[str]] = None, sql_dir: Optional[Path] = None) -> List[str]:
    """Makes every model of `MODELS` a view in the pipeline's dataset, in order. When the dataset's
    bookkeeping (`_bsg_views`) shows exactly these statements built and every view readable, no
    DDL runs; otherwise (or with `force`), inside one transaction, all views are dropped (reverse
    order, CASCADE) then created, so a changed column list never trips `CREATE OR REPLACE VIEW`,
    and the bookkeeping is rewritten. Returns the names of the views, in build order
    (`missing_out`, when given, receives the source tables found missing; `sql_dir` replaces the
    repository's `sql/` folder, for tests)."""
    cache = cache if cache is not None else pipeline_cache(pipeline)
    if client is None:
        with pipeline.sql_client() as own_client:
            return build_models(pipeline, force=force, client=own_client, cache=cache, missing_out=missing_out,
                                sql_dir=sql_dir)
    dialect = client_dialect(client)
    table_path = client_table_path(client)
    names = model_names()
    stored = None if force else stored_definitions(client, dialect, table_path, names)
    if stored is None and not client.has_dataset():
        client.create_dataset()
    missing = missing_source_tables(client, dialect, table_path)
    if missing_out is not None:
        missing_out[:] = missing
    if missing:
        logger.info("source tables not loaded yet, modelled as empty: %s", ", ".join(missing))

    names, drops, creates = cached_view_statements(cache, dialect, table_path, missing, sql_dir)
    cache.save()
    hashes = {name: definition_hash(create) for name, create in zip(names, creates)}
    if stored == hashes:
        logger.info("views in %s unchanged, nothing to rebuild: %s", client.dataset_name, ", ".join(names))
        return names
    with client.begin_transaction():
        for statement in drops + creates + bookkeeping_statements(dialect, table_path, hashes):
            client.execute_sql(statement)
    logger.info("built %d views in %s: %s", len(names), client.dataset_name, ", ".join(names))
    return names


def cached_view_statements(cache: SqlCache, dialect: str, table_path: TablePath, missing: Sequence[str] = (),
                           sql_dir: Optional[Path] = None) -> Tuple[List[str], List[str], List[str]]:
    """sqlcompile.view_statements, each file's (DROP, CREATE) through `cache`."""

    def compile_view(sql_file: SqlFile) -> Tuple[str, str]:
        key = compile_key("view", sql_file.name, sql_file.text, dialect, table_path, missing)
        cached = cache.get(key)
        if cached is not None and len(cached) == 2:
            return cached[0], cached[1]
        drop, create = view_ddl(sql_file, dialect, table_path, missing)
        cache.put(key, [drop, create])
        return drop, create

    return view_statements(dialect, table_path, missing, sql_dir, compile_view=compile_view)


def build_models_and_run_checks(pipeline: Any, context: Optional[CheckContext] = None,
                                *, force: bool = False) -> Tuple[List[str], ChecksReport]:
    """`build_models` then `run_checks` over one connection (what a run does after loading)."""
    cache = pipeline_cache(pipeline)
    with pipeline.sql_client() as client:
        missing: List[str] = []
        names = build_models(pipeline, force=force, client=client, cache=cache, missing_out=missing)
        return names, run_checks(pipeline, context, client=client, cache=cache, missing_tables=missing)


def models_and_checks(pipeline: Any, refresh_window_hours: float,
                      final_statuses: Sequence[str] = defaults.FINAL_STATUSES) -> Tuple[List[str], ChecksReport]:
    """The views built and the checks run, for a caller that already holds the run lock. The
    checks compare what the last run set out to read with what it loaded, from the source state
    that run committed; `refresh_window_hours` is the validated setting (config.SourceSettings:
    the caller read it once, for the run or through config.check_settings)."""
    last_run = pipeline.state.get("sources", {}).get(defaults.SOURCE_NAME, {}).get("last_run") or {}
    fetched = last_run.get("fetched")
    context = CheckContext(
        refresh_window_hours=int(refresh_window_hours),
        final_statuses=tuple(final_statuses),
        campaigns_listed=None if fetched is None else fetched + last_run.get("gone", 0) + last_run.get("failed", 0),
        campaigns_loaded=None if fetched is None else fetched - last_run.get("rejected", 0))
    return build_models_and_run_checks(pipeline, context)
