"""Data-quality checks: each file under `sql/checks/` is a query returning offending rows; here
they run (count + a small sample) against the pipeline's dataset and become a compact report."""

from __future__ import annotations

import datetime as _dt
import decimal
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from sqlglot import exp

from bsg_campaigns.analyst.sqlcompile import (SAMPLE_ROWS, SOURCE_TABLES, CheckContext, SqlFile, TablePath, check_files,
                         check_relations, generate, parse_sql, qualify)
from bsg_campaigns.analyst.viewcache import (SqlCache, client_dialect, client_table_path, compile_key, missing_source_tables,
                        pipeline_cache, uses_check_context)

logger = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


@dataclass
class CheckResult:
    name: str
    severity: str  # "error" | "warning"
    offending_rows: int
    sample: List[Dict[str, Any]] = field(default_factory=list)
    description: str = ""
    error: Optional[str] = None  # the check could not run (counts as a failure / warning)
    query: str = ""  # the executed SELECT (destination dialect)

    @property
    def passed(self) -> bool:
        return self.error is None and self.offending_rows == 0

    @property
    def summary(self) -> str:
        """The description's first sentence, for one-line reports."""
        first = self.description.split(". ")[0].rstrip(".")
        return first if len(first) <= 110 else first[:107] + "..."

    @property
    def outcome(self) -> str:
        if self.passed:
            return "ok"
        return "FAIL" if self.severity == "error" else "WARN"

    def to_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "severity": self.severity,
            "outcome": self.outcome,
            "offending_rows": self.offending_rows,
            "sample": [{k: _jsonable(v) for k, v in row.items()} for row in self.sample],
            "description": self.description,
            "error": self.error,
        }


@dataclass
class ChecksReport:
    results: List[CheckResult] = field(default_factory=list)
    context: Optional[CheckContext] = None

    @property
    def failures(self) -> List[CheckResult]:
        return [r for r in self.results if r.severity == "error" and not r.passed]

    @property
    def warnings(self) -> List[CheckResult]:
        return [r for r in self.results if r.severity == "warning" and not r.passed]

    @property
    def ok(self) -> bool:
        return not self.failures

    def result(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_text(self, max_sample_rows: int = 2) -> str:
        lines = [
            f"data-quality checks: {len(self.results)} run, {len(self.failures)} failed,"
            f" {len(self.warnings)} warning(s)"
        ]
        for r in self.results:
            if r.passed:
                continue
            if r.error is not None:
                lines.append(f"  {r.outcome:<4} {r.name}: could not run: {r.error.splitlines()[0][:200]}")
                continue
            lines.append(f"  {r.outcome:<4} {r.name}: {r.offending_rows} offending row(s) - {r.summary}")
            for row in r.sample[:max_sample_rows]:
                shown = ", ".join(f"{k}={_jsonable(v)}" for k, v in row.items())
                lines.append(f"       e.g. {shown if len(shown) <= 160 else shown[:157] + '...'}")
        passed = [r.name for r in self.results if r.passed]
        if passed:
            lines.append(f"  ok   {', '.join(passed)}")
        return "\n".join(lines)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "ok": self.ok,
            "failures": len(self.failures),
            "warnings": len(self.warnings),
            "context": None
            if self.context is None
            else {
                "refresh_window_hours": self.context.refresh_window_hours,
                "campaigns_listed": self.context.campaigns_listed,
                "campaigns_loaded": self.context.campaigns_loaded,
            },
            "results": [r.to_dict() for r in self.results],
        }


def check_sql(
    sql_file: SqlFile,
    dialect: str,
    table_path: TablePath,
    relations: Dict[str, exp.Query],
    missing_tables: Sequence[str] = (),
) -> Tuple[str, str]:
    """(COUNT(*) query, sample query) of one check file. The count drops the file's ORDER BY
    (the order cannot change a count, and sorting the offending rows is not free)."""
    query = parse_sql(sql_file.text, str(sql_file.path))
    qualified = qualify(
        query, table_path, source=str(sql_file.path), missing_tables=missing_tables, relations=relations
    )
    unordered = qualified.copy()
    if not unordered.args.get("limit") and not unordered.args.get("offset"):
        unordered.set("order", None)
    count = exp.select(exp.func("COUNT", exp.Star()).as_("offending_rows")).from_(
        unordered.subquery("offending")
    )
    sample = qualified.limit(SAMPLE_ROWS)
    return generate(count, dialect, str(sql_file.path)), generate(sample, dialect, str(sql_file.path))


