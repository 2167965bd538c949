"""Secrets never leak: the api key and every bearer token the simulator issued appear nowhere -
not in stdout/stderr at debug level, not in exception texts, not in any file the runs wrote
(dlt's trace, state, load packages, last_run.json, the DuckDB file) and not in any table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List

import duckdb
import pytest

from bsg_campaigns.api.client import BsgClient, RetryPolicy
from bsg_campaigns.exceptions import UserError
from bsg_campaigns.simulator import Simulator, SimulatorConfig
from conftest import Harness

from .util import CliPaths, files_under, run_cli, start_cli

SECTION = "Secrets and safety"
API_KEY = "live_S3cr3tKey_do_not_leak_7f3a9c51"
JWT_HEADER = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9"  # the simulator's token header, base64url


def issued_tokens(sim: Simulator) -> List[str]:
    """Record every bearer token the simulator hands out (login and refresh)."""
    tokens: List[str] = []
    issue = sim.auth.issue

    def recording(lifetime_s: float) -> str:
        token = issue(lifetime_s)
        tokens.append(token)
        return token

    sim.auth.issue = recording  # type: ignore[method-assign]
    return tokens


def needles(tokens: List[str]) -> Dict[str, str]:
    found = {"api key": API_KEY, "JWT header": JWT_HEADER}
    for index, token in enumerate(tokens):
        found[f"token {index}"] = token
        found[f"token {index} signature"] = token.rsplit(".", 1)[-1]
    return found


def table_text(db: Path) -> str:
    """Every text/JSON value of every table in every schema of the DuckDB file."""
    if not db.exists():
        return ""
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = con.execute("select table_schema, table_name, column_name from information_schema.columns "
                              "where data_type in ('VARCHAR', 'JSON')").fetchall()
        chunks = []
        for schema, table, column in columns:
            rows = con.execute(f'select "{column}"::varchar from "{schema}"."{table}" where "{column}" is not null').fetchall()
            chunks.extend(r[0] for r in rows)
        return "\n".join(chunks)
    finally:
        con.close()


def leaks(haystacks: Dict[str, bytes], tokens: List[str]) -> List[str]:
    return [f"{what} in {where}" for where, data in haystacks.items()
            for what, needle in needles(tokens).items() if needle.encode() in data]


def test_no_secret_anywhere_after_debug_runs(tmp_path, record):
    """Debug-level CLI runs that succeed (with token refreshes and retries), fail on an outage,
    stop on a revoked key, and use a wrong key; then `status --json`. Grep everything."""
    config = SimulatorConfig(seed=6, campaigns=50, api_key=API_KEY, token_lifetime_s=1.0, latency_ms=20,
                             fault_rate=0.1, fault_kinds=("500", "429", "html_200", "truncated"))
    outputs: Dict[str, bytes] = {}
    paths = CliPaths(tmp_path / "run")
    with Simulator(config).start() as sim:
        tokens = issued_tokens(sim)
        env = {"SOURCES__BSG__CONCURRENCY": "2", "RUNTIME__LOG_LEVEL": "DEBUG"}
        ok_run = run_cli(["-v", "run", "--json"], sim, paths, **env)
        outputs["successful run"] = (ok_run.stdout + ok_run.stderr).encode()
        sim.advance(hours=1)

        sim.configure(outage=True)
        outage = run_cli(["-v", "run", "--no-models"], sim, paths, SOURCES__BSG__MAX_ATTEMPTS="2", **env)
        outputs["outage run"] = (outage.stdout + outage.stderr).encode()
        sim.configure(outage=False)

        revoked = start_cli(["-v", "run", "--no-models"], sim, paths, **env)
        while sim.stats()["detail"] < 5 and revoked.poll() is None:
            time.sleep(0.002)
        sim.revoke_key()
        out, err = revoked.communicate(timeout=120)
        outputs["revoked-key run"] = (out + err).encode()
        sim.restore_key()

        wrong = run_cli(["-v", "run"], sim, CliPaths(tmp_path / "wrong"), SOURCES__BSG__API_KEY="live_wrong_" + API_KEY[5:],
                        **env)
        outputs["wrong-key run"] = (wrong.stdout + wrong.stderr).encode()
        status = run_cli(["-v", "status", "--json"], sim, paths, **env)
        outputs["status --json"] = (status.stdout + status.stderr).encode()
    written = {str(path.relative_to(tmp_path)): path.read_bytes() for path in files_under(tmp_path)}
    tables = {"DuckDB tables (all text columns)": table_text(paths.db).encode()}
    found = leaks({**outputs, **written, **tables}, tokens + ["live_wrong_" + API_KEY[5:]])
    codes = (ok_run.returncode, outage.returncode, revoked.returncode, wrong.returncode)
    ok = not found and codes == (0, 1, 2, 2) and len(tokens) >= 2
    record(SECTION, "api key and bearer tokens in output (debug), files, tables", ok=ok, trials=len(outputs),
           lost=None, duplicates=None,
           outcome=(f"0 occurrences of the key or any of {len(tokens)} tokens in {len(outputs)} outputs, "
                    f"{len(written)} files, every table") if not found else "; ".join(found[:4]),
           files_searched=len(written), tokens_issued=len(tokens))
    assert codes == (0, 1, 2, 2), [ok_run.stderr[-500:], outage.stderr[-500:], err[-500:], wrong.stderr[-500:]]
    assert len(tokens) >= 2, "no token renewal happened: refresh paths were not exercised"
    assert any("trace" in name for name in written) and any("state" in name for name in written)
    assert found == [], found


def test_no_secret_in_exception_texts(tmp_path, record):
    """Every exception a user or a scheduler could see, with its whole chain, and the client's repr."""
    with Simulator(SimulatorConfig(seed=6, campaigns=30, api_key=API_KEY, latency_ms=5)).start() as sim:
        tokens = issued_tokens(sim)
        texts: List[str] = []
        client = BsgClient(sim.base_url, API_KEY, retry=RetryPolicy(max_attempts=2, backoff_seconds=0.01))
        client.login()
        texts.append(repr(client))
        harness = Harness(tmp_path, sim, "exc")
        harness.run()
        sim.revoke_key()
        with pytest.raises(UserError) as revoked:
            harness.run()
        sim.restore_key()
        sim.configure(outage=True)
        with pytest.raises(Exception) as outage:
            harness.run(max_attempts=2)
        sim.configure(outage=False)
        for info in (revoked, outage):
            current: BaseException = info.value
            while current is not None:
                texts += [str(current), repr(current), repr(getattr(current, "args", ""))]
                current = current.__cause__ or current.__context__
        texts.append(str(harness.pipeline.last_trace))
    found = leaks({f"exception text {i}": t.encode() for i, t in enumerate(texts)}, tokens)
    record(SECTION, "api key and tokens in exception texts and reprs", ok=not found, trials=len(texts), lost=None,
           duplicates=None, outcome=f"0 occurrences in {len(texts)} texts" if not found else "; ".join(found[:4]))
    assert found == [], found
