"""The report cannot claim a proof that did not run: a tiny generated suite, run by pytest in a
subprocess with this directory's own conftest.py (the recorder) and rendered by report.py, with
a proof that passes, one that raises before recording, one whose fixture breaks, one skipped and
one that records a failure. Every one is listed by its own verdict, the headline says FAIL and
the report exits 1; a later session of one proof never inherits the earlier rows; a suite that
all passed renders "pass" and exits 0 (so the failing verdicts are not just always-on)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
SECTION = "The report itself"

MIXED = '''
import pytest

def test_passes(record):
    record("Section", "a fault that passes", ok=True, lost=0, duplicates=0)

def test_raises_before_recording(record):
    raise RuntimeError("boom before record")

@pytest.fixture
def broken():
    raise RuntimeError("setup broke")

def test_fixture_breaks(broken, record):
    record("Section", "never recorded", ok=True, lost=0, duplicates=0)

def test_skipped(record):
    pytest.skip("no server here")

def test_records_then_fails(record):
    record("Section", "a fault that fails", ok=False, lost=None, duplicates=None)
    assert False, "the proof failed"
'''

ALL_PASS = '''
def test_one(record):
    record("Section", "first fault", ok=True, lost=0, duplicates=0)

def test_two(record):
    record("Section", "second fault", ok=True, lost=None, duplicates=None)
'''


def make_suite(root: Path, files: Dict[str, str]) -> Path:
    """A copy of the recorder (conftest.py, sizes.py) next to the generated proof files."""
    suite = root / "reliability"
    suite.mkdir(parents=True)
    for name in ("__init__.py", "conftest.py", "sizes.py"):
        shutil.copy(HERE / name, suite / name)
    for name, text in files.items():
        (suite / name).write_text(text)
    return suite


def session(suite: Path, results: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BSG_RELIABILITY_RESULTS": str(results)}
    env.pop("BSG_RELIABILITY_FULL", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           str(suite), *args], cwd=suite.parent, env=env, capture_output=True, text=True, timeout=120)


def render(results: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HERE / "report.py"), str(results)], capture_output=True, text=True,
                          timeout=60)


def proofs(results: Path) -> Dict[str, str]:
    return {p["nodeid"].split("::")[-1]: p["test"] for p in json.loads(results.read_text())["proofs"]}


def headline(markdown: str) -> str:
    return next(line for line in markdown.splitlines() if line.startswith("**Result"))


def test_report_lists_every_proof_by_its_verdict_and_fails(tmp_path, record):
    suite = make_suite(tmp_path / "mixed", {"test_mixed.py": MIXED})
    results = tmp_path / "results.json"
    ran = session(suite, results)
    report = render(results)
    problems: List[str] = []
    expected = {"test_passes": "passed", "test_raises_before_recording": "failed", "test_fixture_breaks": "error",
                "test_skipped": "skipped", "test_records_then_fails": "failed"}
    if proofs(results) != expected:
        problems.append(f"verdicts {proofs(results)}")
    head = headline(report.stdout)
    for fragment in ("**Result: FAIL**", "2 failed", "1 error", "1 skipped", "1 of 5 proofs passed",
                     "data lost 0, duplicates 0 (compared in 1 of 2 rows)"):
        if fragment not in head:
            problems.append(f"headline lacks {fragment!r}: {head}")
    silent = {line.split("`")[1].split("::")[-1]: line for line in report.stdout.splitlines()
              if line.startswith("| `") and "::" in line}
    if set(silent) != {"test_raises_before_recording", "test_fixture_breaks", "test_skipped"}:
        problems.append(f"proofs that recorded nothing: {sorted(silent)}")
    elif not ("**FAILED**" in silent["test_raises_before_recording"] and "boom before record" in
              silent["test_raises_before_recording"] and "**ERROR**" in silent["test_fixture_breaks"]
              and "**SKIPPED**" in silent["test_skipped"] and "no server here" in silent["test_skipped"]):
        problems.append(f"rows of proofs that recorded nothing: {silent}")
    failing_row = next((line for line in report.stdout.splitlines() if "a fault that fails" in line), "")
    if "**FAILED**" not in failing_row or failing_row.count("not measured") != 2:
        problems.append(f"the failing row: {failing_row!r}")
    if report.returncode != 1 or "report FAILS" not in report.stderr:
        problems.append(f"report exit {report.returncode}: {report.stderr[-300:]}")

    # A later session of one proof: the earlier rows and verdicts are gone, and it says so.
    again = session(suite, results, "-k", "test_passes")
    later = json.loads(results.read_text())
    later_report = render(results)
    if [r["fault"] for r in later["rows"]] != ["a fault that passes"] or list(proofs(results)) != ["test_passes"]:
        problems.append(f"earlier rows kept: {[r['fault'] for r in later['rows']]}")
    if later_report.returncode != 1 or "4 deselected" not in headline(later_report.stdout):
        problems.append(f"partial session: exit {later_report.returncode}, {headline(later_report.stdout)}")

    record(SECTION, "a proof that errors, fails, is skipped or is deselected fails the report", ok=not problems,
           lost=None, duplicates=None, trials=2,
           outcome="each listed by its own verdict; headline FAIL; exit 1" if not problems else "; ".join(problems)[:200])
    assert ran.returncode == 1, ran.stdout[-2000:]  # the generated suite fails, as written
    assert again.returncode == 0, again.stdout[-2000:]
    assert problems == [], problems


def test_report_of_a_suite_that_passed_passes(tmp_path, record):
    suite = make_suite(tmp_path / "ok", {"test_ok.py": ALL_PASS})
    results = tmp_path / "results.json"
    ran = session(suite, results)
    report = render(results)
    head = headline(report.stdout)
    ok = (ran.returncode == 0 and report.returncode == 0 and head.startswith("**Result: pass**")
          and "2 of 2 proofs passed" in head and "(compared in 1 of 2 rows)" in head
          and "recorded nothing" not in report.stdout)
    record(SECTION, "a suite whose proofs all passed renders pass, exit 0", ok=ok, lost=None, duplicates=None,
           outcome="headline pass, exit 0" if ok else head[:200])
    assert ran.returncode == 0, ran.stdout[-2000:]
    assert report.returncode == 0, report.stderr
    assert head.startswith("**Result: pass**") and "2 of 2 proofs passed" in head, head
    assert "(compared in 1 of 2 rows)" in head and "recorded nothing" not in report.stdout
