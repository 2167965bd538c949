"""Serve the bundled simulator in its own process with any `SimulatorConfig` field.

    python -m benchmarks.serve_sim '{"campaigns": 10000, "latency_ms": 20, "whatsapp_share": 0}'

The CLI (`python -m bsg_campaigns.simulator`) exposes only some knobs; the benchmarks also need
the catalogue's shape (history_days, new_per_day, whatsapp_share). Prints the same first line as
the CLI (`BSG One-API simulator: base_url=... api_key=...`) and serves until killed.
"""

from __future__ import annotations

import json
import signal
import sys
from datetime import datetime

from bsg_campaigns.simulator import Simulator, SimulatorConfig


def main(argv: list) -> int:
    spec = json.loads(argv[0]) if argv else {}
    if "start_time" in spec:
        spec["start_time"] = datetime.fromisoformat(spec["start_time"])
    if "message_counts" in spec:  # JSON object keys are strings; campaign ids are ints
        spec["message_counts"] = {int(cid): int(n) for cid, n in spec["message_counts"].items()}
    if "senders" in spec:
        spec["senders"] = tuple(spec["senders"])
    sim = Simulator(SimulatorConfig(**spec)).start(host="127.0.0.1", port=0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"BSG One-API simulator: base_url={sim.base_url} api_key={sim.api_key}", flush=True)
    try:
        sim.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
