"""A client error about one campaign is that campaign's problem, never an outage: details answered
with 400 / 403 / 409 / a 422 other than "Invalid campaign id" — more of them in a row than the outage
breaker's threshold — leave the run at exit 0, are reported with the server's message, and are
asked for again by later runs; 404 and "Invalid campaign id" still mean gone (not refreshed)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict

import duckdb
import pytest

from bsg_campaigns.app import cli
from bsg_campaigns.extract.fetch import DetailFetcher
from bsg_campaigns.simulator import Simulator, SimulatorConfig

CONCURRENCY = 4
BREAKER = DetailFetcher(None, tz=None, concurrency=CONCURRENCY).max_consecutive_failures  # type: ignore[arg-type]
REASONS = {400: "HTTP 400: Bad Request", 403: "HTTP 403: This action is unauthorized for your mode",
           409: "HTTP 409: Conflict", 422: "HTTP 422: The given data was invalid."}


@pytest.fixture
def setup(tmp_path, monkeypatch):
    with Simulator(SimulatorConfig(seed=13, campaigns=120)).start() as sim:
        rcs = sorted(sim.visible_campaign_ids("rcs"))
        sms = sorted(sim.visible_campaign_ids("sms"))
        # The first rcs ids are listed and fetched one after the other: a streak longer than the
        # breaker's threshold if refusals counted as failures.
        refused = rcs[:BREAKER + 12]
        errors = {cid: (400, 403, 409, 422)[i % 4] for i, cid in enumerate(refused)}
        invalid, not_found = sms[0], sms[1]  # listed, then answered 422 "Invalid campaign id" / 404
        sim.put_detail(invalid, {"message": "Invalid campaign id", "errors": []}, status=422)
        errors[not_found] = 404
        sim.configure(client_errors=errors)
        for name, value in {"SOURCES__BSG__BASE_URL": sim.base_url, "SOURCES__BSG__API_KEY": sim.api_key,
                            "SOURCES__BSG__CONCURRENCY": str(CONCURRENCY),
                            "SOURCES__BSG__RETRY_BACKOFF_SECONDS": "0.01",
                            "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "bsg.duckdb")}.items():
            monkeypatch.setenv(name, value)
        yield sim, tmp_path, refused, errors, (invalid, not_found)


def bsg(tmp_path: Path, capsys, *args: str) -> Dict[str, Any]:
    capsys.readouterr()
    code = cli.main([*args, "--json", "--pipelines-dir", str(tmp_path / "pipelines")])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def loaded(tmp_path: Path, ids) -> Dict[int, tuple]:
    with duckdb.connect(str(tmp_path / "bsg.duckdb"), read_only=True) as con:
        rows = con.execute("select campaign_id, name, status, total_messages, total_price from bsg_campaigns.campaigns "
                           f"where campaign_id in ({', '.join(map(str, ids))})").fetchall()
    return {row[0]: row[1:] for row in rows}


def test_refused_details_are_reported_retried_and_never_an_outage(setup, capsys) -> None:
    sim, tmp_path, refused, errors, gone = setup
    expected_refused = {REASONS[status]: sorted(c for c in refused if errors[c] == status) for status in (400, 403, 409, 422)}

    first = bsg(tmp_path, capsys, "run", "--no-models")

    assert first["status"] == "ok"
    assert {reason: sorted(ids) for reason, ids in first["refused"].items()} == expected_refused
    assert first["failed"] == len(refused) and first["gone"] == 2 and sorted(first["gone_ids"]) == sorted(gone)
    listed = len(sim.visible_campaign_ids("rcs")) + len(sim.visible_campaign_ids("sms"))
    assert first["listed_total"] == listed and first["fetched"] == listed - len(refused) - 2
    assert loaded(tmp_path, refused) == {}
    status = json.loads(_status(tmp_path, capsys))
    assert {int(cid): entry["reason"] for cid, entry in status["retrying"].items()} == {
        cid: REASONS[errors[cid]] for cid in refused}

    # The summary a person reads names them with the server's message.
    capsys.readouterr()
    assert cli.main(["run", "--no-models", "--pipelines-dir", str(tmp_path / "pipelines")]) == 0
    text = capsys.readouterr().out
    assert f"failed           {len(refused)}  (retried next run)" in text
    assert f"refused        {len(expected_refused[REASONS[403]])}  (the API answered {REASONS[403]}: " in text

    # Still refused: asked for again (a refusal only comes from a request), still reported.
    sim.reset_stats()
    again = bsg(tmp_path, capsys, "run", "--no-models")
    assert {reason: sorted(ids) for reason, ids in again["refused"].items()} == expected_refused
    assert sim.stats()["detail"] == again["to_refresh"] and again["to_refresh"] >= len(refused)

    # The API answers again: the next run loads them, exactly as served, and stops retrying.
    sim.configure(client_errors={gone[1]: 404})
    last = bsg(tmp_path, capsys, "run", "--no-models")
    assert last["refused"] == {} and last["failed"] == 0 and last["gone"] == 0
    rows = loaded(tmp_path, refused)
    assert rows == {cid: (d["name"], d["status"], d["total_messages"], Decimal(d["total_price"]))
                    for cid, d in ((cid, sim.expected_detail(cid)) for cid in refused)}
    assert json.loads(_status(tmp_path, capsys))["retrying"] == {}


def _status(tmp_path: Path, capsys) -> str:
    capsys.readouterr()
    assert cli.main(["status", "--json", "--pipelines-dir", str(tmp_path / "pipelines")]) == 0
    return capsys.readouterr().out
