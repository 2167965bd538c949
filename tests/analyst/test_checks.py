"""Data-quality checks: crafted bad data trips every check, clean data trips none."""

from __future__ import annotations

import json

import pytest

from bsg_campaigns.analyst import checks
from bsg_campaigns.analyst import sqlcompile
from bsg_campaigns.analyst.models import CheckContext, ChecksReport, CheckResult, run_checks

# check -> (severity, offending rows in analyst_data.bad_dataset() with CheckContext(5 listed, 0 loaded))
EXPECTED_BAD = {
    "unique_campaign_id": ("error", 1),  # campaign 10 twice
    "unique_statistics_key": ("error", 1),  # (11, rcs, false, delivered) twice
    "negative_counts": ("error", 4),  # stats 12, history 12, campaigns 19 total_messages + total_phones
    "counts_exceed_total_messages": ("error", 1),  # 13: 15 counted, 10 total
    # 12: delivery -5/5, pending 10/5, reach -5/5; 14: fallback_rate 20/10, reach (0 + 20)/10
    "rates_out_of_range": ("error", 5),
    "currency_code": ("error", 2),  # 15 'usd', 16 NULL with a price
    "done_but_pending": ("error", 1),  # 17: done 216 h before its fetch, 3 sent
    "messages_match_statistics": ("error", 2),  # 17 (settled): delivered 2 messages vs 7, sent 0 vs 3
    "unique_message_id": ("error", 1),  # message 1701 twice
    "unknown_message_statuses": ("warning", 1),  # 'clicked'
    "statistics_without_campaign": ("warning", 1),  # 999
    "messages_match_statistics_open": ("warning", 2),  # 18 (open): no message vs delivered 2, clicked 2
    "empty_run": ("warning", 1),  # 5 listed, 0 loaded
}


def test_every_check_file_is_run_and_expected():
    names = [sqlcompile.load_sql_file(p).name for p in sqlcompile.CHECKS]
    assert set(names) == set(EXPECTED_BAD)
    required = {
        "unique_campaign_id", "negative_counts", "counts_exceed_total_messages", "rates_out_of_range",
        "currency_code", "done_but_pending", "unknown_message_statuses", "empty_run",
    }
    assert required <= set(names)


@pytest.fixture(scope="module")
def bad_report(bad_duckdb) -> ChecksReport:
    return run_checks(bad_duckdb, CheckContext(refresh_window_hours=168, campaigns_listed=5, campaigns_loaded=0))


@pytest.fixture(scope="module")
def clean_report(clean_duckdb) -> ChecksReport:
    return run_checks(clean_duckdb, CheckContext(campaigns_listed=8, campaigns_loaded=8))


@pytest.mark.parametrize("name", sorted(EXPECTED_BAD))
def test_bad_data_trips_each_check(bad_report, name):
    severity, offending = EXPECTED_BAD[name]
    result = bad_report.result(name)
    assert result.error is None, result.error
    assert result.severity == severity
    assert result.offending_rows == offending
    assert result.sample and len(result.sample) == min(offending, sqlcompile.SAMPLE_ROWS)
    assert not result.passed


def test_bad_report_samples(bad_report):
    assert bad_report.result("unique_campaign_id").sample == [{"campaign_id": 10, "copies": 2}]
    assert {r["campaign_id"] for r in bad_report.result("currency_code").sample} == {15, 16}
    assert bad_report.result("unknown_message_statuses").sample == [
        {"status": "clicked", "campaigns": 1, "messages": 2}
    ]
    done = bad_report.result("done_but_pending").sample[0]
    assert done["campaign_id"] == 17 and done["pending"] == 3
    assert done["hours_after_finish"] == pytest.approx(216.0)
    rates = {(r["campaign_id"], r["rate"]): r["value"] for r in bad_report.result("rates_out_of_range").sample}
    assert rates == {(12, "delivery_rate"): -1.0, (12, "pending_rate"): 2.0, (12, "reach_rate"): -1.0,
                     (14, "fallback_rate"): 2.0, (14, "reach_rate"): 2.0}


def test_bad_report_outcome(bad_report):
    assert not bad_report.ok
    assert {r.name for r in bad_report.failures} == {n for n, (s, _) in EXPECTED_BAD.items() if s == "error"}
    assert {r.name for r in bad_report.warnings} == {n for n, (s, _) in EXPECTED_BAD.items() if s == "warning"}


