"""The same SQL files on the local PostgreSQL: models and checks build, and give row-for-row the
results DuckDB gives. Skipped when no server answers on 127.0.0.1:5432."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Dict, List

import pytest

from .analyst_data import clean_dataset, load, query
from bsg_campaigns.analyst import sqlcompile
from bsg_campaigns.analyst.models import CheckContext, build_models, run_checks

pytestmark = pytest.mark.postgres

ORDER_BY = {
    "stg_campaigns": "campaign_id",
    "stg_campaign_statistics": "campaign_id",
    "stg_campaign_statistics_history": "campaign_id, fetched_at",
    "campaign_rates": "campaign_id",
    "daily_rates": "created_date, sender, type, currency",
    "statistics_growth": "campaign_id, fetched_at",
}
# The message views: the clean data has no messages; test_message_models.py compares them.
MESSAGE_VIEWS = ("stg_messages", "message_daily_rates", "delivery_times", "recipients_reached", "message_costs")


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and float(a) == pytest.approx(float(b), rel=1e-12, abs=1e-12)
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a == b
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return a.tzinfo is not None and b.tzinfo is not None and a == b
    return type(a) is type(b) and a == b


def assert_same_rows(duck: List[Dict[str, Any]], pg: List[Dict[str, Any]]) -> None:
    assert len(duck) == len(pg)
    for d, p in zip(duck, pg):
        assert list(d) == list(p)  # same columns, same order
        different = {k: (d[k], p[k]) for k in d if not same(d[k], p[k])}
        assert not different, different


def test_postgres_session_is_not_utc(clean_postgres):
    """The fixture's session runs in Tokyo, so equal results prove the SQL is time-zone proof."""
    assert query(clean_postgres, "show timezone") == [{"TimeZone": "Asia/Tokyo"}]


def test_models_build_on_postgres(clean_postgres):
    rows = query(
        clean_postgres,
        "select table_name from information_schema.views where table_schema = '{ds}' order by table_name",
    )
    assert {r["table_name"] for r in rows} == set(sqlcompile.model_names())


def test_every_view_is_compared():
    assert set(ORDER_BY) | set(MESSAGE_VIEWS) == set(sqlcompile.model_names())
    assert not set(ORDER_BY) & set(MESSAGE_VIEWS)


@pytest.mark.parametrize("view", list(ORDER_BY))
def test_views_match_duckdb_row_for_row(clean_postgres, clean_duckdb, view):
    sql = f"select * from {{ds}}.{view} order by {ORDER_BY[view]}"
    duck, pg = query(clean_duckdb, sql), query(clean_postgres, sql)
    assert duck, f"{view} is empty on the clean data"
    assert_same_rows(duck, pg)


def test_checks_match_duckdb_on_bad_data(bad_postgres, bad_duckdb):
    context = CheckContext(campaigns_listed=5, campaigns_loaded=0)
    duck, pg = run_checks(bad_duckdb, context), run_checks(bad_postgres, context)
    assert [r.error for r in pg.results] == [None] * len(sqlcompile.CHECKS)
    assert len(pg.failures) == 9 and len(pg.warnings) == 4
    assert duck.to_dict() == pg.to_dict()


def test_checks_pass_on_clean_data(clean_postgres):
    report = run_checks(clean_postgres, CheckContext(campaigns_listed=8, campaigns_loaded=8))
    assert report.ok and not report.warnings, report.to_text()
    # the refresh window parameter reaches Postgres too
    narrow = run_checks(clean_postgres, CheckContext(refresh_window_hours=12))
    assert narrow.result("done_but_pending").offending_rows == 1


def test_rebuild_replaces_views_whose_columns_changed(postgres_factory):
    """CREATE OR REPLACE VIEW fails on Postgres when columns change; DROP ... CASCADE + CREATE does
    not, and a second build over the first one works too."""
    pipeline = postgres_factory("rebuild")
    load(pipeline, clean_dataset())
    with pipeline.sql_client() as client:
        ds = client.dataset_name
        client.execute_sql(f"CREATE VIEW {ds}.stg_campaigns AS SELECT 1 AS something_else")
        client.execute_sql(f"CREATE VIEW {ds}.campaign_rates AS SELECT something_else FROM {ds}.stg_campaigns")
    assert build_models(pipeline) == sqlcompile.model_names()
    assert build_models(pipeline) == sqlcompile.model_names()
    assert query(pipeline, "select count(*) as n from {ds}.campaign_rates") == [{"n": 8}]
