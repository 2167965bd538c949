"""`python kill_after_commit.py <cli args>`: the CLI, except that the process SIGKILLs itself the
moment the destination has committed the load job of table $KILL_AFTER_TABLE - before dlt has
recorded that job as done. The worst instant to die during a load (see test_crashes.py)."""

from __future__ import annotations

import os
import signal
import sys

from dlt.common.storages.load_storage import LoadStorage
from dlt.destinations.impl.duckdb.duck import DuckDbCopyJob

_original_run = DuckDbCopyJob.run
_original_commit = LoadStorage.commit_new_load_package
_TABLE = os.environ["KILL_AFTER_TABLE"]


def _run_then_die(self: DuckDbCopyJob) -> None:
    _original_run(self)
    if self.file_name().split(".")[0] == _TABLE:
        os.kill(os.getpid(), signal.SIGKILL)


def _commit_then_die(self: LoadStorage, load_id: str) -> None:
    """KILL_AFTER_TABLE=normalize: die between normalize's commit (the package renamed into the
    load storage) and its deletion of the extracted copy - dlt's "do not kill" window."""
    _original_commit(self, load_id)
    os.kill(os.getpid(), signal.SIGKILL)


if _TABLE == "normalize":
    LoadStorage.commit_new_load_package = _commit_then_die  # type: ignore[method-assign]
else:
    DuckDbCopyJob.run = _run_then_die  # type: ignore[method-assign]

if __name__ == "__main__":
    from bsg_campaigns.cli import main

    sys.exit(main(sys.argv[1:]))
