"""Auth faults: tokens expiring mid-run, a refresh endpoint that fails, a rate-limited login, and
the api key revoked mid-run (a clear stop that commits nothing, then a clean resume)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bsg_campaigns.exceptions import UserError
from bsg_campaigns.simulator import Simulator, SimulatorConfig
from bsg_campaigns.simulator import responses
from conftest import Harness

from .util import compare, duplicate_rows, snapshot_db

SECTION = "Auth faults"
SEED, CAMPAIGNS = 41, 120


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    with Simulator(SimulatorConfig(seed=SEED, campaigns=CAMPAIGNS)).start() as sim:
        harness = Harness(tmp_path_factory.mktemp("auth_ref"), sim, "ref")
        harness.run()
        return snapshot_db(harness.db_path)


def _load(root: Path, sim: Simulator, **args):
    harness = Harness(root, sim, "auth")
    report = harness.run(**args)
    return harness, report, snapshot_db(harness.db_path)


def _check(record, fault: str, reference, harness, report, snap, sim, **figures) -> None:
    result = compare(reference, snap)
    dups = sum(duplicate_rows(harness.db_path).values())
    stats = sim.stats()
    ok = result["identical"] and dups == 0 and report.failed == 0
    record(SECTION, fault, ok=ok, lost=result["lost"], duplicates=dups,
           outcome="tables identical to the fault-free load" if result["identical"] else f"differs: {result['differing_tables']}",
           logins=report.http["logins"], refreshes=report.http["refreshes"], http_401=stats["status"].get("401", 0),
           http_429=stats["status"].get("429", 0), **figures)
    assert report.failed == 0 and report.rejected == 0
    assert result["identical"], result
    assert dups == 0


def test_token_expires_mid_run(tmp_path, reference, record):
    """Tokens that live about a second against a run of several seconds: refreshed ahead of
    `exp`, and re-login on the 401 when a request still carried an expired token."""
    config = SimulatorConfig(seed=SEED, campaigns=CAMPAIGNS, token_lifetime_s=1.0, latency_ms=30)
    with Simulator(config).start() as sim:
        harness, report, snap = _load(tmp_path, sim, concurrency=2)
        renewals = report.http["logins"] - 1 + report.http["refreshes"]
        _check(record, "bearer token expires mid-run (1 s lifetime)", reference, harness, report, snap, sim,
               renewals=renewals)
    assert renewals >= 2, report.http


@pytest.mark.parametrize("failure", ["401", "500"])
def test_refresh_fails_and_falls_back_to_login(failure, tmp_path, reference, record):
    config = SimulatorConfig(seed=SEED, campaigns=CAMPAIGNS, token_lifetime_s=2.0, latency_ms=30)
    with Simulator(config).start() as sim:
        attempts = []

        def broken_refresh(headers, knobs):  # the server's refresh endpoint is down
            attempts.append(1)
            return responses.unauthorized("Expired JWT Token") if failure == "401" else responses.server_error()

        sim.api.refresh = broken_refresh
        harness, report, snap = _load(tmp_path, sim, concurrency=2, max_attempts=3)
        _check(record, f"token refresh answers {failure}: falls back to login", reference, harness, report, snap, sim,
               refresh_attempts=len(attempts))
    assert attempts and report.http["refreshes"] == 0 and report.http["logins"] >= 2, report.http


def test_login_rate_limited(tmp_path, reference, record):
    """60 % of the login/refresh calls answer 429 (with and without Retry-After), with tokens that
    live about a second so that many logins and refreshes happen."""
    config = SimulatorConfig(seed=SEED, campaigns=CAMPAIGNS, token_lifetime_s=1.0, latency_ms=30,
                             auth_fault_rate=0.6, fault_kinds=("429", "429_retry_after_seconds"))
    with Simulator(config).start() as sim:
        harness, report, snap = _load(tmp_path, sim, concurrency=2, max_attempts=10, max_retry_after_seconds=0.2)
        _check(record, "login/refresh rate-limited (60 % answer 429)", reference, harness, report, snap, sim)
        assert sim.stats()["status"].get("429", 0) > 0


def test_api_key_revoked_mid_run(tmp_path, record):
    """The key is revoked while details are being fetched: the run stops with a message naming
    the setting, commits nothing (tables and state as after the previous run, nothing pending);
    once the key works again the next run ends where an undisturbed schedule would."""
    config = SimulatorConfig(seed=SEED, campaigns=CAMPAIGNS, latency_ms=10)
    with Simulator(config).start() as reference_sim:  # undisturbed: T, then T+1h
        reference = Harness(tmp_path / "ref", reference_sim, "ref")
        reference.run()
        reference_sim.advance(hours=1)
        reference.run()
        expected = snapshot_db(reference.db_path)
    with Simulator(config).start() as sim:
        harness = Harness(tmp_path / "cut", sim, "cut")
        harness.run()
        before_state = harness.pipeline.state["sources"]["bsg"]
        before_rows = snapshot_db(harness.db_path)
        sim.advance(hours=1)
        sim.reset_stats()

        def revoke_when_busy() -> None:
            while sim.stats()["detail"] < 15:
                time.sleep(0.001)
            sim.revoke_key()

        threading.Thread(target=revoke_when_busy, daemon=True).start()
        started = time.monotonic()
        with pytest.raises(UserError) as info:
            harness.run()
        stopped_after = time.monotonic() - started
        message = str(info.value)
        state_unchanged = harness.pipeline.state["sources"]["bsg"] == before_state
        rows_unchanged = snapshot_db(harness.db_path) == before_rows
        pending = harness.pipeline.has_pending_data
        sim.restore_key()
        harness.run()
        result = compare(expected, snapshot_db(harness.db_path))
        dups = sum(duplicate_rows(harness.db_path).values())
    clear = "api key" in message and "SOURCES__BSG__API_KEY" in message and "did not move" in message
    ok = clear and state_unchanged and rows_unchanged and not pending and result["identical"] and dups == 0
    record(SECTION, "api key revoked mid-run, then restored", ok=ok, lost=result["lost"], duplicates=dups,
           outcome="clear stop (exit 2), nothing committed; next run identical" if ok else "see test",
           stopped_after_seconds=round(stopped_after, 2))
    assert clear, message
    assert sim.api_key not in message
    assert state_unchanged and rows_unchanged and not pending
    assert result["identical"], result
    assert dups == 0
