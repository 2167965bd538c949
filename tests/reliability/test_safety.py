"""Transport and SQL safety: TLS verification stays on (environment variables cannot turn it off),
the base URL must be http(s), a redirect is never followed (the bearer and the api key never reach
another host), and nothing from configuration reaches SQL text unvalidated."""

from __future__ import annotations

import json
import re
import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List

import dlt
import pytest

from bsg_campaigns.api.client import BsgClient, RetryPolicy, _pool_manager
from bsg_campaigns.api.exceptions import ApiError
from bsg_campaigns.app.runner import make_pipeline
from bsg_campaigns.exceptions import RunFailed, UserError
from bsg_campaigns.simulator import Simulator, SimulatorConfig
from conftest import Harness

from .util import CliPaths, run_cli

SECTION = "Secrets and safety"
FAKE_JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl"  # exp in 2100


class Recorded(BaseHTTPRequestHandler):
    """A tiny API: records every request; `routes` maps (method, path prefix) -> (status, headers, body)."""

    routes: Dict[tuple, tuple] = {}
    seen: List[Dict[str, Any]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
        for (method, prefix), (status, headers, payload) in self.routes.items():
            if method == self.command and self.path.startswith(prefix):
                break
        else:
            status, headers, payload = 404, {}, b'{"message":"Not Found"}'
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(payload)), "Content-Type": "application/json"}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


