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
from pathlib import Path
from typing import Any, Dict, List, Optional

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
    """Rows for RELIABILITY.md. A test records what it measured *before* asserting, so a failing
    proof still shows up (marked by pytest's own verdict, attached after the test ran)."""

    def __init__(self) -> None:
        self.rows: List[Dict[str, Any]] = []
        self.verdicts: Dict[str, str] = {}
        self.started = time.monotonic()

    def record(self, section: str, fault: str, *, ok: bool, trials: int = 1, lost: Optional[int] = 0,
               duplicates: Optional[int] = 0, outcome: str = "", nodeid: str = "", **figures: Any) -> None:
        self.rows.append({"section": section, "fault": fault, "ok": bool(ok), "trials": int(trials),
                          "lost": lost, "duplicates": duplicates, "outcome": outcome, "nodeid": nodeid,
                          "figures": figures})

    def results(self) -> Dict[str, Any]:
        for row in self.rows:
            row["test"] = self.verdicts.get(row["nodeid"], "not run")
        import dlt
        import duckdb

        return {"mode": "full" if FULL else "reduced",
                "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "duration_seconds": round(time.monotonic() - self.started, 1),
                "environment": {"python": platform.python_version(), "dlt": dlt.__version__,
                                "duckdb": duckdb.__version__, "cpus": os.cpu_count()},
                "rows": self.rows}


_RECORDER = Recorder()


@pytest.fixture
def record(request: pytest.FixtureRequest):
    """`record(section, fault, ok=..., lost=..., duplicates=..., trials=..., **figures)`."""

    def _record(section: str, fault: str, **kwargs: Any) -> None:
        _RECORDER.record(section, fault, nodeid=request.node.nodeid, **kwargs)

    return _record


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _RECORDER.verdicts[item.nodeid] = report.outcome


def results_path() -> Path:
    """BSG_RELIABILITY_RESULTS wins; a full run writes next to this file (the input of
    RELIABILITY.md); a reduced run keeps its figures out of the source tree."""
    explicit = os.environ.get("BSG_RELIABILITY_RESULTS")
    if explicit:
        return Path(explicit)
    if FULL:
        return HERE / "results.json"
    return HERE.parents[1] / ".pytest_cache" / "bsg-reliability-results.json"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the results; rows of tests that did not run this session are kept from the previous
    file of the same mode, so re-running one proof does not drop the others from the report."""
    if not _RECORDER.rows:
        return
    path = results_path()
    results = _RECORDER.results()
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = None
    if previous and previous.get("mode") == results["mode"]:
        ran = set(_RECORDER.verdicts) | {row["nodeid"] for row in _RECORDER.rows}
        kept = [row for row in previous.get("rows", []) if row.get("nodeid") not in ran]
        results["rows"] = kept + results["rows"]
        results["duration_seconds"] = None if kept else results["duration_seconds"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
