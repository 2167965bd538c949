"""Two runs at once: against the same pipeline, and against the same DuckDB file from another
pipelines dir. The second stops at once with a clear message and touches nothing; the first
finishes; the tables are exactly one run's."""

from __future__ import annotations

import time

import pytest

from bsg_campaigns.simulator import Simulator, SimulatorConfig
from conftest import Harness

from .util import CliPaths, compare, duplicate_rows, run_cli, snapshot_db, start_cli

SECTION = "Concurrent runs"


@pytest.mark.parametrize("second_uses", ["the same pipeline", "the same DuckDB file, another pipelines dir"])
def test_second_concurrent_run_stops_and_touches_nothing(second_uses, tmp_path, record):
    config = SimulatorConfig(seed=12, campaigns=150)
    with Simulator(config).start() as sim:
        reference = Harness(tmp_path / "ref", sim, "ref")
        reference.run()
        expected = snapshot_db(reference.db_path)
        sim.reset_stats()
        # The first run must still be running when the second has started and stopped (which
        # takes a process start: 1-8 s on a busy 2-core machine): slow answers (500 ms each, 2 in
        # flight: 37 s for 150 details) keep it in its extract until then, and fast ones after.
        sim.configure(latency_ms=500)
        first_paths = CliPaths(tmp_path / "first")
        first = start_cli(["run", "--no-models"], sim, first_paths, SOURCES__BSG__CONCURRENCY="2")
        while sim.stats()["login"] < 1 and first.poll() is None:  # the first run holds its locks
            time.sleep(0.005)
        second_paths = first_paths if second_uses == "the same pipeline" else CliPaths(tmp_path / "second")
        started = time.monotonic()
        second = run_cli(["run", "--no-models"], sim, second_paths,
                         DESTINATION__DUCKDB__CREDENTIALS=str(first_paths.db), SOURCES__BSG__CONCURRENCY="2")
        second_seconds = time.monotonic() - started
        first_still_running = first.poll() is None
        sim.configure(latency_ms=0)
        logins = sim.stats()["login"]
        first.wait(timeout=120)
        first_stderr = first.stderr.read()
    result = compare(expected, snapshot_db(first_paths.db))
    dups = sum(duplicate_rows(first_paths.db).values())
    stderr = second.stderr.strip().replace(str(first_paths.db.resolve()), "<file>")
    clear = "in progress" in stderr or "Another run is loading" in stderr
    ok = (second.returncode == 1 and clear and first_still_running and logins == 1
          and first.returncode == 0 and result["identical"] and dups == 0)
    record(SECTION, f"second run on {second_uses}", ok=ok, lost=result["lost"], duplicates=dups,
           outcome=f"second: exit {second.returncode} in {second_seconds:.1f} s, \"{stderr[:110]}\"; first: exit {first.returncode}, tables = one run",
           api_logins_by_second_run=logins - 1)
    assert first_still_running, "the first run ended before the second started: nothing was proven"
    assert second.returncode == 1 and clear, stderr
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 1
    assert logins == 1, "the second run talked to the API"
    assert first.returncode == 0, first_stderr
    assert result["identical"], result
    assert dups == 0