def test_clean_data_trips_none(clean_report):
    assert [r.name for r in clean_report.results if not r.passed] == []
    assert clean_report.ok and not clean_report.warnings
    assert len(clean_report.results) == len(sqlcompile.CHECKS)


def test_refresh_window_comes_from_the_context(clean_duckdb):
    """Campaign 1 is done with 5 pending, fetched 24 h after it finished: fine within 168 h, an
    offence with a 12 h window, fine again at exactly 24 h (strictly longer is required)."""
    result = run_checks(clean_duckdb, CheckContext(refresh_window_hours=12)).result("done_but_pending")
    assert result.offending_rows == 1
    row = result.sample[0]
    assert (row["campaign_id"], row["pending"], row["refresh_window_hours"]) == (1, 5, 12)
    assert row["hours_after_finish"] == pytest.approx(24.0)
    assert run_checks(clean_duckdb, CheckContext(refresh_window_hours=24)).result("done_but_pending").passed


@pytest.mark.parametrize(
    "listed, loaded, trips",
    [(5, 0, True), (0, 0, False), (5, 5, False), (None, 0, False), (5, None, False), (None, None, False)],
)
def test_empty_run(clean_duckdb, listed, loaded, trips):
    report = run_checks(clean_duckdb, CheckContext(campaigns_listed=listed, campaigns_loaded=loaded))
    result = report.result("empty_run")
    assert result.passed is not trips
    assert result.severity == "warning"
    assert report.ok  # a warning never fails the run


@pytest.mark.parametrize(
    "kwargs",
    [
        {"refresh_window_hours": "168; drop table campaigns"},
        {"refresh_window_hours": -1},
        {"refresh_window_hours": 1.5},
        {"refresh_window_hours": True},
        {"campaigns_listed": "3"},
        {"campaigns_loaded": -2},
    ],
)
def test_check_context_is_validated(kwargs):
    with pytest.raises(sqlcompile.SqlModelError):
        CheckContext(**kwargs)


def test_check_context_revalidated_at_run_time(clean_duckdb):
    context = CheckContext()
    context.refresh_window_hours = "1 or 1=1"  # mutated after construction
    with pytest.raises(sqlcompile.SqlModelError):
        run_checks(clean_duckdb, context)


def test_report_text_and_dict(bad_report, clean_report):
    text = bad_report.to_text()
    lines = text.splitlines()
    assert lines[0] == "data-quality checks: 13 run, 9 failed, 4 warning(s)"
    assert any(line.startswith("  FAIL unique_campaign_id: 1 offending row(s)") for line in lines)
    assert any(line.startswith("  WARN empty_run: 1 offending row(s)") for line in lines)
    assert all(len(line) < 240 for line in lines)
    assert clean_report.to_text().splitlines()[0] == "data-quality checks: 13 run, 0 failed, 0 warning(s)"
    assert clean_report.to_text().splitlines()[1].startswith("  ok   unique_campaign_id, ")
    as_dict = json.loads(json.dumps(bad_report.to_dict()))
    assert as_dict["ok"] is False and as_dict["failures"] == 9 and as_dict["warnings"] == 4
    assert as_dict["context"] == {"refresh_window_hours": 168, "campaigns_listed": 5, "campaigns_loaded": 0}
    currency = next(r for r in as_dict["results"] if r["name"] == "currency_code")
    assert currency["outcome"] == "FAIL" and currency["severity"] == "error"
    assert {"campaign_id": 15, "currency": "usd", "total_price": "1.0000000"} in currency["sample"]


def test_a_check_that_cannot_run_is_reported_not_raised(clean_duckdb, monkeypatch):
    real = checks.check_statements

    def broken(*args, **kwargs):
        out = real(*args, **kwargs)
        sql_file, _, sample = out[0]
        return [(sql_file, "SELECT * FROM no_such_relation_xyz", sample)] + out[1:]

    monkeypatch.setattr(checks, "check_statements", broken)
    report = run_checks(clean_duckdb, CheckContext())
    first = report.results[0]
    assert first.error and not first.passed and first.outcome == "FAIL"
    assert not report.ok
    assert all(r.passed for r in report.results[1:])
    assert "could not run" in report.to_text()


def test_check_result_defaults():
    result = CheckResult(name="x", severity="warning", offending_rows=0)
    assert result.passed and result.outcome == "ok" and result.to_dict()["sample"] == []
