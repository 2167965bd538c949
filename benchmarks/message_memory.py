"""One message run's peak RSS by dlt step, optionally with a prototype from experiments.py: how
the "Measured fixes" table of BENCHMARKS.md (Messages) was made.

    python -m benchmarks.message_memory CAMPAIGNS [SOURCE_JSON] [EXPERIMENT] [--out FILE]

CAMPAIGNS campaigns of 100,000 messages (target 6's catalogue), simulator latency 0 (memory does
not depend on it), `runner.run` without models in its own process (connector_run), messages on,
recipient_mode hash. SOURCE_JSON: extra settings, e.g. '{"duckdb_load_memory_limit": ""}'.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

from benchmarks import run
from benchmarks.common import SimProcess, run_child


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.message_memory")
    ap.add_argument("campaigns", type=int)
    ap.add_argument("source", nargs="?", type=json.loads, default={})
    ap.add_argument("experiment", nargs="?", default=None)
    ap.add_argument("--out", type=Path, default=None, help="append the result as a JSON line")
    args = ap.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bsg-msgmem-"))
    spec = run._message_spec(args.campaigns, 100_000)
    with SimProcess(workdir / "sim", latency_ms=0, **spec) as sim:
        params = {"base_url": sim.base_url, "api_key": sim.api_key, "concurrency": 16, "build_models": False,
                  "workdir": str(workdir / "c"), "duckdb_path": str(workdir / "c.duckdb"),
                  "source": {"start_date": run.LIST_START, "page_size": run.PAGE_SIZE, "messages": True,
                             "message_page_size": run.PAGE_SIZE, "recipient_mode": "hash",
                             "recipient_hash_key": run.MESSAGE_HASH_KEY, **args.source},
                  "count_tables": list(run.MESSAGE_TABLES), "experiment": args.experiment}
        result = run_child("c", "benchmarks.connector_run", params, workdir, timeout=1800.0).as_dict()
    log = (workdir / "c.log").read_text(errors="replace")
    out = {"campaigns": args.campaigns, "source": args.source, "experiment": args.experiment,
           "merge_out_of_memory_errors": log.count("OutOfMemoryException"),
           **{k: result.get(k) for k in ("ok", "wall_s", "peak_rss_mb", "cpu_s", "phases", "rss_peak_by_phase_mb",
                                         "table_rows", "error")}}
    print(json.dumps(out))
    if args.out:
        with open(args.out, "a") as handle:
            handle.write(json.dumps(out) + "\n")
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
