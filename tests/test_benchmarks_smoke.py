"""The benchmark harness works end to end at tiny sizes (`python -m benchmarks --quick`).

Benchmarks are not tests: this checks only that every target runs and reports, not the numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(180)
def test_quick_benchmark_runs_every_target(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out),
                           "--workdir", str(tmp_path / "scratch")],
                          cwd=REPO, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["quick"] is True
    approaches = results["target1"]["approaches"]
    for name in ("seq_requests", "rest_api_defaults", "rest_api_parallel_16", "pool_requests_16", "connector_16"):
        assert approaches[name]["ok"], (name, approaches[name].get("error"))
        assert approaches[name]["campaigns"] == approaches[name]["n"], name
        assert approaches[name]["peak_rss_mb"] > 0
    assert results["target1"]["network_floor"]["campaigns_per_s"] > 0
    assert all(run["ok"] for run in results["target1_sweep"]["sweep"].values())
    assert all(run["ok"] for run in results["target1_sweep"]["rate_cap"]["runs"].values())
    assert results["target2"]["connector"]["ok"] and results["target2"]["floor"]["ok"]
    assert results["target2"]["ratio_vs_floor"] > 0
    assert all(run["ok"] for run in results["target3"]["runs"].values())
    t4 = results["target4"]
    assert t4["full_load"]["ok"] and t4["requests"] > 0 and t4["requests_allowed"] > 0
    assert results["target5"]["ok"] and results["target5"]["campaigns"] >= 20_000
    markdown = (out / "results.md").read_text()
    assert "## Targets" in markdown and "network floor" in markdown
