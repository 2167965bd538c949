"""Readers never block a run: analysts (a notebook, Metabase, DBeaver) hold read-only DuckDB
connections on the configured file while runs load, and every run still succeeds; a reader sees
one complete published snapshot at a time, never a half-loaded one (publish.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Set, Tuple

import duckdb

from bsg_campaigns.load.publish import prepare_working_copy, publish, working_copy
from bsg_campaigns.simulator import Simulator, SimulatorConfig
from conftest import Harness
from test_messages import KEY, MESSAGE_COLUMNS, expected_rows
from reliability.util import CliPaths, run_cli, snapshot_db

DATASET = "bsg_campaigns"

# A reader process, as a BI tool is one. "hold": one read-only connection for its whole life;
# answers each line on stdin with the current counts over that connection. "loop": opens,
# queries and closes as fast as it can until stdin closes, then prints every distinct
# observation (a generation's counts, or the error it met) with how often it was seen.
READER = r"""
import json, sys, duckdb
path, mode = sys.argv[1], sys.argv[2]
D = "bsg_campaigns"
COUNTS = (f"select (select count(*) from {D}.campaigns), (select count(*) from {D}.campaign_statistics), "
          f"(select count(*) from {D}.campaign_statistics_history), "
          f"(select count(*) from {D}.campaign_statistics s where not exists "
          f"(select 1 from {D}.campaigns c where c.campaign_id = s.campaign_id))")
def counts(con):
    views = con.execute("select count(*) from information_schema.tables where table_schema = ? "
                        "and table_name = 'campaign_rates'", [D]).fetchone()[0]
    rates = con.execute(f"select count(*) from {D}.campaign_rates").fetchone()[0] if views else -1
    return list(con.execute(COUNTS).fetchone()) + [rates]
if mode == "hold":
    con = duckdb.connect(path, read_only=True)
    print(json.dumps(counts(con)), flush=True)
    for line in sys.stdin:
        print(json.dumps(counts(con)), flush=True)
else:
    import threading
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    seen = {}
    while not stop.is_set():
        try:
            con = duckdb.connect(path, read_only=True)
            try:
                key = json.dumps(counts(con))
            finally:
                con.close()
        except Exception as exc:
            key = json.dumps(f"{type(exc).__name__}: {exc}")
        if key not in seen:
            print(key, flush=True)  # each new observation as it first appears
        seen[key] = seen.get(key, 0) + 1
    print(json.dumps({"seen": seen}), flush=True)
"""
# counts(): [campaigns, campaign_statistics, history, statistics without a campaign, campaign_rates
# rows or -1 without the views]


# A BI tool on the message tables: holds one connection, answers each stdin line with the counts
# and the price total (exact, as text) over that connection.
MESSAGE_READER = r"""
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
Q = ("select count(*), count(distinct message_id), cast(sum(price) as varchar), "
     "(select count(*) from bsg_campaigns.message_reads) from bsg_campaigns.messages")
print(json.dumps(con.execute(Q).fetchone()), flush=True)
for line in sys.stdin:
    print(json.dumps(con.execute(Q).fetchone()), flush=True)
