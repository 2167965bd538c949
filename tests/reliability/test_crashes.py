"""SIGKILL of `bsg-campaigns run` at seeded random points in extract, normalize and load, then a
re-run: the tables equal an uninterrupted run's, nothing is duplicated or lost, and the state is
never ahead of the rows - neither at the destination right after the kill nor after the re-run.

The killed run happens at simulated time T, the re-run at T+1h (so every fetch has its own
fetched_at and a duplicate is a real duplicate). The reference is what an uninterrupted schedule
would hold: a run at T+1h alone when the kill left nothing to finish (killed in extract), else a
run at T followed by a run at T+1h (the re-run first completes the interrupted load)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import pytest

from bsg_campaigns.load.publish import working_copy
from bsg_campaigns.simulator import Simulator, SimulatorConfig
from conftest import Harness

from .sizes import COMMIT_KILL_TABLES, CRASH_CAMPAIGNS, CRASH_TRIALS
from .util import (CliPaths, cli_env, compare, destination_state, duplicate_rows, run_cli, snapshot_db,
                   start_cli, state_violations, uncommitted_state_rows)

SECTION = "Crashes (SIGKILL) and re-run"
SEED = 17
PHASES = ("extract", "normalize", "load")
# Slow the API a little so the extract phase is long enough to be hit at many points.
SIM = dict(seed=SEED, campaigns=CRASH_CAMPAIGNS, latency_ms=4.0, corrupt_rate=0.03)
CLI_ENV = {"SOURCES__BSG__CONCURRENCY": "4"}


def new_sim() -> Simulator:
    return Simulator(SimulatorConfig(**SIM)).start()


def _entries(folder: Path) -> list:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def package_phase(working_dir: Path) -> str:
    """Where the interrupted run's load package is: what the kill interrupted."""
    if _entries(working_dir / "load" / "normalized"):
        return "load"
    if _entries(working_dir / "normalize" / "extracted") or _entries(working_dir / "load" / "new"):
        return "normalize"
    if _entries(working_dir / "load" / "loaded"):
        return "after load"
    return "extract"


@dataclass
class Timings:
    """When each phase began in an uninterrupted CLI run (seconds after the process started)."""

    details: int
    extracted: float
    normalized: float
    loaded: float


def watch(proc: subprocess.Popen, sim: Simulator, working_dir: Path, kill_when=None) -> Dict[str, float]:
    """Poll every ~2 ms; return when each milestone was first seen; SIGKILL when `kill_when`
    (a function of the milestones seen so far) says so."""
    started = time.monotonic()
    seen: Dict[str, float] = {}
    while proc.poll() is None:
        now = time.monotonic() - started
        if "extracted" not in seen and _entries(working_dir / "normalize" / "extracted"):
            seen["extracted"] = now
        if "normalized" not in seen and _entries(working_dir / "load" / "normalized"):
            seen["normalized"] = now
        if "loaded" not in seen and _entries(working_dir / "load" / "loaded"):
            seen["loaded"] = now
        if kill_when is not None and kill_when(seen, now, sim.stats()["detail"]):
            proc.send_signal(signal.SIGKILL)
            seen["killed"] = now
            break
        time.sleep(0.002)
    proc.wait(timeout=60)
    seen["exited"] = time.monotonic() - started
    return seen


@pytest.fixture(scope="module")
def crash_refs(tmp_path_factory):
    """Phase timings of an uninterrupted CLI run, and both references (see module docstring)."""
    root = tmp_path_factory.mktemp("crash_refs")
    with new_sim() as sim:  # reference B: T then T+1h, through the CLI (also times the phases)
        paths = CliPaths(root / "b")
        proc = start_cli(["run", "--no-models"], sim, paths, **CLI_ENV)
        seen = watch(proc, sim, paths.working_dir)
        assert proc.returncode == 0, proc.stderr.read()
        timings = Timings(sim.stats()["detail"], seen["extracted"], seen["normalized"], seen["loaded"])
        ref_t = snapshot_db(paths.db)  # what readers see after the run at T
        sim.advance(hours=1)
        assert run_cli(["run", "--no-models"], sim, paths, **CLI_ENV).returncode == 0
        ref_b = snapshot_db(paths.db)
    with new_sim() as sim:  # reference A: T+1h only
        sim.advance(hours=1)
        harness = Harness(root / "a", sim, "a")
        harness.run()
        ref_a = snapshot_db(harness.db_path)
    return timings, ref_a, ref_b, ref_t