def serve(host: str, routes: Dict[tuple, tuple], tls: ssl.SSLContext = None):
    handler = type("Handler", (Recorded,), {"routes": routes, "seen": []})
    server = ThreadingHTTPServer((host, 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler.seen


def other_host() -> str:
    """A second loopback address when the OS has one (Linux routes all of 127/8), else the same."""
    try:
        probe = ThreadingHTTPServer(("127.0.0.2", 0), Recorded)
        probe.server_close()
        return "127.0.0.2"
    except OSError:
        return "localhost"


@pytest.mark.parametrize("redirected", ["login (307: would re-send the api key)", "list (302: would re-send the bearer)"])
def test_redirect_to_another_host_is_refused(redirected, tmp_path, record):
    target, target_seen = serve(other_host(), {})
    elsewhere = f"http://{target.server_address[0]}:{target.server_address[1]}"
    if redirected.startswith("login"):
        routes = {("POST", "/api/auth/login"): (307, {"Location": elsewhere + "/api/auth/login"}, b"")}
    else:
        routes = {("POST", "/api/auth/login"): (200, {}, json.dumps({"bearer": FAKE_JWT}).encode()),
                  ("GET", "/api/campaigns"): (302, {"Location": elsewhere + "/api/campaigns"}, b"")}
    origin, origin_seen = serve("127.0.0.1", routes)
    base_url = f"http://127.0.0.1:{origin.server_address[1]}"
    try:
        client = BsgClient(base_url, "live_key_for_redirect_test", retry=RetryPolicy(max_attempts=3))
        with pytest.raises(ApiError) as direct:
            client.login()
            client.get("/api/campaigns", params={"filter[type]": "sms"})
        pipeline = make_pipeline(pipelines_dir=str(tmp_path / "p"), duckdb_path=str(tmp_path / "r.duckdb"),
                                 pipeline_name="redirect")
        from bsg_campaigns.app.runner import run

        with pytest.raises((RunFailed, UserError)) as through_pipeline:
            run(pipeline, build_models=False, base_url=base_url, api_key="live_key_for_redirect_test",
                retry_backoff_seconds=0.01)
    finally:
        origin.shutdown(), target.shutdown()
    leaked = [r for r in target_seen if "Authorization" in r["headers"] or b"live_key" in r["body"]]
    message = str(direct.value)
    ok = not target_seen and "redirect" in message and "redirect" in str(through_pipeline.value)
    record(SECTION, f"redirect on {redirected.split(' ')[0]} to another host", ok=ok, lost=None, duplicates=None,
           outcome=f"refused: \"{message[:90]}\"; the other host got {len(target_seen)} requests")
    assert "unexpected redirect" in message and target.server_address[0] in message
    assert "redirect" in str(through_pipeline.value)
    assert target_seen == [] and leaked == []
    # never retried either: one login (and one list call) for the client, the same for the pipeline run
    assert len(origin_seen) == (2 if redirected.startswith("login") else 4)


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls_verification_cannot_be_switched_off(tmp_path, monkeypatch, record):
    """A self-signed HTTPS API is refused, even with the environment variables that disable
    verification in other HTTP stacks (requests' CURL_CA_BUNDLE="", PYTHONHTTPSVERIFY=0)."""
    for name, value in {"CURL_CA_BUNDLE": "", "REQUESTS_CA_BUNDLE": "", "PYTHONHTTPSVERIFY": "0",
                        "SSL_CERT_FILE": ""}.items():
        monkeypatch.setenv(name, value)
    server, seen = serve("127.0.0.1", {("POST", "/api/auth/login"): (200, {}, json.dumps({"bearer": FAKE_JWT}).encode())},
                         tls=_self_signed(tmp_path))
    try:
        client = BsgClient(f"https://127.0.0.1:{server.server_address[1]}", "live_key_for_tls_test",
                           retry=RetryPolicy(max_attempts=2, backoff_seconds=0.01))
        with pytest.raises(ApiError) as info:
            client.login()
    finally:
        server.shutdown()
    pool = _pool_manager("https://one-api.bsg.world", 2)
    required = pool.connection_pool_kw.get("cert_reqs") == "CERT_REQUIRED" and pool.connection_pool_kw.get("ca_certs")
    ok = bool(required) and seen == [] and "SSLError" in str(info.value)
    record(SECTION, "TLS: self-signed certificate, verification-disabling env vars set", ok=ok, lost=None,
           duplicates=None, outcome=f"refused before any request: \"{str(info.value)[:80]}\"")
    assert "SSLError" in str(info.value), str(info.value)
    assert seen == [], "the api key was sent over an unverified connection"
    assert required


@pytest.mark.parametrize("base_url", ["ftp://one-api.bsg.world", "file:///etc/passwd", "javascript:alert(1)",
                                      "one-api.bsg.world", "https://", "http://user:secret@one-api.bsg.world",
                                      "gopher://127.0.0.1:70/_x"])
def test_base_url_must_be_http_or_https(base_url, tmp_path, record):
    with Simulator(SimulatorConfig(seed=1, campaigns=5)).start() as sim:
        harness = Harness(tmp_path, sim, "url")
        with pytest.raises(UserError) as info:
            harness.run(base_url=base_url)
        requests = sim.stats()["total"]
    message = str(info.value)
    ok = "`base_url`" in message and "SOURCES__BSG__BASE_URL" in message and "secret" not in message and requests == 0
    record(SECTION, "base URL not http(s), or carrying credentials", ok=ok, lost=None, duplicates=None,
           outcome="refused before any request, message names `base_url`", url=base_url)
    assert ok, message


HOSTILE_DATASETS = ['x"; drop table campaigns; --', "a b", "bsg-campaigns", "1abc", "é", "a" * 64, "abc\n"]


def test_dataset_name_is_validated(tmp_path, record):
    """A dataset name is an identifier in every SQL statement: anything but a plain identifier stops
    the CLI with exit 2 (no traceback, nothing run) and `make_pipeline` with a UserError; bypassing
    both with a raw dlt pipeline, the SQL layer still only ever puts a plain identifier into SQL
    (dlt's normalized name) or refuses."""
    from bsg_campaigns.analyst.models import SqlModelError, build_models

    with Simulator(SimulatorConfig(seed=1, campaigns=5)).start() as sim:
        result = run_cli(["run", "--dataset", HOSTILE_DATASETS[0]], sim, CliPaths(tmp_path))
        requests = sim.stats()["total"]
    used_in_sql = {}
    for index, dataset in enumerate(HOSTILE_DATASETS):
        with pytest.raises(UserError):
            make_pipeline(dataset_name=dataset, pipelines_dir=str(tmp_path / "mp"))
        pipeline = dlt.pipeline(f"safety{index}", destination=dlt.destinations.duckdb(str(tmp_path / "s.duckdb")),
                                dataset_name=dataset, pipelines_dir=str(tmp_path / "pd"))
        try:
            build_models(pipeline)
            with pipeline.sql_client() as client:
                used_in_sql[dataset] = client.dataset_name
        except SqlModelError:
            used_in_sql[dataset] = "(refused)"
    unsafe = {d: u for d, u in used_in_sql.items() if u != "(refused)" and not re.fullmatch(r"[A-Za-z_]\w*", u, re.ASCII)}
    ok = result.returncode == 2 and "Traceback" not in result.stderr and requests == 0 and not unsafe
    record(SECTION, f"{len(HOSTILE_DATASETS)} hostile dataset names", ok=ok, trials=len(HOSTILE_DATASETS), lost=None,
           duplicates=None, outcome="CLI exit 2 naming the setting, nothing run; SQL only ever sees a plain identifier",
           identifiers_used=sorted(set(used_in_sql.values())))
    assert result.returncode == 2, result.stderr[-800:]
    assert "Traceback" not in result.stderr and "dataset" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert requests == 0
    assert unsafe == {}


def test_check_parameters_are_validated_integers():
    from bsg_campaigns.analyst.models import CheckContext, SqlModelError

    for bad in ("1; drop table campaigns", 1.5, True, -1, None):
        with pytest.raises(SqlModelError):
            CheckContext(refresh_window_hours=bad)  # type: ignore[arg-type]
