"""Measure the simulator itself: catalogue build time and detail requests/s over keep-alive.

    python -m bsg_campaigns.simulator.bench --campaigns 100000 --threads 16 --seconds 5

The server runs in a child process (the CLI) so the client threads do not share its GIL; the
clients use bare http.client to keep client-side overhead small."""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import threading
import time
from typing import List, Optional

from .config import SimulatorConfig
from .core import Simulator


def _worker(host: str, port: int, token: str, ids: List[int], k: int, step: int,
            stop_at: float, latencies: List[float], errors: List[int]) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    i = k
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        conn.request("GET", f"/api/campaigns/{ids[i % len(ids)]}/detail", headers=headers)
        resp = conn.getresponse()
        resp.read()
        latencies.append(time.perf_counter() - started)
        if resp.status != 200:
            errors.append(resp.status)
        i += step
    conn.close()


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bsg_campaigns.simulator.bench")
    ap.add_argument("--campaigns", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)

    started = time.perf_counter()
    sim = Simulator(SimulatorConfig(seed=args.seed, campaigns=args.campaigns))
    build_s = time.perf_counter() - started
    ids = sim.visible_campaign_ids()
    print(f"catalogue build: {args.campaigns} campaigns in {build_s:.3f} s")

    proc = subprocess.Popen(
        [sys.executable, "-m", "bsg_campaigns.simulator", "--port", "0", "--seed",
         str(args.seed), "--campaigns", str(args.campaigns), "--latency-ms",
         str(args.latency_ms)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]  # stdout=PIPE: never None
        match = re.search(r"http://([\d.]+):(\d+)", line)
        if not match:
            raise RuntimeError(f"simulator did not start: {line!r}")
        host, port = match.group(1), int(match.group(2))
        conn = http.client.HTTPConnection(host, port)
        conn.request("POST", "/api/auth/login", body=json.dumps({"api_key": sim.api_key}),
                     headers={"Content-Type": "application/json"})
        token = json.loads(conn.getresponse().read())["bearer"]
        latencies: List[float] = []
        errors: List[int] = []
        stop_at = time.perf_counter() + args.seconds
        threads = [threading.Thread(target=_worker, args=(host, port, token, ids, k,
                                                          args.threads, stop_at, latencies,
                                                          errors)) for k in range(args.threads)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        latencies.sort()
        n = len(latencies)
        print(f"detail: {n} requests, {len(errors)} errors, {args.threads} keep-alive threads, "
              f"latency knob {args.latency_ms} ms: {n / elapsed:.0f} req/s, "
              f"p50 {latencies[n // 2] * 1000:.1f} ms, p99 {latencies[int(n * 0.99)] * 1000:.1f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
