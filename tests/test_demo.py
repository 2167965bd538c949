"""`bsg-campaigns demo --dir X` starts from nothing every time but never deletes what it did not
create: a folder holding someone else's files is refused (exit 2, one paragraph, nothing
touched), and in its own folder the demo removes only the entries it made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import duckdb

from bsg_campaigns.app import cli
from bsg_campaigns.app.demo import DEMO_DB, DEMO_MARKER, run_demo

DEMO_CAMPAIGNS = ["--campaigns", "12", "--seed", "3"]


def _tree(root: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _refused(args, capsys) -> str:
    assert cli.main(["demo", *args, *DEMO_CAMPAIGNS]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1  # one paragraph
    return err


def test_a_folder_with_a_users_file_is_refused_and_left_untouched(tmp_path, capsys) -> None:
    folder = tmp_path / "reports"
    (folder / "sub").mkdir(parents=True)
    (folder / "q3.xlsx").write_bytes(b"the user's spreadsheet")
    (folder / DEMO_DB).write_bytes(b"the user's own database, same name as the demo's")
    (folder / "sub" / "notes.txt").write_text("keep me")
    before = _tree(folder)

    err = _refused(["--dir", str(folder)], capsys)

    assert f"--dir {folder}" in err and "q3.xlsx" in err and "new or empty folder" in err
    assert _tree(folder) == before and not (folder / DEMO_MARKER).exists()


def test_dir_dot_in_a_working_directory_leaves_the_users_files(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "project.py").write_text("print('mine')\n")
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text("[sources.bsg]\napi_key = 'live_x'\n")
    before = _tree(tmp_path)
    monkeypatch.chdir(tmp_path)

    err = _refused(["--dir", "."], capsys)

    assert "project.py" in err
    assert _tree(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == [".dlt", "project.py"]


def test_a_file_as_dir_is_refused(tmp_path, capsys) -> None:
    target = tmp_path / "bsg.duckdb"
    target.write_bytes(b"not a folder")
    assert "is a file" in _refused(["--dir", str(target)], capsys)
    assert target.read_bytes() == b"not a folder"


def test_rerun_into_its_own_folder_starts_fresh_and_keeps_foreign_files(tmp_path, capsys) -> None:
    folder = tmp_path / "demo"
    outside = tmp_path / "victim.txt"
    outside.write_text("outside the demo folder")

    # run_demo is what `demo` calls; fewer scheduled rounds keep the test short.
    assert run_demo(folder, campaigns=12, seed=3, refresh_rounds=0) == 0
    marker = json.loads((folder / DEMO_MARKER).read_text())
    assert {DEMO_DB, "pipelines"} <= set(marker["created"])
    assert set(marker["created"]) == {p.name for p in folder.iterdir()} - {DEMO_MARKER}
    first_run_new = _first_run_new(capsys.readouterr().out)
    assert first_run_new > 0

    # What the user (or `make notebook-run`) put there later is not the demo's.
    (folder / "campaign_metrics.ipynb").write_text("{}")
    (folder / "my_queries").mkdir()
    (folder / "my_queries" / "q.sql").write_text("select 1")
    # Something only a previous demo left: a table of its own in its database, a stale file in
    # its pipelines dir, an entry its marker records.
    with duckdb.connect(str(folder / DEMO_DB)) as con:
        con.execute("create table bsg_campaigns.leftover_from_last_demo as select 1 as x")
    (folder / "pipelines" / "stale.json").write_text("{}")
    (folder / "scratch").mkdir()
    # A marker of a run killed before it recorded its database and pipelines dir (its own names
    # still count), tampered with to reach outside the folder (it cannot).
    recorded = [n for n in marker["created"] if n not in (DEMO_DB, "pipelines")]
    (folder / DEMO_MARKER).write_text(json.dumps({"created": recorded + ["scratch", "../victim.txt", str(outside)]}))

    assert run_demo(folder, campaigns=12, seed=3, refresh_rounds=0) == 0

    assert _first_run_new(capsys.readouterr().out) == first_run_new  # fresh state: everything new again
    with duckdb.connect(str(folder / DEMO_DB), read_only=True) as con:
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables "
                                            "where table_schema = 'bsg_campaigns'").fetchall()}
    assert "leftover_from_last_demo" not in tables and "campaigns" in tables
    assert not (folder / "pipelines" / "stale.json").exists() and not (folder / "scratch").exists()
    assert (folder / "campaign_metrics.ipynb").read_text() == "{}"
    assert (folder / "my_queries" / "q.sql").read_text() == "select 1"
    assert outside.read_text() == "outside the demo folder"
    assert set(json.loads((folder / DEMO_MARKER).read_text())["created"]) == set(marker["created"])


def _first_run_new(out: str) -> int:
    run1 = out.split("== Run 1", 1)[1].split("== Run 2", 1)[0]
    line = next(line for line in run1.splitlines() if line.strip().startswith("new "))
    return int(line.split()[1])
