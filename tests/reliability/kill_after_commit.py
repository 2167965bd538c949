"""`python kill_after_commit.py <cli args>`: the CLI, except that the process SIGKILLs itself the
moment the destination has committed the load job of table $KILL_AFTER_TABLE - before dlt has
recorded that job as done. The worst instant to die during a load (see test_crashes.py). Other
values name the other narrow windows: normalize's commit, and the publish (publish-copy,
publish-rename, seed-copy)."""

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


def _copy_half_then_die(source, target) -> None:
    """KILL_AFTER_TABLE=publish-copy / seed-copy: die half-way through copying the working copy
    to its temporary name next to the published file (publish-copy), or the published file into
    a new working copy (seed-copy)."""
    seeding = target.parent.name.endswith(publish.WORK_DIR_SUFFIX)
    if seeding != (_TABLE == "seed-copy"):
        return _original_copy(source, target)
    data = source.read_bytes()
    with open(target, "wb") as handle:
        handle.write(data[: len(data) // 2])
        handle.flush()
        os.fsync(handle.fileno())
    os.kill(os.getpid(), signal.SIGKILL)


def _install_then_die(temp, published) -> None:
    """KILL_AFTER_TABLE=publish-rename: die right after the rename, before the bookkeeping."""
    _original_install(temp, published)
    os.kill(os.getpid(), signal.SIGKILL)


from bsg_campaigns.load import publish  # noqa: E402

_original_copy, _original_install = publish._copy_durably, publish._install
if _TABLE == "normalize":
    LoadStorage.commit_new_load_package = _commit_then_die  # type: ignore[method-assign]
elif _TABLE in ("publish-copy", "seed-copy"):
    publish._copy_durably = _copy_half_then_die
elif _TABLE == "publish-rename":
    publish._install = _install_then_die
else:
    DuckDbCopyJob.run = _run_then_die  # type: ignore[method-assign]

if __name__ == "__main__":
    from bsg_campaigns.app.cli import main

    sys.exit(main(sys.argv[1:]))
