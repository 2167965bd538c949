"""The .sql files themselves: headers, portability (sqlglot parses and transpiles each one to every
target dialect), qualification rules, identifier validation and consistency with settings.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from bsg_campaigns import settings
from bsg_campaigns.analyst import sqlcompile, templating

ALL_FILES = list(sqlcompile.MODELS) + list(sqlcompile.CHECKS)


def test_sql_dir_is_the_repository_sql_folder():
    assert sqlcompile.SQL_DIR == Path(__file__).resolve().parents[2] / "sql"


def test_every_file_on_disk_is_listed_and_every_listed_file_exists():
    # (the macros the templates call are no model or check of their own)
    on_disk = {p.relative_to(sqlcompile.SQL_DIR).as_posix() for p in sqlcompile.SQL_DIR.rglob("*.sql")
               if p.relative_to(sqlcompile.SQL_DIR).parts[0] != templating.MACRO_DIR}
    assert on_disk == set(ALL_FILES)
    assert all(p.startswith(("staging/", "marts/")) for p in sqlcompile.MODELS)
    assert all(p.startswith("checks/") for p in sqlcompile.CHECKS)


def test_required_models_exist_in_dependency_order():
    names = sqlcompile.model_names()
    assert {"campaign_rates", "daily_rates", "statistics_growth"} <= set(names)
    assert all(n.startswith("stg_") for n in names[:3])
    # each model reads only models listed before it
    for index, relative in enumerate(sqlcompile.MODELS):
        query = sqlcompile.parse_sql(sqlcompile.load_sql_file(relative).text, relative)
        read = {t.name for t in query.find_all(exp.Table)}
        assert read & set(names) <= set(names[:index]), relative


@pytest.mark.parametrize("relative", sqlcompile.MODELS)
def test_model_headers_define_grain_and_point_to_the_columns(relative):
    sql_file = sqlcompile.load_sql_file(relative)
    assert sql_file.header.get("model", "").startswith(sql_file.name)
    assert sql_file.header.get("grain")
    # every output column is documented in sql/columns.yml: tests/analyst/test_column_docs.py
    assert sql_file.header.get("columns", "").startswith("sql/columns.yml")


@pytest.mark.parametrize("relative", sqlcompile.CHECKS)
def test_check_headers(relative):
    sql_file = sqlcompile.load_sql_file(relative)
    first_line = sql_file.text.splitlines()[0]
    assert re.fullmatch(r"-- severity: (error|warning)", first_line)
    assert sql_file.header["check"] == sql_file.name
    assert sql_file.header.get("guards") and sql_file.header.get("offending rows")
    assert 0 < len(sql_file.header.get("summary", "")) <= 100


@pytest.mark.parametrize("relative", ALL_FILES)
@pytest.mark.parametrize("read", ["duckdb", "postgres"])
def test_files_parse_as_duckdb_and_postgres(relative, read):
    text = sqlcompile.load_sql_file(relative).text
    statements = [s for s in sqlglot.parse(text, read=read) if s is not None]
    assert len(statements) == 1 and isinstance(statements[0], exp.Query)
    for dialect in sqlcompile.PORTABLE_DIALECTS:
        assert statements[0].sql(dialect=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)


@pytest.mark.parametrize("relative", ALL_FILES)
@pytest.mark.parametrize("dialect", sqlcompile.PORTABLE_DIALECTS)
def test_runner_text_transpiles_to_every_dialect(relative, dialect):
    text = sqlcompile.compile_file(relative, dialect, "analytics")
    # what the runner produces is itself valid SQL of the target dialect
    parsed = sqlglot.parse_one(text, read=dialect)
    tables = [t for t in parsed.find_all(exp.Table) if t.name in sqlcompile.SOURCE_TABLES or t.name in sqlcompile.model_names()]
    assert all(t.db == "analytics" for t in tables)
    if not relative.endswith("empty_run.sql"):  # empty_run reads only the runner's check_context
        assert tables


@pytest.mark.parametrize("dialect", sqlcompile.PORTABLE_DIALECTS)
def test_view_statements_drop_cascade_then_create(dialect):
    names, drops, creates = sqlcompile.view_statements(dialect, sqlcompile.default_table_path("analytics"))
    assert names == sqlcompile.model_names()
    assert len(drops) == len(creates) == len(names)
    for statement in drops + creates:
        sqlglot.parse_one(statement, read=dialect)
    assert all("DROP VIEW IF EXISTS" in d for d in drops)
    assert all(c.startswith("CREATE VIEW") for c in creates)
    if dialect in ("duckdb", "postgres"):
        assert drops[0] == "DROP VIEW IF EXISTS analytics.message_costs CASCADE"
        assert creates[0].startswith("CREATE VIEW analytics.stg_campaigns AS")


def test_missing_source_tables_become_typed_empty_relations():
    text = sqlcompile.compile_file(
        "marts/campaign_rates.sql", "postgres", "ds", missing_tables=["campaign_statistics"]
    )
    assert "ds.campaign_statistics" not in text  # campaign_rates reads models only
    stg = sqlcompile.compile_file(
        "staging/stg_campaign_statistics.sql", "postgres", "ds", missing_tables=["campaign_statistics"]
    )
    assert "ds.campaign_statistics" not in stg
    assert "CAST(NULL AS BIGINT) AS campaign_id" in stg and "LIMIT 0" in stg


@pytest.mark.parametrize(
    "sql, message",
    [
        ("select * from other_table", "unknown table"),
        ("select * from bsg_campaigns.campaigns", "unqualified"),
        ("select * from check_context", "only available to checks"),
        ("delete from campaigns", "exactly one SELECT"),
        ("select 1; select 2", "exactly one SELECT"),
    ],
)
def test_qualify_refuses(sql, message):
    with pytest.raises(sqlcompile.SqlModelError, match=message):
        query = sqlcompile.parse_sql(sql)
        sqlcompile.qualify(query, sqlcompile.default_table_path("ds"))


def test_qualify_leaves_ctes_alone_and_injects_check_relations():
    query = sqlcompile.parse_sql(
        "with campaigns as (select 1 as campaign_id) select * from campaigns, check_context, stg_campaigns"
    )
    relations = sqlcompile.check_relations(sqlcompile.CheckContext())
    out = sqlcompile.qualify(query, sqlcompile.default_table_path("ds"), relations=relations)
    text = out.sql("postgres")
    assert text.startswith("WITH check_context AS (SELECT CAST(168 AS BIGINT) AS refresh_window_hours")
    assert "FROM campaigns, check_context, ds.stg_campaigns" in text


@pytest.mark.parametrize(
    "name", ["", "1abc", "bsg-campaigns", "bsg campaigns", 'x"; drop schema public cascade; --', "ds.x", None, 5,
             "ds\n", "é", "a" * 64]
)
def test_identifiers_are_validated(name):
    with pytest.raises(sqlcompile.SqlModelError):
        sqlcompile.validate_identifier(name, "dataset name")
    with pytest.raises(sqlcompile.SqlModelError):
        sqlcompile.compile_file("marts/daily_rates.sql", "duckdb", name)


def test_known_statuses_relation_renders_settings():
    relation = sqlcompile.check_relations(sqlcompile.CheckContext())[sqlcompile.KNOWN_STATUSES_RELATION]
    values = [lit.this for lit in relation.find_all(exp.Literal) if lit.is_string]
    assert sorted(values) == sorted(settings.KNOWN_MESSAGE_STATUSES)
    assert len(values) == len(settings.KNOWN_MESSAGE_STATUSES)


def test_staging_pivot_covers_every_known_status():
    for relative in ("staging/stg_campaign_statistics.sql", "staging/stg_campaign_statistics_history.sql"):
        query = sqlcompile.parse_sql(sqlcompile.load_sql_file(relative).text, relative)
        columns = set(query.named_selects)
        for status in settings.KNOWN_MESSAGE_STATUSES:
            assert f"primary_{status}" in columns and f"fallback_{status}" in columns, (relative, status)
        # the 'other' buckets (primary and fallback) exclude exactly the known statuses
        not_in = [node.this for node in query.find_all(exp.Not) if isinstance(node.this, exp.In)]
        assert len(not_in) == 2
        for node in not_in:
            assert sorted(e.this for e in node.expressions) == sorted(settings.KNOWN_MESSAGE_STATUSES)


def test_read_receipt_channels_match_settings():
    query = sqlcompile.parse_sql(sqlcompile.load_sql_file("staging/stg_campaigns.sql").text)
    ins = [node for node in query.find_all(exp.In)]
    assert len(ins) == 1
    assert sorted(e.this for e in ins[0].expressions) == sorted(settings.READ_RECEIPT_CHANNELS)


def test_every_division_is_guarded():
    """Each `/` in the models divides by NULLIF(..., 0) (or by a non-zero literal) and has a
    floating-point numerator, so Postgres never truncates and a zero denominator gives NULL."""
    for relative in ALL_FILES:
        query = sqlcompile.parse_sql(sqlcompile.load_sql_file(relative).text, relative)
        for div in query.find_all(exp.Div):
            right = div.expression
            if isinstance(right, exp.Literal):
                assert float(right.this) != 0 and "." in right.this, relative
                continue
            assert isinstance(right, exp.Nullif), f"{relative}: {div.sql()}"
            left = div.this
            while isinstance(left, exp.Paren):
                left = left.this
            assert isinstance(left, exp.Cast) and left.to.is_type("double"), f"{relative}: {div.sql()}"