"""


def start_reader(path: Path, mode: str, script: str = READER) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, str(path), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@contextmanager
def held_reader(path: Path, script: str = READER) -> Iterator[Tuple[List[Any], Callable[[], List[Any]]]]:
    """A reader process holding one read-only connection on `path` throughout: yields its first
    counts and a function that asks for the counts again over that same connection."""
    proc = start_reader(path, "hold", script)

    def ask() -> List[Any]:
        proc.stdin.write("again\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    try:
        yield json.loads(proc.stdout.readline()), ask
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def counts_of(path: Path) -> List[int]:
    """What a reader opening `path` now sees, from this process (a fresh instance each time)."""
    proc = subprocess.run([sys.executable, "-c", READER, str(path), "hold"], input="", capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[0])


def test_a_reader_held_open_for_the_whole_run_blocks_nothing(tmp_path):
    """The CLI as scheduled, with a read-only connection held open on the configured file for the
    whole of the second run (load, models, checks, publish): exit 0; the held connection keeps
    its snapshot; a connection opened afterwards sees exactly the pipeline's tables."""
    paths = CliPaths(tmp_path)
    with Simulator(SimulatorConfig(seed=5, campaigns=60)).start() as sim:
        first = run_cli(["run"], sim, paths)
        assert first.returncode == 0, first.stderr
        generation_1 = snapshot_db(paths.db)
        with held_reader(paths.db) as (held_before, ask):
            sim.advance(hours=30)  # new campaigns, refreshed counts: the second run changes every table
            second = run_cli(["run"], sim, paths)
            held_after = ask()
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr
    assert held_after == held_before  # the open connection still reads its own snapshot
    assert held_before[:3] == [len(generation_1["campaigns"]), len(generation_1["campaign_statistics"]),
                               len(generation_1["campaign_statistics_history"])]
    generation_2 = snapshot_db(paths.db)  # a new connection: the new data, exactly the working copy's
    assert generation_2 == snapshot_db(working_copy(paths.db))
    assert len(generation_2["campaigns"]) > len(generation_1["campaigns"])
    assert len(generation_2["campaign_statistics_history"]) > len(generation_1["campaign_statistics_history"])
    # values, not counts: every campaign the simulator serves is there with its exact detail
    loaded = {row[0]: row for row in generation_2["campaigns"]}
    assert set(loaded) == {cid for t in ("rcs", "sms") for cid in sim.visible_campaign_ids(t)}
    new_ids = set(loaded) - {row[0] for row in generation_1["campaigns"]}
    assert new_ids
    for cid in sorted(new_ids)[:5]:
        assert loaded[cid][1] == sim.expected_detail(cid)["name"]
    after = counts_of(paths.db)
    assert after == [len(generation_2["campaigns"]), len(generation_2["campaign_statistics"]),
                     len(generation_2["campaign_statistics_history"]), 0, len(generation_2["campaigns"])]
    assert not list(tmp_path.glob("bsg.duckdb.wal")) and not list(tmp_path.glob("*bsg-tmp*"))


def test_a_reader_held_open_while_messages_load_blocks_nothing(tmp_path):
    """Messages on, as in production with a BI tool on the message tables: a second process holds
    a read-only connection through a run that merges re-read messages. The run exits 0, the held
    connection keeps its snapshot, and a new connection sees every message as the API serves it."""
    paths = CliPaths(tmp_path)
    env = {"SOURCES__BSG__MESSAGES": "true", "SOURCES__BSG__RECIPIENT_HASH_KEY": KEY}
    with Simulator(SimulatorConfig(seed=23, campaigns=40)).start() as sim:
        first = run_cli(["run"], sim, paths, **env)
        assert first.returncode == 0, first.stderr
        at_first = expected_rows(sim)
        with held_reader(paths.db, MESSAGE_READER) as (held_before, ask):
            sim.advance(hours=5)  # statuses, prices and times move; new campaigns send
            second = run_cli(["run"], sim, paths, **env)
            held_after = ask()
        at_second = expected_rows(sim)
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr
    assert held_after == held_before  # the held connection still reads the first run's messages
    assert held_before[:3] == [len(at_first), len(at_first), str(sum(r[14] for r in at_first if r[14] is not None))]
    assert at_second != at_first
    with duckdb.connect(str(paths.db), read_only=True) as reader:
        assert reader.execute(f"select {MESSAGE_COLUMNS} from {DATASET}.messages order by message_id").fetchall() \
            == at_second


def test_a_reader_looping_during_runs_always_sees_one_whole_generation(tmp_path):
    """A reader that opens, queries and closes in a loop while three runs load, build views and
    publish: it never fails, and every observation equals one of the published generations
    (every campaign of campaign_statistics is in campaigns, the views answer)."""
    with Simulator(SimulatorConfig(seed=8, campaigns=80, latency_ms=2)).start() as sim:
        harness = Harness(tmp_path, sim)
        harness.run(build_models=True)
        generations: Set[str] = {json.dumps(counts_of(harness.db_path))}
        reader = start_reader(harness.db_path, "loop")
        try:
            first_seen = [reader.stdout.readline().strip()]
            for hours in (6, 6, 30):
                sim.advance(hours=hours)
                harness.run(build_models=True)
                generations.add(json.dumps(counts_of(harness.db_path)))
            final = json.dumps(counts_of(harness.db_path))
            while first_seen[-1] not in (final, ""):  # a fresh connection sees the last publish at once
                first_seen.append(reader.stdout.readline().strip())
        finally:
            reader.stdin.close()
        lines = reader.stdout.read().splitlines()
        reader.wait(timeout=30)
    seen: Dict[str, int] = json.loads(lines[-1])["seen"]
    assert first_seen[-1] == final, (first_seen, reader.stderr.read())
    errors = {key: n for key, n in seen.items() if not key.startswith("[")}
    assert not errors, errors
    assert set(seen) <= generations, (seen, generations)
    assert len(generations) >= 3  # the runs did change what readers see
    assert all(json.loads(key)[3] == 0 and json.loads(key)[4] == json.loads(key)[0] for key in seen)


