"""The per-run fixed cost of the analyst layer: compiled SQL cached (memory + the pipeline's working
dir), view DDL skipped when the dataset already holds exactly these views, all check counts in one
statement. Real DuckDB files and dlt pipelines throughout."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
import sqlglot

import dlt

from .analyst_data import arrow, clean_dataset, duckdb_pipeline, load, query
from .test_build import RecordingPipeline
from bsg_campaigns.analyst import checks
from bsg_campaigns import settings
from bsg_campaigns.analyst import sqlcompile
from bsg_campaigns.contract import tables
from bsg_campaigns.analyst import viewcache
from bsg_campaigns.analyst.models import CheckContext, build_models, build_models_and_run_checks, run_checks

DDL = ("DROP VIEW", "CREATE VIEW", "CREATE TABLE", "DELETE", "INSERT")


class QueryRecorder(RecordingPipeline):
    """Records every `execute_query` (how check samples are read; `execute_sql` goes through it)."""

    def sql_client(self):
        client = self.pipeline.sql_client()
        execute_query = client.execute_query

        def recording(sql, *args, **kwargs):
            self.statements.append(str(sql))
            return execute_query(sql, *args, **kwargs)

        client.execute_query = recording
        return client


def _ddl(statements):
    return [s for s in statements if s.lstrip().upper().startswith(DDL)]


@pytest.fixture()
def loaded(tmp_path):
    pipeline = duckdb_pipeline(tmp_path, "cache")
    load(pipeline, clean_dataset())
    return pipeline


# --- compile keys and the cache itself --------------------------------------------------------


def test_compile_key_depends_on_every_input():
    path = sqlcompile.default_table_path("ds")
    text = sqlcompile.load_sql_file("marts/daily_rates.sql").text
    key = viewcache.compile_key("view", "daily_rates", text, "duckdb", path)
    assert key == viewcache.compile_key("view", "daily_rates", text, "duckdb", path)
    others = [
        viewcache.compile_key("view", "daily_rates", text + "\n-- edited", "duckdb", path),
        viewcache.compile_key("view", "daily_rates", text, "postgres", path),
        viewcache.compile_key("view", "daily_rates", text, "duckdb", sqlcompile.default_table_path("other")),
        viewcache.compile_key("view", "daily_rates", text, "duckdb", path, ["campaign_statistics"]),
        viewcache.compile_key("check", "daily_rates", text, "duckdb", path),
    ]
    assert len({key, *others}) == len(others) + 1
    # the run's values count only for a check that reads check_context
    done = sqlcompile.load_sql_file("checks/done_but_pending.sql").text
    unique = sqlcompile.load_sql_file("checks/unique_campaign_id.sql").text
    assert viewcache.uses_check_context(done) and not viewcache.uses_check_context(unique)
    assert viewcache.compile_key("check", "d", done, "duckdb", path, (), (168, 1, 1)) != viewcache.compile_key(
        "check", "d", done, "duckdb", path, (), (168, 2, 2))
    assert viewcache.compile_key("check", "u", unique, "duckdb", path, (), (168, 1, 1)) == viewcache.compile_key(
        "check", "u", unique, "duckdb", path, (), (24, 2, 2))


def test_sql_cache_memory_then_file(tmp_path):
    viewcache.clear_memory_cache()
    cache = viewcache.SqlCache(tmp_path)
    assert cache.get("k1") is None and cache.misses == 1
    cache.put("k1", ["SELECT 1"])
    cache.put("k2", ["SELECT 2"], persist=False)
    assert cache.get("k1") == ["SELECT 1"] and cache.hits == 1
    cache.save()
    path = tmp_path / viewcache.CACHE_FILE_NAME
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    stored = json.loads(path.read_text())["entries"]
    assert stored == {"k1": ["SELECT 1"]}  # run-specific texts stay in memory only
    # a new process: memory empty, the file answers
    viewcache.clear_memory_cache()
    fresh = viewcache.SqlCache(tmp_path)
    assert fresh.get("k1") == ["SELECT 1"] and fresh.get("k2") is None
    assert not list(tmp_path.glob(".bsg_sql_cache.*"))  # no temporary file left behind


@pytest.mark.parametrize("content", ["not json", '{"format": 99, "entries": {}}', '{"format": 1, "entries": {"k": [1]}}',
                                     '[]'])
def test_unreadable_or_foreign_cache_file_is_ignored(tmp_path, content):
    viewcache.clear_memory_cache()
    (tmp_path / viewcache.CACHE_FILE_NAME).write_text(content)
    cache = viewcache.SqlCache(tmp_path)
    assert cache.get("k") is None
    cache.put("k", ["SELECT 1"])
    cache.save()
    assert json.loads((tmp_path / viewcache.CACHE_FILE_NAME).read_text())["entries"] == {"k": ["SELECT 1"]}


def test_cache_file_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(viewcache, "MAX_FILE_ENTRIES", 3)
    cache = viewcache.SqlCache(tmp_path)
    for index in range(5):
        cache.put(f"k{index}", [str(index)])
    cache.save()
    assert list(json.loads((tmp_path / viewcache.CACHE_FILE_NAME).read_text())["entries"]) == ["k2", "k3", "k4"]


def test_cached_check_statements_equal_fresh_ones(tmp_path):
    viewcache.clear_memory_cache()
    path = sqlcompile.default_table_path("ds")
    context = CheckContext(refresh_window_hours=48, campaigns_listed=3, campaigns_loaded=2)
    fresh = checks.check_statements("postgres", path, context, ["rejected_records"])
    cache = viewcache.SqlCache(tmp_path)
    first = checks.check_statements("postgres", path, context, ["rejected_records"], cache=cache)
    assert cache.misses == len(sqlcompile.CHECKS) and cache.hits == 0
    second = checks.check_statements("postgres", path, context, ["rejected_records"], cache=cache)
    assert cache.hits == len(sqlcompile.CHECKS)
    assert [(f.name, c, s) for f, c, s in first] == [(f.name, c, s) for f, c, s in second] == [
        (f.name, c, s) for f, c, s in fresh]
    # another run's numbers: only the checks reading check_context are compiled again
    other = CheckContext(refresh_window_hours=48, campaigns_listed=9, campaigns_loaded=9)
    before = cache.misses
    third = checks.check_statements("postgres", path, other, ["rejected_records"], cache=cache)
    readers = [f.name for f, _, _ in third if viewcache.uses_check_context(f.text)]
    assert sorted(readers) == ["done_but_pending", "empty_run", "messages_match_statistics",
                               "messages_match_statistics_open"]
    assert cache.misses - before == len(readers)
    assert dict((f.name, c) for f, c, _ in third)["empty_run"] != dict((f.name, c) for f, c, _ in first)["empty_run"]


def test_count_queries_drop_the_order_by_but_samples_keep_it():
    statements = checks.check_statements("duckdb", sqlcompile.default_table_path("ds"), CheckContext())
    for sql_file, count_sql, sample_sql in statements:
        offending = sqlglot.parse_one(count_sql, read="duckdb").args["from_"].this
        assert offending.alias == "offending" and offending.this.args.get("order") is None, sql_file.name
        if "order by" in sql_file.text.lower():
            assert "ORDER BY" in sample_sql and sample_sql.rstrip().endswith(f"LIMIT {sqlcompile.SAMPLE_ROWS}")


# --- skipping unchanged view DDL ---------------------------------------------------------------


def test_second_build_runs_no_ddl_and_a_new_process_compiles_nothing(loaded):
    viewcache.clear_memory_cache()
    first = RecordingPipeline(loaded)
    first.working_dir = loaded.working_dir  # the file cache lives in the pipeline's working dir
    assert build_models(first) == sqlcompile.model_names()
    assert len([s for s in first.statements if s.startswith("CREATE VIEW")]) == len(sqlcompile.MODELS)
    assert (Path(loaded.working_dir) / viewcache.CACHE_FILE_NAME).exists()
    rows = query(loaded, "select view_name, definition_hash from {ds}._bsg_views order by view_name")
    assert sorted(r["view_name"] for r in rows) == sorted(sqlcompile.model_names())

    viewcache.clear_memory_cache()  # as if a new process
    again = RecordingPipeline(loaded)
    cache = viewcache.SqlCache(Path(loaded.working_dir))
    assert build_models(again, cache=cache) == sqlcompile.model_names()
    assert _ddl(again.statements) == []
    assert cache.misses == 0 and cache.hits == len(sqlcompile.MODELS)
    assert query(loaded, "select count(*) as n from {ds}.campaign_rates") == [{"n": len(clean_dataset().campaigns)}]


def test_view_dropped_outside_the_runner_is_rebuilt(loaded):
    build_models(loaded)
    expected = query(loaded, "select * from {ds}.daily_rates order by 1, 2, 3, 4")
    with loaded.sql_client() as client:
        client.execute_sql(f"DROP VIEW {client.dataset_name}.daily_rates")
    recorder = RecordingPipeline(loaded)
    build_models(recorder)
    assert len([s for s in recorder.statements if s.startswith("CREATE VIEW")]) == len(sqlcompile.MODELS)
    assert query(loaded, "select * from {ds}.daily_rates order by 1, 2, 3, 4") == expected


def test_bookkeeping_dropped_or_force_rebuilds(loaded):
    build_models(loaded)
    with loaded.sql_client() as client:
        client.execute_sql(f"DROP TABLE {client.dataset_name}._bsg_views")
    recorder = RecordingPipeline(loaded)
    build_models(recorder)
    assert len([s for s in recorder.statements if s.startswith("CREATE VIEW")]) == len(sqlcompile.MODELS)
    forced = RecordingPipeline(loaded)
    build_models(forced, force=True)
    assert len([s for s in forced.statements if s.startswith("DROP VIEW")]) == len(sqlcompile.MODELS)


def test_changed_sql_file_rebuilds_the_views(loaded, tmp_path):
    build_models(loaded)
    edited = tmp_path / "sql"
    shutil.copytree(sqlcompile.SQL_DIR, edited)
    rates = edited / "marts" / "campaign_rates.sql"
    rates.write_text(rates.read_text().replace("    has_read_receipts\nfrom counts",
                                               "    has_read_receipts,\n    'edited' as build_marker\nfrom counts"))
    recorder = RecordingPipeline(loaded)
    build_models(recorder, sql_dir=edited)
    assert len([s for s in recorder.statements if s.startswith("CREATE VIEW")]) == len(sqlcompile.MODELS)
    assert {r["build_marker"] for r in query(loaded, "select build_marker from {ds}.campaign_rates")} == {"edited"}
    # and back: the repository's files are different again, so the next build rebuilds once more
    back = RecordingPipeline(loaded)
    build_models(back)
    assert any(s.startswith("CREATE VIEW") for s in back.statements)
    columns = query(loaded, "select * from {ds}.campaign_rates limit 1")[0]
    assert "build_marker" not in columns


def test_changed_macro_or_var_rebuilds_the_views(loaded, tmp_path):
    """The views' texts are the templates rendered with sql/macros and the vars of dbt_project.yml:
    editing only those (no model file) changes the compiled statements, so the cached ones are not
    used and the views change."""
    build_models(loaded)
    rates = "select campaign_id, type, messages, read, delivery_rate, read_rate from {ds}.campaign_rates"
    assert any(r["type"] == "rcs" and r["read_rate"] is not None for r in query(loaded, rates))
    edited = tmp_path / "sql"
    shutil.copytree(sqlcompile.SQL_DIR, edited)

    def rebuild_after(relative, old, new):
        path = edited / relative
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new))
        recorder = RecordingPipeline(loaded)
        build_models(recorder, sql_dir=edited)
        assert len([s for s in recorder.statements if s.startswith("CREATE VIEW")]) == len(sqlcompile.MODELS)
        return query(loaded, rates)

    # a macro: delivery_rate redefined in macros/rates.sql, which campaign_rates.sql only calls
    after = rebuild_after("macros/rates.sql", "'delivery_rate': ('delivered', 'messages')",
                          "'delivery_rate': ('read', 'messages')")
    assert [r["delivery_rate"] for r in after] == [r["read"] / r["messages"] if r["messages"] else None for r in after]
    # a var: rcs no longer listed among the channels that report reads
    after = rebuild_after("dbt_project.yml", "[rcs, viber, whatsapp]", "[viber, whatsapp]")
    assert all(r["read_rate"] is None for r in after if r["type"] == "rcs")


def test_source_table_appearing_rebuilds_the_views(tmp_path):
    """Built while the history was missing (modelled as empty), then loaded: the compiled text
    changes, so the views are rebuilt and read the new table."""
    pipeline = duckdb_pipeline(tmp_path, "appearing")
    data = clean_dataset()
    pipeline.run([
        dlt.resource(arrow(data.campaigns, tables.CAMPAIGNS_SCHEMA), name=tables.CAMPAIGNS,
                     columns=tables.CAMPAIGNS_COLUMNS, write_disposition="replace"),
        dlt.resource(arrow(data.statistics, tables.STATISTICS_SCHEMA), name=tables.CAMPAIGN_STATISTICS,
                     columns=tables.STATISTICS_COLUMNS, write_disposition="replace"),
    ])
    build_models(pipeline)
    assert query(pipeline, "select count(*) as n from {ds}.statistics_growth") == [{"n": 0}]
    load(pipeline, data)
    recorder = RecordingPipeline(pipeline)
    build_models(recorder)
    assert any(s.startswith("CREATE VIEW") for s in recorder.statements)
    assert query(pipeline, "select count(*) as n from {ds}.stg_campaign_statistics_history")[0]["n"] > 0


# --- checks: one statement for every count ---------------------------------------------------


def test_checks_count_in_one_statement_and_sample_only_failures(clean_duckdb, bad_duckdb):
    clean = RecordingPipeline(clean_duckdb)
    report = run_checks(clean, CheckContext(campaigns_listed=8, campaigns_loaded=8))
    assert report.ok and not report.warnings
    counting = [s for s in clean.statements if "COUNT(*) AS offending_rows" in s]
    assert len(counting) == 1 and counting[0].startswith("SELECT 0 AS check_index, (SELECT\n  COUNT(*) AS offending_rows")
    assert counting[0].count("AS check_index") == len(sqlcompile.CHECKS)

    bad = QueryRecorder(bad_duckdb)
    report = run_checks(bad, CheckContext(refresh_window_hours=168, campaigns_listed=5, campaigns_loaded=0))
    counting = [s for s in bad.statements if "COUNT(*) AS offending_rows" in s]
    assert len(counting) == 1
    failing = [r for r in report.results if not r.passed]
    assert len(failing) == len(sqlcompile.CHECKS)
    samples = [s for s in bad.statements if s not in counting and s.rstrip().endswith(f"LIMIT {sqlcompile.SAMPLE_ROWS}")]
    assert len(samples) == len(failing)
    assert all(r.sample and r.offending_rows >= len(r.sample) for r in failing)


def test_build_and_checks_over_one_connection(loaded):
    names, report = build_models_and_run_checks(loaded, CheckContext(campaigns_listed=8, campaigns_loaded=8))
    assert names == sqlcompile.model_names()
    assert report.ok and not report.warnings, report.to_text()
    assert [r.name for r in report.results] == [Path(p).stem for p in sqlcompile.CHECKS]


# --- unique_statistics_key: the two-step (bit per key combination) query is exact --------------


def _many_keys_dataset():
    """Over 60 distinct (channel, is_fallback, status) in the table, so key numbers span three
    30-bit words; duplicates in the first and the last word, a triple, and the legitimate
    look-alikes (same status in the primary and fallback blocks, two primary channels)."""
    from .analyst_data import Dataset, campaign, stats

    statuses = {status: 1 for status in settings.KNOWN_MESSAGE_STATUSES}  # 13
    statistics = []
    for channel in ("rcs", "sms", "viber"):  # 3 channels x 2 blocks x 13 = 78 keys
        statistics += stats(1, channel, statuses) + stats(1, channel, statuses, fallback=True)
    statistics += stats(2, "viber", {"unknown": 1}, fallback=True) * 2  # last key: highest word
    statistics += stats(3, "rcs", {"accepted": 4}) * 3  # first key: lowest word, three copies
    statistics += stats(4, "rcs", {"delivered": 5}) + stats(4, "sms", {"delivered": 5}, fallback=True) \
        + stats(4, "viber", {"delivered": 1})
    campaigns = [campaign(i, total_messages=1000, total_price="1") for i in (1, 2, 3, 4)]
    return Dataset(campaigns, statistics, [])


EXPECTED_DUPLICATES = [
    {"campaign_id": 2, "channel": "viber", "is_fallback": True, "status": "unknown", "copies": 2},
    {"campaign_id": 3, "channel": "rcs", "is_fallback": False, "status": "accepted", "copies": 3},
]
NAIVE = ("select campaign_id, channel, is_fallback, status, count(*) as copies from {ds}.campaign_statistics "
         "group by campaign_id, channel, is_fallback, status having count(*) > 1 order by campaign_id, channel, status")


def _assert_exact_duplicates(pipeline):
    build_models(pipeline)
    result = run_checks(pipeline, CheckContext()).result("unique_statistics_key")
    assert result.error is None, result.error
    assert result.offending_rows == 2
    assert result.sample == EXPECTED_DUPLICATES == query(pipeline, NAIVE)


def test_unique_statistics_key_is_exact_across_bit_words(tmp_path):
    pipeline = duckdb_pipeline(tmp_path, "many_keys")
    load(pipeline, _many_keys_dataset())
    assert query(pipeline, "select count(distinct (channel, is_fallback, status)) as n from {ds}.campaign_statistics") \
        == [{"n": 78}]
    _assert_exact_duplicates(pipeline)


def test_unique_statistics_key_is_exact_on_postgres(postgres_factory):
    pipeline = postgres_factory("many_keys")
    load(pipeline, _many_keys_dataset())
    _assert_exact_duplicates(pipeline)


@pytest.mark.parametrize("dialect", sqlcompile.PORTABLE_DIALECTS)
def test_one_statement_forms_are_valid_in_every_dialect(dialect):
    path = sqlcompile.default_table_path("analytics")
    counts = [c for _, c, _ in checks.check_statements(dialect, path, CheckContext(campaigns_listed=1))]
    combined = sqlglot.parse_one(checks.all_counts_sql(counts), read=dialect)
    assert len(list(combined.find_all(sqlglot.exp.Subquery))) >= len(counts)
    names = sqlcompile.model_names()
    sqlglot.parse_one(viewcache.bookkeeping_probe(dialect, path, names), read=dialect)
    for statement in viewcache.bookkeeping_statements(dialect, path, {n: "0123abcd" for n in names}):
        assert "analytics._bsg_views" in statement
        sqlglot.parse_one(statement, read=dialect)
    with pytest.raises(sqlcompile.SqlModelError):
        viewcache.bookkeeping_statements(dialect, path, {"x": "'; drop table y; --"})