def check_statements(
    dialect: str,
    table_path: TablePath,
    context: CheckContext,
    missing_tables: Sequence[str] = (),
    sql_dir: Optional[Path] = None,
    cache: Optional[SqlCache] = None,
) -> List[Tuple[SqlFile, str, str]]:
    """(check file, COUNT(*) query, sample query) per check, in the destination's dialect; with a
    `cache`, sqlglot only runs for files whose inputs changed (see viewcache.compile_key)."""
    context.validate()
    relations: Optional[Dict[str, exp.Query]] = None
    values = (context.refresh_window_hours, context.campaigns_listed, context.campaigns_loaded,
              list(context.final_statuses))
    out = []
    for sql_file in check_files(sql_dir):
        key = None
        if cache is not None:
            key = compile_key("check", sql_file.name, sql_file.text, dialect, table_path, missing_tables, values)
            cached = cache.get(key)
            if cached is not None and len(cached) == 2:
                out.append((sql_file, cached[0], cached[1]))
                continue
        if relations is None:
            relations = check_relations(context)
        count_sql, sample_sql = check_sql(sql_file, dialect, table_path, relations, missing_tables)
        if cache is not None and key is not None:
            cache.put(key, [count_sql, sample_sql], persist=not uses_check_context(sql_file.text))
        out.append((sql_file, count_sql, sample_sql))
    return out


def all_counts_sql(count_statements: Sequence[str]) -> str:
    """One statement returning every check's count, one row each: `SELECT 0 AS check_index,
    (<count 0>) AS offending_rows UNION ALL SELECT 1, (<count 1>) ...`. Each part is a complete
    COUNT(*) query generated above for this dialect, used as a scalar subquery (valid in every
    supported dialect); nothing else goes into the text. (UNION ALL rather than one row of scalar
    subqueries: DuckDB plans the cross product of ten subqueries twice as slowly as its parts.)"""
    return "\nUNION ALL\n".join(
        f"SELECT {index} AS check_index, ({sql}) AS offending_rows" for index, sql in enumerate(count_statements)
    )


def run_checks(pipeline: Any, context: Optional[CheckContext] = None, *, client: Any = None,
               cache: Optional[SqlCache] = None, missing_tables: Optional[Sequence[str]] = None) -> ChecksReport:
    """Runs every check of `CHECKS` against the pipeline's dataset (after `build_models`): all
    counts in one statement, then a sample of the offending rows of each failing check. When that
    statement fails, each count runs on its own, so a check whose query fails is reported with its
    error instead of stopping the others. `client`: an open SQL client of the pipeline to reuse;
    `missing_tables`: the source tables it lacks, when the caller just probed them."""
    context = context if context is not None else CheckContext()
    context.validate()
    if cache is None:
        cache = pipeline_cache(pipeline)
    if client is None:
        with pipeline.sql_client() as own_client:
            return run_checks(pipeline, context, client=own_client, cache=cache, missing_tables=missing_tables)
    report = ChecksReport(context=context)
    dialect = client_dialect(client)
    table_path = client_table_path(client)
    if missing_tables is not None:
        missing = list(missing_tables)
    elif client.has_dataset():
        missing = missing_source_tables(client, dialect, table_path)
    else:
        missing = list(SOURCE_TABLES)
    statements = check_statements(dialect, table_path, context, missing, cache=cache)
    cache.save()
    counts: Optional[Dict[int, Any]] = None
    try:
        rows = client.execute_sql(all_counts_sql([count_sql for _, count_sql, _ in statements]))
        counts = {int(index): value for index, value in rows or []}
    except Exception as ex:  # some check cannot run: find out which, one by one
        logger.info("running the checks one by one: %s", ex)
    for index, (sql_file, count_sql, sample_sql) in enumerate(statements):
        result = CheckResult(
            name=sql_file.name,
            severity=sql_file.severity,
            offending_rows=0,
            description=sql_file.description,
            query=sample_sql,
        )
        try:
            if counts is not None and index in counts:
                result.offending_rows = int(counts[index] or 0)
            else:
                rows = client.execute_sql(count_sql)
                result.offending_rows = int(rows[0][0]) if rows else 0
            if result.offending_rows:
                with client.execute_query(sample_sql) as cursor:
                    columns = [d[0] for d in cursor.description]
                    result.sample = [dict(zip(columns, row)) for row in cursor.fetchall()]
        except Exception as ex:  # report, keep checking
            logger.warning("check %s could not run: %s", sql_file.name, ex)
            result.error = f"{type(ex).__name__}: {ex}"
        report.results.append(result)
    return report