def kill_plan(trial: int, timings: Timings):
    """Seeded: the phase cycles with the trial number; within the phase the instant is random
    but stratified - the k-th of n visits to a phase lands in the k-th n-th of it - so the trials
    spread over the whole phase instead of clustering."""
    rng = random.Random(1000 + trial)
    phase = PHASES[trial % len(PHASES)]
    visits = len(range(trial % len(PHASES), CRASH_TRIALS, len(PHASES)))
    fraction = (trial // len(PHASES) + rng.random()) / max(visits, 1)
    if phase == "extract":
        after_details = max(1, min(int(fraction * timings.details), timings.details - 1))
        return phase, f"after {after_details} details", lambda seen, now, details: details >= after_details
    start, end = ("extracted", "normalized") if phase == "normalize" else ("normalized", "loaded")
    delay = fraction * (getattr(timings, end) - getattr(timings, start))
    return phase, f"{delay * 1000:.0f} ms into {phase}", (
        lambda seen, now, details: start in seen and now >= seen[start] + delay)


@pytest.mark.parametrize("trial", range(CRASH_TRIALS))
def test_sigkill_then_rerun_equals_uninterrupted(trial, tmp_path, crash_refs, record):
    timings, ref_a, ref_b, _ = crash_refs
    target, when, kill_when = kill_plan(trial, timings)
    paths = CliPaths(tmp_path)
    loaded = working_copy(paths.db)  # dlt's destination; readers see paths.db once published
    with new_sim() as sim:
        proc = start_cli(["run", "--no-models"], sim, paths, **CLI_ENV)
        seen = watch(proc, sim, paths.working_dir, kill_when)
        # A run that ended before the kill proves nothing about a kill: the trial fails.
        killed = "killed" in seen and proc.returncode == -signal.SIGKILL
        hit = package_phase(paths.working_dir) if killed else "completed before the kill"
        after_kill = snapshot_db(loaded)
        orphan_states = uncommitted_state_rows(loaded)
        # Right after the kill: the destination's committed state (what dlt would restore) is never
        # ahead of its rows, and a local state ahead of it is carried by a pending package.
        violations = state_violations(_source_state(destination_state(loaded)), after_kill, sim)
        local_ahead = _local_version(paths) > _version(destination_state(loaded))
        pending = hit in ("normalize", "load")
        sim.advance(hours=1)
        rerun = run_cli(["run", "--no-models"], sim, paths, **CLI_ENV)
        final = snapshot_db(paths.db)
        violations += state_violations(_source_state(destination_state(paths.db)), final, sim)
    expected = ref_a if hit == "extract" else ref_b
    result = compare(expected, final)
    assert snapshot_db(loaded) == final  # the re-run published everything it loaded
    dups = sum(duplicate_rows(paths.db).values())
    ok = (killed and rerun.returncode == 0 and result["identical"] and dups == 0 and not violations
          and (not local_ahead or pending))
    record(SECTION, f"SIGKILL in {hit}", ok=ok, lost=result["lost"], duplicates=dups,
           outcome="re-run: tables identical to uninterrupted runs, state never ahead" if ok else
           f"differs: {result['differing_tables']} {violations[:2]}",
           killed_at=f"{seen.get('killed', seen['exited']):.2f} s (aimed {when})",
           rows_at_destination_after_kill=sum(len(rows) for rows in after_kill.values()),
           uncommitted_state_rows_after_kill=orphan_states, campaigns=len(final["campaigns"]))
    assert killed, f"the run exited {proc.returncode} before the kill ({when}): nothing was proven"
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr
    assert not violations, violations
    assert not local_ahead or pending, "local state ahead of the destination with nothing pending to carry it"
    assert result["identical"], result
    assert dups == 0
    if pending:
        assert "interrupted run" in rerun.stderr


@pytest.mark.parametrize("table", COMMIT_KILL_TABLES)
def test_sigkill_right_after_a_job_committed(table, tmp_path, crash_refs, record):
    """The narrowest window: the destination committed a job's rows, dlt has not yet recorded
    the job as done. dlt alone re-runs the job on resume, appending its rows twice (for
    campaign_statistics: doubling its staging rows, which the key-less delete-insert merge then
    inserts twice); the runner settles such jobs first (load.steps._settle_committed_jobs). Other
    jobs running in parallel may have committed at the same instant too: the same check covers
    them (this was the "1 in 4" duplicate seen when only history was killed)."""
    killed, rerun, violations, result, dups, _ = _kill_after_commit_then_rerun(tmp_path, crash_refs, table)
    ok = killed.returncode == -signal.SIGKILL and rerun.returncode == 0 and result["identical"] and dups == 0
    record(SECTION, "SIGKILL right after a load job committed, before dlt marked it done", ok=ok,
           lost=result["lost"], duplicates=dups,
           outcome="re-run: identical, the committed job is not applied twice" if ok else
           f"differs: {result['differing_tables']}", table=table)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert rerun.returncode == 0, rerun.stderr
    assert not violations, violations
    assert dups == 0 and result["identical"], result


def test_sigkill_between_normalize_commit_and_cleanup(tmp_path, crash_refs, record):
    """dlt's normalize renames the package into the load storage, then deletes the extracted
    copy ("do not kill this process"). Killed in between, both remain; dlt alone re-normalizes
    the copy and fails on every later run. The runner drops the copy of a committed package."""
    killed, rerun, violations, result, dups, both = _kill_after_commit_then_rerun(
        tmp_path, crash_refs, "normalize", after_kill=lambda working_dir: package_phase(working_dir) == "load"
        and bool(_entries(working_dir / "normalize" / "extracted")))
    ok = killed.returncode == -signal.SIGKILL and both and rerun.returncode == 0 and result["identical"] and dups == 0
    record(SECTION, "SIGKILL between normalize's commit and its cleanup (extracted + normalized copies)", ok=ok,
           lost=result["lost"], duplicates=dups,
           outcome="re-run: identical, the extracted copy dropped" if ok else f"differs: {result['differing_tables']}")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert both, "the kill did not land between the rename and the cleanup"
    assert rerun.returncode == 0, rerun.stderr
    assert not violations, violations
    assert dups == 0 and result["identical"], result


@pytest.mark.parametrize("window", ["publish-copy", "publish-rename", "seed-copy"])
def test_sigkill_during_publish(window, tmp_path, crash_refs, record):
    """The publish (publish.py): killed half-way through copying the working copy next to the
    published file, right after the rename (before its bookkeeping), or half-way through seeding
    a missing working copy from an existing file. Right after the kill readers see one whole
    generation (none yet, or the run at T); the re-run at T+1h converges to exactly the
    uninterrupted T, T+1h, and leaves no temporary file and no WAL next to the file."""
    _, _, ref_b, ref_t = crash_refs
    paths = CliPaths(tmp_path)
    with new_sim() as sim:
        if window == "seed-copy":  # an existing file without its working copy: an upgrade, a new machine
            assert run_cli(["run", "--no-models"], sim, paths, **CLI_ENV).returncode == 0
            shutil.rmtree(working_copy(paths.db).parent)
        killed = _kill_at(window, sim, paths)
        half_copies = [p.name for p in paths.root.rglob("*bsg-tmp*")]
        readers_saw = snapshot_db(paths.db)
        sim.advance(hours=1)
        rerun = run_cli(["run", "--no-models"], sim, paths, **CLI_ENV)
        final = snapshot_db(paths.db)
        violations = state_violations(_source_state(destination_state(paths.db)), final, sim)
    before = {name: [] for name in ref_t} if window == "publish-copy" else ref_t
    result = compare(ref_b, final)
    dups = sum(duplicate_rows(paths.db).values())
    leftovers = [p.name for p in paths.root.rglob("*") if "bsg-tmp" in p.name or p.name.endswith(".wal")]
    ok = (killed.returncode == -signal.SIGKILL and readers_saw == before and rerun.returncode == 0
          and result["identical"] and dups == 0 and not violations and not leftovers)
    record(SECTION, f"SIGKILL during the publish ({window})", ok=ok, lost=result["lost"], duplicates=dups,
           outcome="readers saw one whole generation; re-run identical, nothing left behind" if ok else
           f"differs: {result['differing_tables']} leftovers {leftovers}", half_copies=len(half_copies))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (window == "publish-rename") != bool(half_copies), half_copies  # the kill hit the copy
    assert readers_saw == before
    assert rerun.returncode == 0, rerun.stderr
    assert not violations, violations
    assert dups == 0 and result["identical"], result
    assert snapshot_db(working_copy(paths.db)) == final
    assert not leftovers, leftovers


def _kill_after_commit_then_rerun(tmp_path: Path, crash_refs, kill_after: str, after_kill=None):
    """kill_after_commit.py with KILL_AFTER_TABLE=`kill_after` at T, a plain re-run at T+1h,
    compared with the uninterrupted reference B. `after_kill(working_dir)` looks at what the
    kill left before the re-run. Returns (killed, rerun, violations, comparison, duplicates,
    what after_kill saw)."""
    _, _, ref_b, _ = crash_refs
    paths = CliPaths(tmp_path)
    with new_sim() as sim:
        killed = _kill_at(kill_after, sim, paths)
        seen = after_kill(paths.working_dir) if after_kill is not None else None
        sim.advance(hours=1)
        rerun = run_cli(["run", "--no-models"], sim, paths, **CLI_ENV)
        final = snapshot_db(paths.db)
        violations = state_violations(_source_state(destination_state(paths.db)), final, sim)
    return killed, rerun, violations, compare(ref_b, final), sum(duplicate_rows(paths.db).values()), seen


def _kill_at(kill_after: str, sim: Simulator, paths: CliPaths) -> subprocess.CompletedProcess:
    script = Path(__file__).with_name("kill_after_commit.py")
    return subprocess.run([sys.executable, str(script), "run", "--no-models"], cwd=paths.root,
                          env=cli_env(sim, paths, KILL_AFTER_TABLE=kill_after, **CLI_ENV),
                          capture_output=True, text=True, timeout=180)


def _source_state(state: Optional[dict]) -> Optional[dict]:
    return None if state is None else state.get("sources", {}).get("bsg")


def _version(state: Optional[dict]) -> int:
    return 0 if state is None else int(state.get("_state_version", 0))


def _local_version(paths: CliPaths) -> int:
    try:
        return int(json.loads((paths.working_dir / "state.json").read_text()).get("_state_version", 0))
    except (FileNotFoundError, ValueError):
        return 0
