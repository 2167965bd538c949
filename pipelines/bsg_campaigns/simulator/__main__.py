"""CLI: serve the simulator until Ctrl-C.

    python -m bsg_campaigns.simulator --port 8765 --seed 42 --campaigns 2000 --latency-ms 20

The options are declared once, here: `bsg-campaigns simulator` takes the same (add_arguments)."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .config import SimulatorConfig
from .core import Simulator


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--campaigns", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--rate-limit", type=float, default=0.0, help="requests/s, 0 = off")
    ap.add_argument("--max-page-size", type=int, default=0, help="0 = serve what was asked")
    ap.add_argument("--token-lifetime", type=float, default=2592000.0, help="seconds")
    ap.add_argument("--variants", choices=("real", "mixed"), default="real")
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--server-timezone", default="UTC")
    ap.add_argument("--api-key", default=SimulatorConfig.api_key)


def serve(args: argparse.Namespace) -> int:
    cfg = SimulatorConfig(
        seed=args.seed, campaigns=args.campaigns, latency_ms=args.latency_ms,
        rate_limit=args.rate_limit, max_page_size=args.max_page_size,
        token_lifetime_s=args.token_lifetime, variants=args.variants,
        fault_rate=args.fault_rate, server_timezone=args.server_timezone, api_key=args.api_key,
    )
    sim = Simulator(cfg).start(host=args.host, port=args.port)
    print(f"BSG One-API simulator: base_url={sim.base_url} api_key={sim.api_key}", flush=True)
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bsg_campaigns.simulator",
                                 description="Offline BSG One-API simulator")
    add_arguments(ap)
    return serve(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