def test_working_copy_is_seeded_from_an_existing_file_and_never_leaves_a_wal(tmp_path):
    """An upgrade: the configured file was written directly by an earlier version, which was
    killed before its checkpoint (committed rows only in `<file>.wal`). The first run seeds the
    working copy from the file and its WAL, publishes, and leaves no WAL next to the file."""
    published = tmp_path / "bsg.duckdb"
    con = duckdb.connect(str(published))
    con.execute("create schema legacy; create table legacy.t as select 1 as v")
    con.execute("checkpoint")
    con.execute("insert into legacy.t values (2)")  # committed, in the WAL only
    wal = published.with_name("bsg.duckdb.wal")
    assert wal.exists()
    _crash_copy(published, tmp_path / "crashed")  # what a SIGKILL leaves: the file and its WAL
    con.close()
    (tmp_path / "crashed" / "bsg.duckdb").replace(published)
    (tmp_path / "crashed" / "bsg.duckdb.wal").replace(wal)

    working = prepare_working_copy(published)
    assert publish(working, published) is True
    assert not wal.exists()
    with duckdb.connect(str(published), read_only=True) as reader:
        assert reader.execute("select v from legacy.t order by v").fetchall() == [(1,), (2,)]
        assert reader.execute("select current_database()").fetchone()[0] == "bsg"  # same catalog name
    assert publish(working, published) is False  # nothing changed: no copy
    assert prepare_working_copy(published) == working  # it descends from the published file: kept


def _crash_copy(database: Path, folder: Path) -> None:
    folder.mkdir()
    shutil.copy(database, folder / database.name)
    shutil.copy(database.with_name(database.name + ".wal"), folder / (database.name + ".wal"))


def test_a_replaced_published_file_wins_over_the_working_copy(tmp_path, sim):
    """A published file that is not the one the connector last published (restored from a
    backup, copied from another machine) is the truth: the next run starts from it."""
    harness = Harness(tmp_path, sim)
    harness.run()
    backup = tmp_path / "backup.duckdb"
    backup.write_bytes(harness.db_path.read_bytes())
    before = snapshot_db(harness.db_path)
    sim.advance(hours=30)
    harness.run()
    assert snapshot_db(harness.db_path) != before
    backup.replace(harness.db_path)  # the user restores yesterday's file
    working = prepare_working_copy(harness.db_path)
    assert snapshot_db(working) == before


def test_models_and_status_work_while_a_reader_holds_the_file(tmp_path):
    """`models` writes views like a run (working copy, then publish) while a reader holds the
    file; `status` on a fresh machine (no local state) reads the published file read-only."""
    paths = CliPaths(tmp_path)
    with Simulator(SimulatorConfig(seed=5, campaigns=30)).start() as sim:
        assert run_cli(["run", "--no-models"], sim, paths).returncode == 0
        with held_reader(paths.db) as (held, ask):
            models = run_cli(["models"], sim, paths)
            shutil.rmtree(paths.data_dir)
            status = run_cli(["status", "--json"], sim, paths)
            held_after = ask()
    assert models.returncode == 0, models.stderr
    assert held_after == held and held[4] == -1  # the held snapshot has no views
    assert counts_of(paths.db)[4] == held[0] > 0  # the views were published
    assert status.returncode == 0, status.stderr
    assert set(json.loads(status.stdout)["cursors"]) == {"rcs", "sms"}  # restored from the published file


def test_a_schema_file_left_half_written_by_a_kill_does_not_stop_later_runs(harness):
    """dlt saves a schema as a 16-hex-digit temporary file, then renames it; a SIGKILL in between
    (seen in a crash trial, in normalize) left one that failed every later run with
    InvalidSchemaName. make_pipeline removes it before dlt attaches (load.steps.drop_unfinished_schema_writes)."""
    harness.run()
    schemas = Path(harness.pipeline.working_dir) / "schemas"
    leftover = schemas / "9db56bcdeb07d583"
    leftover.write_text((schemas / "bsg.schema.json").read_text()[:100])  # what the kill left
    before = snapshot_db(harness.db_path)
    harness.sim.advance(hours=30)
    report = Harness(harness.root, harness.sim).run()  # the next scheduled run: a new process's pipeline
    assert not leftover.exists()
    assert report.fetched > 0 and snapshot_db(harness.db_path) != before
