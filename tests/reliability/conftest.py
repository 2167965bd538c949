"""Reliability suite plumbing: the `reliability` marker, full vs reduced sizes, and a recorder
that turns each test's measurements into `results.json` (RELIABILITY.md is generated from it by
`report.py`, never typed by hand).

Sizes: the default (`make test`) runs every proof in a reduced form that fits CI; set
`BSG_RELIABILITY_FULL=1` (what `make test-reliability` does) for the full-size figures.
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import pytest

from .sizes import FULL

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reliability: fault, crash and hostile-input proofs (tests/reliability)")


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:  # every test here carries the marker: `-m reliability` / `-m "not reliability"`
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.reliability)


class Recorder:
    """What RELIABILITY.md is made of: every collected proof with pytest's own verdict on it
    (passed / failed / error / skipped / not run), and the rows the proofs recorded. A test
    records what it measured *before* asserting, so a failing proof still shows its figures; a
    proof that raised before recording, or was skipped, still appears, by its verdict."""

    def __init__(self) -> None:
        self.rows: List[Dict[str, Any]] = []
        self.collected: List[str] = []  # nodeids, in collection order
        self.collected_ids: Set[str] = set()
        self.files: Set[str] = set()  # the proof files those come from
        self.verdicts: Dict[str, str] = {}
        self.reasons: Dict[str, str] = {}
        self.deselected = 0
        self.started = time.monotonic()

    def record(self, section: str, fault: str, *, ok: bool, lost: Optional[int], duplicates: Optional[int],
               trials: int = 1, outcome: str = "", nodeid: str = "", **figures: Any) -> None:
        """`lost`/`duplicates` have no default: None means "not measured", never a silent 0."""
        self.rows.append({"section": section, "fault": fault, "ok": bool(ok), "trials": int(trials),
                          "lost": lost, "duplicates": duplicates, "outcome": outcome, "nodeid": nodeid,
                          "figures": figures})

    def verdict(self, nodeid: str, when: str, outcome: str, reason: str) -> None:
        """pytest's report of one phase. A failed setup or teardown is an error (the proof did not
        run to its end); a skip in any phase is a skip; a later phase never upgrades a verdict."""
        if outcome == "skipped":
            verdict = "skipped"
        elif outcome == "failed":
            verdict = "failed" if when == "call" else "error"
        elif when == "call":
            verdict = "passed"
        else:
            return
        if self.verdicts.get(nodeid, "passed") == "passed":
            self.verdicts[nodeid] = verdict
            if reason:
                self.reasons[nodeid] = reason

    def results(self, invocation: List[str], finished: bool) -> Dict[str, Any]:
        for row in self.rows:
            row["test"] = self.verdicts.get(row["nodeid"], "not run")
        return {"mode": "full" if FULL else "reduced",
                "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "duration_seconds": round(time.monotonic() - self.started, 1),
                "environment": {"python": platform.python_version(), "dlt": version("dlt"),
                                "duckdb": version("duckdb"), "cpus": os.cpu_count()},
                "finished": finished, "invocation": invocation, "deselected": self.deselected,
                # every proof file of the suite, and those this session collected nothing from
                "uncollected_files": sorted({p.name for p in HERE.glob("test_*.py")} - self.files),
                "proofs": [{"nodeid": nodeid, "test": self.verdicts.get(nodeid, "not run"),
                            "reason": self.reasons.get(nodeid, "")} for nodeid in self.collected],
                "rows": self.rows}


_RECORDER = Recorder()


@pytest.fixture
def record(request: pytest.FixtureRequest):
    """`record(section, fault, ok=..., lost=..., duplicates=..., trials=..., **figures)`."""

    def _record(section: str, fault: str, **kwargs: Any) -> None:
        _RECORDER.record(section, fault, nodeid=request.node.nodeid, **kwargs)

    return _record


def pytest_deselected(items: List[pytest.Item]) -> None:
    _RECORDER.deselected += sum(1 for item in items if HERE in Path(str(item.fspath)).resolve().parents)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The proofs of this session: what is left after -k/-m/deselection, in collection order."""
    ours = [item for item in session.items if HERE in Path(str(item.fspath)).resolve().parents]
    _RECORDER.collected = [item.nodeid for item in ours]
    _RECORDER.collected_ids = set(_RECORDER.collected)
    _RECORDER.files = {Path(str(item.fspath)).name for item in ours}
    if _RECORDER.collected:  # a session that never finishes must not leave the last one's file behind
        _write(session, finished=False)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _RECORDER.collected_ids:
        return
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])  # (file, line, "Skipped: why")
    else:
        crash = getattr(report.longrepr, "reprcrash", None)  # "RuntimeError: boom", where it was raised
        reason = crash.message.splitlines()[0] if report.failed and crash is not None and crash.message else ""
    _RECORDER.verdict(report.nodeid, report.when, report.outcome, reason)


def results_path() -> Path:
    """BSG_RELIABILITY_RESULTS wins; a full run writes next to this file (the input of
    RELIABILITY.md); a reduced run keeps its figures out of the source tree."""
    explicit = os.environ.get("BSG_RELIABILITY_RESULTS")
    if explicit:
        return Path(explicit)
    # `make test` runs under pytest-xdist: each worker holds only its share of the proofs, so
    # each writes its own file (a whole report needs one session: `make test-reliability`).
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        return HERE.parents[1] / ".pytest_cache" / f"bsg-reliability-results-{worker}.json"
    if FULL:
        return HERE / "results.json"
    return HERE.parents[1] / ".pytest_cache" / "bsg-reliability-results.json"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write this session's results, replacing the file: rows of an earlier session are never
    kept (their verdicts are not this code's). A session that collected no proof writes nothing."""
    if _RECORDER.collected:
        _write(session, finished=True)


def _write(session: pytest.Session, finished: bool) -> None:
    path = results_path()
    results = _RECORDER.results(list(session.config.invocation_params.args), finished)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
