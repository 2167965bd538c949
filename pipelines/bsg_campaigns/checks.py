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

from .sqlcompile import (SAMPLE_ROWS, SOURCE_TABLES, CheckContext, SqlFile, TablePath,
                         _client_table_path, _dialect, _missing_source_tables, check_files,
                         check_relations, generate, parse_sql, qualify)

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

    def exit_code(self, strict: bool = False) -> int:
        """1 when `strict` and any error-severity check failed, else 0 (warnings never fail)."""
        return 1 if strict and not self.ok else 0

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


def check_statements(
    dialect: str,
    table_path: TablePath,
    context: CheckContext,
    missing_tables: Sequence[str] = (),
    sql_dir: Optional[Path] = None,
) -> List[Tuple[SqlFile, str, str]]:
    """(check file, COUNT(*) query, sample query) per check, in the destination's dialect."""
    relations = check_relations(context)
    out = []
    for sql_file in check_files(sql_dir):
        query = parse_sql(sql_file.text, str(sql_file.path))
        qualified = qualify(
            query,
            table_path,
            source=str(sql_file.path),
            missing_tables=missing_tables,
            relations=relations,
        )
        count = exp.select(exp.func("COUNT", exp.Star()).as_("offending_rows")).from_(
            qualified.subquery("offending")
        )
        sample = qualified.copy().limit(SAMPLE_ROWS)
        out.append(
            (
                sql_file,
                generate(count, dialect, str(sql_file.path)),
                generate(sample, dialect, str(sql_file.path)),
            )
        )
    return out


def run_checks(pipeline: Any, context: Optional[CheckContext] = None) -> ChecksReport:
    """Runs every check of `CHECKS` against the pipeline's dataset (after `build_models`). A check
    whose query fails is reported with its error instead of stopping the others."""
    context = context if context is not None else CheckContext()
    context.validate()
    report = ChecksReport(context=context)
    with pipeline.sql_client() as client:
        dialect = _dialect(client)
        table_path = _client_table_path(client)
        missing = _missing_source_tables(client, dialect, table_path) if client.has_dataset() else list(SOURCE_TABLES)
        for sql_file, count_sql, sample_sql in check_statements(dialect, table_path, context, missing):
            result = CheckResult(
                name=sql_file.name,
                severity=sql_file.severity,
                offending_rows=0,
                description=sql_file.description,
                query=sample_sql,
            )
            try:
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
