"""Target 6's end-to-end comparison with the suggested message changes, side by side: the bare
script, the connector as shipped and with prototypes from experiments.py, each a fresh process
(`runner.run` with models through connector_run) against one simulator at 20 ms.

    python -m benchmarks.message_ab [CAMPAIGNS] [--experiment NAME] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

from benchmarks import run


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.message_ab")
    ap.add_argument("campaigns", nargs="?", type=int, default=20)
    ap.add_argument("--experiment", default="messages_merge_key_only+message_batch_5k")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    bench = run.Bench(run.Sizes(), Path(tempfile.mkdtemp(prefix="bsg-msgab-")), False)
    wd = bench.workdir / "ab"
    source = {"messages": True, "message_page_size": run.PAGE_SIZE, "recipient_mode": "hash",
              "recipient_hash_key": run.MESSAGE_HASH_KEY}
    out: Dict[str, Any] = {}
    with bench._message_sim("ab_sim", args.campaigns) as sim:
        out["plan"] = sim.plan
        out["script"] = bench._message_baseline(sim, "messages_pool_16", wd)
        for name, experiment in (("shipped", None), (args.experiment, args.experiment)):
            result = bench._connector(sim, f"connector_{name}".replace("+", "_"), wd, source=source,
                                      experiment=experiment)
            result["messages"] = sim.plan["messages"]
            out[name] = run._per_message(result)
    script_s = out["script"].get("process_s")
    out["ratios_script_over_connector"] = {k: run._ratio(script_s, v.get("process_s")) for k, v in out.items()
                                           if k not in ("plan", "script")}
    print(json.dumps(out["ratios_script_over_connector"]))
    if args.out:
        args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
