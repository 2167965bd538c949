"""The analyst layer's views: every model file under `sql/` (staging, then marts) built as a view
in the pipeline's dataset through dlt's SQL client, in the destination's own dialect.

Public API (the CLI calls exactly these):

    build_models(pipeline) -> list[str]                   # views built, in order
    run_checks(pipeline, context: CheckContext) -> ChecksReport   (from checks.py)
"""

from __future__ import annotations

import logging
from typing import Any, List

from .checks import CheckResult, ChecksReport, check_statements, run_checks
from .sqlcompile import (CHECKS, MODELS, SQL_DIR, CheckContext, SqlModelError, _client_table_path,
                         _dialect, _missing_source_tables, compile_file, view_statements)

__all__ = [
    "build_models", "run_checks", "CheckContext", "ChecksReport", "CheckResult", "SqlModelError",
    "compile_file", "view_statements", "check_statements", "MODELS", "CHECKS", "SQL_DIR",
]

logger = logging.getLogger(__name__)


def build_models(pipeline: Any) -> List[str]:
    """(Re)builds every model of `MODELS` as a view in the pipeline's dataset, in order, inside
    one transaction: all views are dropped (reverse order, CASCADE) then created, so a changed
    column list never trips `CREATE OR REPLACE VIEW`. Returns the names of the views built."""
    with pipeline.sql_client() as client:
        dialect = _dialect(client)
        table_path = _client_table_path(client)
        if not client.has_dataset():
            client.create_dataset()
        missing = _missing_source_tables(client, dialect, table_path)
        if missing:
            logger.info("source tables not loaded yet, modelled as empty: %s", ", ".join(missing))
        names, drops, creates = view_statements(dialect, table_path, missing)
        with client.begin_transaction():
            for statement in drops + creates:
                client.execute_sql(statement)
    logger.info("built %d views in %s: %s", len(names), client.dataset_name, ", ".join(names))
    return names
