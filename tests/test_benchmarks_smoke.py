"""The benchmark harness works end to end at tiny sizes (`python -m benchmarks --quick`) and
compares like with like.

Benchmarks are not tests: no timing is checked here. What is checked are the harness's rules,
by counts the simulator saw: every approach lists the same windows at the same page size (the
list requests each made equal what the catalogue needs), the floors and ideals are computed from
the catalogue, and target 4's allowance does not follow what the connector reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

REPO = Path(__file__).resolve().parents[1]
LATENCY_S = 0.020


def _quick(out: Path, *extra: str) -> Dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out),
                           "--workdir", str(out / "scratch"), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    results = _quick(out)
    results["_markdown"] = (out / "results.md").read_text()
    return results


@pytest.mark.timeout(420)
def test_quick_benchmark_runs_every_target(quick: Dict[str, Any]) -> None:
    assert quick["meta"]["quick"] is True
    approaches = quick["target1"]["approaches"]
    for name in ("seq_requests", "rest_api_defaults", "rest_api_parallel_16", "pool_requests_16", "connector_16",
                 "connector_cli_16", "pool_requests_16_small", "connector_cli_16_small"):
        assert approaches[name]["ok"], (name, approaches[name].get("error"))
        assert approaches[name]["campaigns"] == approaches[name]["n"], name
        assert approaches[name]["peak_rss_mb"] > 0
        assert approaches[name]["process_s"] >= approaches[name]["wall_s"] > 0, name
    assert all(run["ok"] for run in quick["target1_sweep"]["sweep"].values())
    assert all(run["ok"] for run in quick["target1_sweep"]["rate_cap"]["runs"].values())
    assert quick["target2"]["connector"]["ok"] and quick["target2"]["floor"]["ok"]
    assert quick["target2"]["ratio_vs_floor"] > 0
    assert all(run["ok"] for run in quick["target3"]["runs"].values())
    assert quick["target4"]["full_load"]["ok"] and quick["target5"]["ok"]
    assert quick["target5"]["campaigns"] >= 20_000
    markdown = quick["_markdown"]
    assert "## Targets" in markdown and "network floor" in markdown and "Whole process" in markdown


@pytest.mark.timeout(420)
def test_every_approach_lists_like_the_connector(quick: Dict[str, Any]) -> None:
    t1 = quick["target1"]
    approaches = t1["approaches"]
    page_sizes = {name: a["page_size"] for name, a in approaches.items()}
    assert set(page_sizes.values()) == {t1["page_size"]}, page_sizes
    # The simulator's own count: each approach made exactly the list requests the catalogue needs
    # at that page size for the shared windows (pages of 50 for the baselines would be 3, not 2).
    for name, a in approaches.items():
        assert a["server_requests"]["list"] == a["list_calls_needed"], name
        assert a["server_requests"]["detail"] == a["n"], name


@pytest.mark.timeout(420)
def test_floors_and_ideals_come_from_the_catalogue(quick: Dict[str, Any]) -> None:
    t1 = quick["target1"]
    connector = t1["approaches"]["connector_16"]
    floor = t1["network_floor"]
    assert floor["list_pages"] == connector["server_requests"]["list"] == connector["list_calls_needed"]
    assert floor["wall_s"] == pytest.approx((1 + floor["list_pages"] + floor["n"] / 16) * LATENCY_S, abs=1e-3)
    cap = quick["target1_sweep"]["rate_cap"]
    campaigns = quick["meta"]["sizes"]["cap_campaigns"]
    for name, run in cap["runs"].items():
        served = run["accepted_requests"]
        assert run["requests_needed"] == cap["requests_needed"] == served, name  # no 429 was counted as work
        assert run["ideal_s"] == pytest.approx(cap["requests_needed"] / cap["rate"], abs=0.01)
    assert cap["requests_needed"] > campaigns + 1


@pytest.mark.timeout(420)
def test_incremental_allowance_ignores_the_connectors_report(quick: Dict[str, Any], tmp_path: Path) -> None:
    """A connector that over-refreshes (here: configured with a refresh window 12 times the
    documented one) reports more open campaigns and makes more requests: the allowance, computed
    from the catalogue, stays where it was and the request target fails."""
    normal = quick["target4"]
    assert normal["requests_pass"] and normal["requests"] <= normal["requests_allowed"]
    assert normal["requests_allowed"] == (normal["list_pages_needed"] + normal["open_before_measured_run"]
                                          + sum(normal["new_campaigns"].values()) + 1)
    over = _quick(tmp_path / "out", "--targets", "4", "--t4-source", json.dumps({"refresh_window_hours": 2000}))
    t4 = over["target4"]
    assert t4["full_load"]["ok"] and t4["connector_source"]["refresh_window_hours"] == 2000
    assert t4["connector_reported_open"] > normal["connector_reported_open"]
    for key in ("requests_allowed", "open_before_measured_run", "new_campaigns", "list_pages_needed"):
        assert t4[key] == normal[key], key
    assert t4["requests"] > t4["requests_allowed"] and not t4["requests_pass"] and not t4["pass"]


@pytest.mark.timeout(420)
def test_message_benchmarks_compare_like_with_like(quick: Dict[str, Any]) -> None:
    """Target 6 (messages): the script and `bsg-campaigns run` read the same message pages (the
    simulator's count equals the catalogue's pages at 500) and load every message; the memory
    sweep, the load path, the profile and the from-2020 campaign run all ran."""
    t6 = quick["target6"]
    plan = t6["plan"]
    assert plan["messages"] > plan["campaigns"] * quick["meta"]["sizes"]["msg_campaign_size"] - 1
    for name, run in t6["approaches"].items():
        assert run["ok"], (name, run.get("error"))
        assert run["messages"] == run["messages_needed"] == plan["messages"], name
        assert run["server_requests"]["messages"] == run["message_pages_needed"] == plan["message_pages"], name
        assert run["server_requests"]["list"] == plan["list_calls"], name
    cli = t6["approaches"]["messages_cli_16"]
    assert cli["table_rows"]["messages"] == plan["messages"] and cli["table_rows"]["message_reads"] == plan["campaigns"]
    assert len(t6["memory"]) == len(quick["meta"]["sizes"]["msg_memory_campaigns"])
    assert all(run["ok"] and run["table_rows"]["messages"] == int(n) for n, run in t6["memory"].items())
    load = quick["target6_load"]
    assert load["messages_connector"]["ok"] and load["messages_floor"]["ok"]
    assert load["messages_connector"]["rows"] == load["messages_floor"]["rows"]
    assert load["messages_connector"]["rows"]["messages"] == quick["meta"]["sizes"]["msg_load_rows"]
    profile = quick["target6_profile"]
    assert profile["run"]["ok"] and profile["run"]["messages"] == profile["plan"]["messages"]
    assert profile["stacks"]["all"]["samples"] > 0
    from_2020 = quick["target6_from_2020"]
    for name, run in from_2020["approaches"].items():
        assert run["ok"], (name, run.get("error"))
        assert run["server_requests"]["list"] == from_2020["list_calls"] == run["list_calls_needed"], name
        assert run["server_requests"]["detail"] == run["n"], name
