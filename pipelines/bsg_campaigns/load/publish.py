"""Readers never block a run, and a run never blocks readers: the connector loads a private
working copy of the DuckDB file and, once a run's loads are complete, publishes it to the
configured path as one atomic rename.

DuckDB lets one read-write process *or* many read-only processes open a file, never both: a BI
tool or notebook holding the file open made every run fail, and a run made the file unopenable.
Nobody but the connector opens the working copy; readers open the published file read-only. On
POSIX a connection already open on the published file keeps reading the snapshot it opened
(the replaced file lives on until it is closed); a connection opened after a publish sees the
new one. Measured at 100,000 campaigns: BENCHMARKS.md, "Readers while runs load".

Layout, for the configured file `<dir>/bsg.duckdb`:

    <dir>/bsg.duckdb                      what readers open (the last published snapshot)
    <dir>/bsg.duckdb.bsg-work/bsg.duckdb  the working copy dlt loads (same basename: DuckDB names
                                          the catalog after the file stem, and views keep it)
    <dir>/bsg.duckdb.bsg-work/published.json  which published file the working copy descends from

The working copy lives next to the published file, not in the pipelines dir: two pipelines dirs
writing one file (another user, another DLT_DATA_DIR, an ephemeral CI runner) share it, so a
run can never publish a copy that misses another run's loads. When it is missing or does not
descend from the file now published (an upgrade from a version that wrote the file directly,
a file restored from a backup or copied to a new machine, a kill between a publish and its
bookkeeping) it is seeded from the published file first.

Crash safety: the working copy is only ever published with no load pending (every load
package complete), after a CHECKPOINT (no WAL: the copy is the whole database), copied to a
temporary file in the published file's directory, fsynced, and renamed over the published
file. A kill at any point leaves the old or the new snapshot published, never a mix; leftover
temporary files are removed by the next run, which publishes whatever the working copy gained.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional
from bsg_campaigns.load.exceptions import PublishFailed

logger = logging.getLogger("bsg_campaigns.load.publish")

WORK_DIR_SUFFIX = ".bsg-work"
MARKER = "published.json"
_TEMP_INFIX = ".bsg-tmp-"  # <name>.bsg-tmp-<pid>: a copy in progress (removed by the next run)


def working_copy(published: Path) -> Path:
    """Where the connector loads the data it publishes to `published`."""
    return published.with_name(published.name + WORK_DIR_SUFFIX) / published.name


def published_file(database: Path) -> Optional[Path]:
    """The published file a working copy belongs to (None: `database` is not a working copy)."""
    folder = database.parent
    if folder.name != database.name + WORK_DIR_SUFFIX:
        return None
    return folder.parent / database.name


def _wal(database: Path) -> Path:
    return database.with_name(database.name + ".wal")


def _identity(path: Path) -> Optional[Dict[str, int]]:
    """Which file this is (a rename keeps it; a rewrite or replacement does not)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return {"dev": st.st_dev, "inode": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _read_marker(working: Path) -> Optional[Dict[str, Any]]:
    try:
        marker: Dict[str, Any] = json.loads((working.parent / MARKER).read_text())  # we wrote it
        return marker
    except (FileNotFoundError, ValueError):
        return None


def _write_marker(working: Path, published: Path) -> None:
    _write_durably(working.parent / MARKER,
                   json.dumps({"published": _identity(published), "working": _identity(working)}))


def _write_durably(path: Path, text: str) -> None:
    temp = path.with_name(path.name + _TEMP_INFIX + str(os.getpid()))
    with open(temp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_temp_files(folder: Path, name: str) -> None:
    """Copies of `name` a killed run left half-written (never renamed into place, so never read).
    Only this file's: another file in the same folder may be publishing under its own lock."""
    if not folder.is_dir():
        return
    for leftover in folder.glob(f"{name}{_TEMP_INFIX}*"):
        logger.info("removing %s, left by an interrupted publish", leftover)
        leftover.unlink(missing_ok=True)


def _copy_durably(source: Path, target: Path) -> None:
    """`source` -> `target` (a temporary name), fsynced. copy_file_range copies inside the kernel
    (no user-space buffer: no RSS) and shares extents where the filesystem can (btrfs, XFS)."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        remaining = os.fstat(src.fileno()).st_size
        try:
            while remaining > 0:
                copied = os.copy_file_range(src.fileno(), dst.fileno(), min(remaining, 1 << 30))
                if copied == 0:
                    break
                remaining -= copied
        except OSError:  # e.g. across filesystems on old kernels: plain copy
            src.seek(0)
            dst.seek(0)
            dst.truncate()
            shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())


def prepare_working_copy(published: Path) -> Path:
    """The working copy for `published`, seeded from it unless it already descends from the
    file now published. Call under the run lock."""
    working = working_copy(published)
    working.parent.mkdir(parents=True, exist_ok=True)
    for name in (working.name, MARKER):
        _remove_temp_files(working.parent, name)
    _remove_temp_files(published.parent, published.name)
    marker = _read_marker(working)
    # A WAL next to the published file means someone wrote it (a version that wrote the file
    # directly, a read-write connection): its content is then newer than the marker says.
    if (working.exists() and marker is not None and marker.get("published") == _identity(published)
            and not _wal(published).exists()):
        return working
    # Stale or missing: the published file is the truth. Drop what the working copy holds
    # (its marker first, so a kill half-way through is seen as stale again), then copy.
    (working.parent / MARKER).unlink(missing_ok=True)
    working.unlink(missing_ok=True)
    _wal(working).unlink(missing_ok=True)
    if published.exists():
        logger.info("seeding the working copy %s from %s", working, published)
        temp = working.with_name(working.name + _TEMP_INFIX + str(os.getpid()))
        _copy_durably(published, temp)
        if _wal(published).exists():
            # A version that wrote the file directly was killed before its checkpoint: the WAL
            # holds committed transactions. DuckDB replays it when the working copy is opened.
            wal_temp = temp.with_name(temp.name + ".wal")
            _copy_durably(_wal(published), wal_temp)
            os.replace(wal_temp, _wal(working))
        os.replace(temp, working)
        _fsync_dir(working.parent)
    _write_marker(working, published)
    return working


def publish(working: Path, published: Path) -> bool:
    """Replace `published` with a snapshot of `working` (checkpointed, copied, fsynced, renamed).
    Returns False when nothing changed since the last publish. Call under the run lock, with no
    load pending on the working copy."""
    if not working.exists():
        return False
    checkpoint(working)
    if _wal(working).exists():
        raise RuntimeError(f"{working} still has a WAL after CHECKPOINT: another connection is writing")
    marker = _read_marker(working) or {}
    if marker.get("working") == _identity(working) and marker.get("published") == _identity(published):
        return False
    temp = published.with_name(published.name + _TEMP_INFIX + str(os.getpid()))
    _copy_durably(working, temp)
    if published.exists():  # readers' access as the user set it (e.g. a BI service's group)
        shutil.copymode(published, temp)
    _install(temp, published)
    _write_marker(working, published)
    return True


def _install(temp: Path, published: Path) -> None:
    """The publish itself: one rename. A WAL next to the published file belongs to the file
    about to be replaced (a version that wrote it directly, killed): DuckDB would replay it into
    the new snapshot. Its transactions are in the working copy already (seeded with it)."""
    _wal(published).unlink(missing_ok=True)
    os.replace(temp, published)
    _fsync_dir(published.parent)


def checkpoint(database: Path) -> None:
    """Fold the WAL into the database file. DuckDB shares one instance per path within a
    process, so this also covers connections dlt may still hold on the same path."""
    import duckdb

    connection = duckdb.connect(str(database))
    try:
        connection.execute("CHECKPOINT")
    finally:
        connection.close()


@contextmanager
def publishing(pipeline: Any) -> Iterator[None]:
    """Around a run's (or a models build's) writes: prepare the working copy, and when the block
    ends - succeeded or not - publish it if no load is left pending (a failed extract or a
    build error still publishes the loads that did complete; a half-done load does not)."""
    from bsg_campaigns.load.steps import duckdb_file

    database = duckdb_file(pipeline)
    published = None if database is None else published_file(database)
    if database is None or published is None:  # not a DuckDB working copy (another destination, a user's own file)
        yield
        return
    try:
        prepare_working_copy(published)
    except OSError as exc:
        raise PublishFailed(f"cannot prepare the working copy {working_copy(published)}: {exc}") from exc
    try:
        yield
    except BaseException:
        try:
            _publish_complete_loads(pipeline, database, published)
        except Exception as exc:  # noqa: BLE001 - never hide the run's own failure behind this
            # the run's own error is the message (one paragraph); the next run publishes
            logger.info("could not publish %s after the failure: %s", published, exc)
        raise
    _publish_complete_loads(pipeline, database, published)


def _publish_complete_loads(pipeline: Any, database: Path, published: Path) -> None:
    if pipeline.has_pending_data:
        # info: the run's own error (exit 1) already says the data stays pending
        logger.info("a load is pending: %s keeps its last snapshot until a run completes it", published)
        return
    import duckdb

    try:
        if publish(database, published):
            logger.info("published %s", published)
    except (OSError, RuntimeError, duckdb.Error) as exc:
        raise PublishFailed(f"cannot publish {working_copy(published)} to {published}: {exc}") from exc
