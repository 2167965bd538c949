"""Persistent outages: the run stops after bounded retries - never hangs - with a message that says
what failed and that the next run resumes; nothing is committed; once the API is back the next
run ends where an undisturbed one would."""

from __future__ import annotations

import threading
import time

import pytest

from bsg_campaigns.api.client import RetryPolicy
from bsg_campaigns.exceptions import RunFailed
from bsg_campaigns.simulator import Simulator, SimulatorConfig
from conftest import Harness

from .sizes import FULL
from .util import CliPaths, compare, duplicate_rows, run_cli, snapshot_db

SECTION = "Persistent outage"
# A full run uses the documented retry defaults (max_attempts 6, backoff 0.5 s doubling: 7.75-15.5 s
# of waiting per request) with a 5 s request timeout (the default 30 s makes a silent API cost
# 6 x 30 s + backoff per request - bounded, but too slow for a test); the reduced run is quicker.
RETRY_ENV = ({"SOURCES__BSG__RETRY_BACKOFF_SECONDS": None, "SOURCES__BSG__MAX_RETRY_AFTER_SECONDS": None,
              "SOURCES__BSG__REQUEST_TIMEOUT_SECONDS": "5"} if FULL else
             {"SOURCES__BSG__MAX_ATTEMPTS": "3", "SOURCES__BSG__RETRY_BACKOFF_SECONDS": "0.05",
              "SOURCES__BSG__REQUEST_TIMEOUT_SECONDS": "1"})


@pytest.mark.parametrize("scenario, knobs, says", [
    ("every request answers 503", {"outage": True}, "HTTP 503"),
    ("every list/detail answers an HTML page with 200", {"fault_rate": 1.0, "fault_kinds": ("html_200",)}, "not JSON"),
    ("every list/detail connection is reset", {"fault_rate": 1.0, "fault_kinds": ("reset",)}, "no answer from"),
    ("the API accepts connections and never answers", {"fault_rate": 1.0, "fault_kinds": ("timeout",),
                                                       "timeout_sleep_s": 30.0}, "ReadTimeoutError"),
])
def test_outage_stops_bounded_with_a_clear_message(scenario, knobs, says, tmp_path, record):
    """Bounded = a count: the run gives up after `max_attempts` tries of the one call that fails
    (login, or the first list page), never hangs (the CLI's subprocess timeout would fail it)."""
    with Simulator(SimulatorConfig(seed=3, campaigns=40, **knobs)).start() as sim:
        paths = CliPaths(tmp_path)
        started = time.monotonic()
        result = run_cli(["run", "--no-models"], sim, paths, timeout=180, **RETRY_ENV)
        seconds = time.monotonic() - started  # a figure for the report, never a verdict
        requests = sim.stats()["total"]
    stderr = result.stderr.strip()
    attempts = RetryPolicy().max_attempts if FULL else int(RETRY_ENV["SOURCES__BSG__MAX_ATTEMPTS"])
    bounded = requests <= attempts + 1  # one login, then one call tried `attempts` times
    clear = says in stderr and "next run resumes" in stderr and "Traceback" not in stderr
    nothing = snapshot_db(paths.db)["campaigns"] == []
    ok = result.returncode == 1 and clear and nothing and bounded
    # Nothing was loaded, so no table was compared: lost/duplicates were not measured.
    record(SECTION, f"{scenario}", ok=ok, lost=None, duplicates=None,
           outcome=f"exit {result.returncode} after {requests} requests, nothing committed: \"{stderr[:150]}\"",
           requests=requests, seconds=round(seconds, 1))
    assert result.returncode == 1, stderr
    assert clear, stderr
    assert len(stderr.splitlines()) == 1, stderr  # one paragraph, no dlt jargon dump
    assert nothing
    assert bounded, f"{requests} requests for an API that never answered: retries are not bounded"


def test_outage_mid_run_commits_nothing_then_resumes(tmp_path, record):
    """The API goes down after 40 details: the failure streak stops the run (it does not spend
    retries on every remaining campaign); the state and tables stay as they were; the next run,
    API back, is identical to an undisturbed one."""
    config = SimulatorConfig(seed=8, campaigns=300, latency_ms=2)
    with Simulator(config).start() as sim:
        reference = Harness(tmp_path / "ref", sim, "ref")
        reference.run()
        expected = snapshot_db(reference.db_path)
        harness = Harness(tmp_path / "cut", sim, "cut")
        sim.reset_stats()

        def cut() -> None:
            while sim.stats()["detail"] < 40:
                time.sleep(0.001)
            sim.configure(outage=True)

        threading.Thread(target=cut, daemon=True).start()
        started = time.monotonic()
        with pytest.raises(RunFailed) as info:
            harness.run(max_attempts=3)
        seconds = time.monotonic() - started
        requests_in_outage = sim.stats()["faults"]
        state = harness.pipeline.state.get("sources", {}).get("bsg", {})
        untouched = not state.get("cursors") and snapshot_db(harness.db_path)["campaigns"] == []
        pending = harness.pipeline.has_pending_data
        sim.configure(outage=False)
        harness.run()
        result = compare(expected, snapshot_db(harness.db_path))
        dups = sum(duplicate_rows(harness.db_path).values())
    message = str(info.value)
    ok = ("in a row could not be fetched" in message and "next run resumes" in message and untouched
          and not pending and result["identical"] and dups == 0)
    record(SECTION, "API goes down mid-run, then comes back", ok=ok, lost=result["lost"], duplicates=dups,
           outcome="stopped, nothing committed; next run identical" if ok else message[:150],
           requests_during_outage=requests_in_outage, seconds_to_stop=round(seconds, 1))
    assert "in a row could not be fetched" in message and "next run resumes" in message, message
    assert untouched and not pending
    assert result["identical"], result
    assert dups == 0
