"""Installed like software: the paths from this repository to a scheduled run, taken as a user
takes them, from outside the checkout.

- the sdist, and the wheel pip builds from it, carry every file of the top-level `sql/`;
- the cron and systemd recipes' own install line (`pip install .` in a clone) in a clean venv:
  from an unrelated directory its `bsg-campaigns demo` builds every view and runs every check,
  and the cron line and the unit's ExecStart load a simulator served by the installed
  `bsg-campaigns simulator`;
- the GitHub workflow's steps executed as written (`.[postgres]` into a fresh interpreter,
  secrets replaced by simulator values, a fresh PostgreSQL database);
- the DuckDB file read by DuckDB 1.5 installed on its own (what BI drivers and the duckdb CLI
  ship), and through dlt's `pipeline.dataset()`.

A clean install costs ~30 s of CPU (~70 s on 2 idle cores, several minutes on busy ones): there is
one, session-scoped, which the workflow's interpreter reuses as its tool cache.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
import zipfile
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import yaml

from bsg_campaigns.analyst import sqlcompile
from bsg_campaigns.simulator import Simulator, SimulatorConfig

from conftest import Harness

REPO = Path(__file__).resolve().parents[1]
CRON = REPO / "deploy/cron/bsg-campaigns.cron"
SERVICE = REPO / "deploy/systemd/bsg-campaigns.service"
WORKFLOW = REPO / "deploy/github-actions/bsg-campaigns.yml"
OPT = "/opt/bsg-campaigns"  # where the cron and systemd recipes keep the clone
VIEWS = sorted(Path(p).stem for p in sqlcompile.MODELS)
CHECKS = [Path(p).stem for p in sqlcompile.CHECKS]
SQL_FILES = sorted(p.relative_to(REPO / "sql").as_posix() for p in (REPO / "sql").rglob("*")
                   if p.suffix in (".sql", ".md", ".yml"))
BI_DUCKDB = "1.5.6"  # the newest DuckDB 1.x: what BI drivers and the duckdb CLI ship
# A user's `python3`: the interpreter this venv was made from, without the test venv's packages.
BASE_PYTHON_DIR = str(Path(sys._base_executable).parent)
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PG_ADMIN_URL = "postgresql://postgres:unused@127.0.0.1:5432/test"  # trust auth: the password is ignored

# pytest's 300 s default counts fixture setup: a clean install alone took 249 s with 20 processes
# on the 2 cores. This is a hang guard, not a measured bound.
pytestmark = pytest.mark.timeout(1200)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def copy_checkout(dest: Path) -> Path:
    """What a clone holds: the files git tracks or would track (no .venv, build/, caches)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():  # a file deleted in the work tree stays listed until committed
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def user_env(home: Path, *path: str) -> Dict[str, str]:
    """A fresh login's environment: none of this test run's variables (SOURCES__*, DESTINATION__*,
    the test venv on PATH) and its own HOME (so dlt's ~/.dlt is not the developer's). pip keeps
    this machine's configuration and warm cache: that is how it reaches the package index."""
    env = {k: v for k, v in os.environ.items() if k.startswith("PIP_") or k in ("LANG", "LC_ALL", "TZ")}
    env.setdefault("PIP_CACHE_DIR", os.path.join(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "pip"))
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), PATH=":".join([*path, SYSTEM_PATH]))
    return env


def bash(script: str, cwd: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    # GitHub's default `run:` shell on Linux: bash --noprofile --norc -eo pipefail {0}
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def explain(done: subprocess.CompletedProcess) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"


def site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def recipe_commands(path: Path) -> List[str]:
    """The shell lines a recipe tells the user to type: its comment lines `# $ ...`."""
    return [line[4:] for line in path.read_text().splitlines() if line.startswith("# $ ")]


@contextmanager
def served_simulator(bin_dir: Path, seed: int, campaigns: int, env: Dict[str, str],
                     log: Path) -> Iterator[Tuple[str, str]]:
    """The installed `bsg-campaigns simulator` on a free loopback port: (base_url, api_key)."""
    with open(log, "w") as out:
        proc = subprocess.Popen([str(bin_dir / "bsg-campaigns"), "simulator", "--port", "0", "--seed", str(seed),
                                 "--campaigns", str(campaigns)], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120  # a guard against a hang, not a measured bound
        while not (match := re.search(r"base_url=(\S+) api_key=(\S+)", log.read_text())):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield match.group(1), match.group(2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def expected_prices(seed: int, campaigns: int) -> Dict[int, Decimal]:
    """What the simulator with this seed serves (its clock stands still until advanced)."""
    sim = Simulator(SimulatorConfig(seed=seed, campaigns=campaigns))
    return {cid: Decimal(sim.expected_detail(cid)["total_price"]) for cid in sim.visible_campaign_ids()}


# Read with the installed package's own DuckDB: the views, the raw totals they must agree with.
DUCKDB_FACTS = r"""
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
one = lambda sql: con.execute(sql).fetchall()[0][0]
print(json.dumps({
    "duckdb": duckdb.__version__,
    "views": sorted(r[0] for r in con.execute(
        "select table_name from information_schema.tables "
        "where table_schema = 'bsg_campaigns' and table_type = 'VIEW'").fetchall()),
    "prices": {str(r[0]): str(r[1]) for r in con.execute(
        "select campaign_id, total_price from bsg_campaigns.campaigns").fetchall()},
    "primary_messages": one("select sum(message_count) from bsg_campaigns.campaign_statistics where not is_fallback"),
    "rates_messages": one("select sum(messages) from bsg_campaigns.campaign_rates"),
    "daily_messages": one("select sum(messages) from bsg_campaigns.daily_rates"),
    "daily_price": str(one("select sum(total_price) from bsg_campaigns.daily_rates")),
    "messages": one("select count(*) from bsg_campaigns.messages"),
    "distinct_messages": one("select count(distinct message_id) from bsg_campaigns.messages"),
    "statistics_messages": one("select sum(message_count) from bsg_campaigns.campaign_statistics"),
    "hashed_recipients": one("select count(*) from bsg_campaigns.messages "
                             "where regexp_full_match(recipient, '[0-9a-f]{64}')"),
    "message_prices": {r[0]: str(r[1]) for r in con.execute(
        "select currency, sum(price) from bsg_campaigns.messages group by 1").fetchall()},
    "cost_prices": {r[0]: str(r[1]) for r in con.execute(
        "select currency, sum(total_price) from bsg_campaigns.message_costs group by 1").fetchall()},
    "reads": list(con.execute("select count(*), count(*) filter (where matches_statistics) "
                              "from bsg_campaigns.message_reads").fetchone()),
}))
"""


def duckdb_facts(venv: Path, database: Path) -> Dict[str, Any]:
    done = subprocess.run([str(venv / "bin/python"), "-c", DUCKDB_FACTS, str(database)], capture_output=True, text=True)
    assert done.returncode == 0, explain(done)
    return json.loads(done.stdout)


def assert_models_agree_with_tables(facts: Dict[str, Any]) -> None:
    assert facts["views"] == VIEWS
    assert facts["primary_messages"] == facts["rates_messages"] == facts["daily_messages"] > 0
    assert Decimal(facts["daily_price"]) == sum(Decimal(p) for p in facts["prices"].values()) > 0


# --------------------------------------------------------------------------------------------
# the package as built
# --------------------------------------------------------------------------------------------


def test_sdist_and_the_wheel_built_from_it_carry_every_sql_file(tmp_path):
    tree = copy_checkout(tmp_path / "src")
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-c", "import sys, setuptools.build_meta as b; b.build_sdist(sys.argv[1])",
                            str(dist)], cwd=tree, capture_output=True, text=True)
    assert build.returncode == 0, explain(build)
    assert "deprecat" not in (build.stdout + build.stderr).lower()  # e.g. `project.license` as a table
    sdist = next(dist.glob("*.tar.gz"))
    # pip builds the wheel from the sdist the way `pip install bsg_campaigns-*.tar.gz` would.
    # (build isolation is exercised by the recipes' `pip install .`; here this venv's setuptools)
    wheel_build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                                  "-w", str(dist), str(sdist)],
                                 cwd=tmp_path, env=user_env(tmp_path / "home"), capture_output=True, text=True)
    assert wheel_build.returncode == 0, explain(wheel_build)
    wheel = next(dist.glob("*.whl"))

    with tarfile.open(sdist) as archive:
        root = archive.getnames()[0].split("/")[0]
        in_sdist = {m.name[len(f"{root}/sql/"):]: archive.extractfile(m).read() for m in archive.getmembers()
                    if m.isfile() and m.name.startswith(f"{root}/sql/")}
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = {n[len("bsg_campaigns/sql/"):]: archive.read(n) for n in archive.namelist()
                    if n.startswith("bsg_campaigns/sql/")}
        # PEP 561 marker (setuptools ships it by itself): a user's mypy reads our annotations
        typed = "bsg_campaigns/py.typed" in archive.namelist()
        seed = json.loads(archive.read("bsg_campaigns/analyst/compiled_sql.json"))  # analyst/seed.py
    on_disk = {name: (REPO / "sql" / name).read_bytes() for name in SQL_FILES}
    assert set(on_disk) >= {Path(p).as_posix() for p in sqlcompile.MODELS + sqlcompile.CHECKS}
    assert in_sdist == on_disk
    assert in_wheel == on_disk
    assert typed
    assert seed == json.loads((REPO / "pipelines/bsg_campaigns/analyst/compiled_sql.json").read_text())


# --------------------------------------------------------------------------------------------
# the cron and systemd recipes: their install line, their commands
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def clone(tmp_path_factory) -> Path:
    """The recipes' /opt/bsg-campaigns: a clone of this repository installed with the recipes'
    own install line (cron and systemd give the same one)."""
    root = tmp_path_factory.mktemp("opt")
    clone = copy_checkout(root / "bsg-campaigns")
    commands = recipe_commands(CRON)
    assert commands and recipe_commands(SERVICE) == commands
    for command in commands:
        done = bash(command.replace(OPT, str(clone)), root, user_env(root / "home", BASE_PYTHON_DIR))
        assert done.returncode == 0, explain(done)
    return clone


def test_installed_package_uses_its_own_sql_and_pinned_dependencies(clone):
    venv = clone / ".venv"
    probe = subprocess.run([str(venv / "bin/python"), "-c",
                            "import json, duckdb; from bsg_campaigns.analyst import sqlcompile as s; "
                            "print(json.dumps([str(s.SQL_DIR), duckdb.__version__]))"],
                           cwd="/", capture_output=True, text=True)
    assert probe.returncode == 0, explain(probe)
    sql_dir, duckdb_version = json.loads(probe.stdout)
    # Not the clone's sql/: the copy inside the installed package.
    assert Path(sql_dir) == site_packages(venv) / "bsg_campaigns/sql"
    assert sorted(p.relative_to(sql_dir).as_posix() for p in Path(sql_dir).rglob("*") if p.is_file()) == SQL_FILES
    assert duckdb_version.split(".")[0] == "1"  # 2.x files cannot be opened by DuckDB 1.5
    check = subprocess.run([str(venv / "bin/python"), "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, explain(check)  # dlt, duckdb, pyarrow, pandas, sqlglot resolve together


def test_installed_demo_from_another_directory_builds_every_view_and_runs_every_check(clone, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([str(clone / ".venv/bin/bsg-campaigns"), "demo", "--dir", str(tmp_path / "d"),
                           "--campaigns", "40"], cwd=elsewhere, env=user_env(tmp_path / "home"),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, explain(done)
    assert "Traceback" not in done.stderr
    assert f"data-quality checks: {len(CHECKS)} run, 0 failed" in done.stdout
    ok = [line.split(None, 1)[1] for line in done.stdout.splitlines() if line.startswith("  ok ")]
    assert [name.strip() for name in ok[0].split(",")] == CHECKS
    # the installed package's precompiled SQL answered every statement that does not depend on
    # the run: neither run compiled one to keep in its own cache file (viewcache.SEED_FILE). It is
    # read only with the sqlglot it was compiled with: a fresh install resolving another release
    # would leave every new user without it.
    versions = subprocess.run([str(clone / ".venv/bin/python"), "-c",
                               "from bsg_campaigns.analyst import viewcache as v; "
                               "print(v.seed_sqlglot_version(), v.sqlglot_version())"],
                              cwd="/", capture_output=True, text=True)
    assert versions.returncode == 0, explain(versions)
    seed_version, installed_version = versions.stdout.split()
    assert seed_version == installed_version, (
        f"the install resolved sqlglot {installed_version}, the seed is for {seed_version}: "
        "run `python -m bsg_campaigns.analyst.seed` with it installed")
    assert not list((tmp_path / "d").rglob("bsg_sql_cache.json"))
    facts = duckdb_facts(clone / ".venv", tmp_path / "d/bsg.duckdb")
    assert_models_agree_with_tables(facts)
    assert len(facts["prices"]) >= 30
    # messages are on in the demo: every message the statistics count is there once, hashed, and
    # the cost mart adds up to the messages' prices per currency
    assert facts["messages"] == facts["distinct_messages"] == facts["statistics_messages"] > 1000
    assert facts["hashed_recipients"] == facts["messages"]
    assert facts["cost_prices"] == facts["message_prices"] and Decimal(facts["message_prices"]["EUR"]) > 0
    assert facts["reads"][0] == facts["reads"][1] == len(facts["prices"])


def test_cron_line_and_systemd_unit_load_with_the_installed_package(clone, tmp_path):
    seed, campaigns = 5, 60
    venv_bin = clone / ".venv/bin"
    home = tmp_path / "home"
    cron_line = next(line for line in CRON.read_text().splitlines()
                     if line.strip() and not line.startswith("#") and "=" not in line.split()[0])
    unit = dict(re.findall(r"^(\w+)=(.*)$", SERVICE.read_text(), re.M))
    config = clone / ".dlt/config.toml"
    original_config = config.read_text()
    with served_simulator(venv_bin, seed, campaigns, user_env(home), tmp_path / "simulator.log") as (base_url, key):
        try:
            # cron: "config comes from .dlt/ there" — the api key in secrets.toml, the host in config.toml.
            (clone / ".dlt/secrets.toml").write_text(f'[sources.bsg]\napi_key = "{key}"\n')
            config.write_text(re.sub(r'(?m)^base_url = .*$', f'base_url = "{base_url}"', original_config))
            log = tmp_path / "bsg-campaigns.log"
            command = cron_line.split(None, 5)[5].replace(OPT, str(clone)).replace("/var/log/bsg-campaigns.log", str(log))
            cron_env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "LOGNAME": "root"}
            done = subprocess.run(["/bin/sh", "-c", command], env=cron_env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, explain(done) + log.read_text()
            assert "BSG campaigns run: OK" in log.read_text()
        finally:
            (clone / ".dlt/secrets.toml").unlink(missing_ok=True)
            config.write_text(original_config)

        # systemd: the secrets (and here the host) come from the EnvironmentFile; ExecStart runs
        # without a shell in WorkingDirectory.
        assert unit["EnvironmentFile"] == "/etc/bsg-campaigns.env" and unit["WorkingDirectory"] == OPT
        env_file = tmp_path / "bsg-campaigns.env"
        env_file.write_text(f"SOURCES__BSG__API_KEY={key}\nSOURCES__BSG__BASE_URL={base_url}\n")
        service_env = {"PATH": SYSTEM_PATH, "HOME": str(home),
                       **dict(line.split("=", 1) for line in env_file.read_text().splitlines())}
        argv = shlex.split(unit["ExecStart"].replace(OPT, str(clone)))
        done = subprocess.run(argv, cwd=clone, env=service_env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, explain(done)
        assert "BSG campaigns run: OK" in done.stdout

    facts = duckdb_facts(clone / ".venv", clone / "bsg.duckdb")
    expected = expected_prices(seed, campaigns)
    assert {int(cid): Decimal(price) for cid, price in facts["prices"].items()} == expected
    assert_models_agree_with_tables(facts)


# --------------------------------------------------------------------------------------------
# the GitHub Actions workflow, step by step
# --------------------------------------------------------------------------------------------


@pytest.fixture
def postgres_database():
    """A database of its own on the local server: the workflow loads the default dataset name."""
    import psycopg2

    try:
        admin = psycopg2.connect(PG_ADMIN_URL, connect_timeout=3)
    except Exception as exc:  # no server, no database
        reason = f"no PostgreSQL answering on 127.0.0.1:5432 ({type(exc).__name__})"
        if os.environ.get("BSG_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    admin.autocommit = True
    name = f"bsg_install_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f"create database {name}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"drop database if exists {name} with (force)")
        admin.close()


def test_github_workflow_steps_run_as_written(tmp_path, postgres_database, clone):
    import psycopg2

    seed, campaigns = 9, 50
    api_key = SimulatorConfig(seed=seed).api_key  # what the installed simulator accepts
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"]["load"]
    workspace, runner_temp, home = tmp_path / "workspace", tmp_path / "runner-temp", tmp_path / "home"
    runner_temp.mkdir()
    python_bin = runner_temp / "python/bin"
    values = {"secrets.BSG_API_KEY": api_key, "secrets.WAREHOUSE_CREDENTIALS": postgres_database,
              "runner.temp": str(runner_temp)}

    def expand(text: Any) -> str:
        def value(match: re.Match) -> str:
            assert match.group(1) in values, f"no test value for the workflow's {match.group(0)}"
            return values[match.group(1)]
        return re.sub(r"\$\{\{\s*(.+?)\s*\}\}", value, str(text))

    job_env = {key: expand(value) for key, value in job["env"].items()}
    ran = []
    with ExitStack() as stack:
        simulator_env: Dict[str, str] = {}
        for step in job["steps"]:
            assert step.get("if", "always()") == "always()", step  # every step runs here: all succeed
            uses = step.get("uses", "")
            if uses.startswith("actions/checkout@"):
                copy_checkout(workspace)
            elif uses.startswith("actions/setup-python@"):
                assert step["with"]["python-version"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
                subprocess.run([sys.executable, "-m", "venv", str(python_bin.parent)], check=True)
                # Like a runner's tool cache: the dependencies the recipes' clean install resolved
                # are visible to this interpreter (a .pth; ~30 s of CPU and 100 MB of downloads
                # saved), so the Install step installs the package and what `postgres` adds.
                (site_packages(python_bin.parent) / "runner-cache.pth").write_text(f"{site_packages(clone / '.venv')}\n")
            elif uses.startswith("actions/upload-artifact@"):
                assert (workspace / step["with"]["path"]).is_file()
            elif uses:
                pytest.fail(f"the test does not know what {uses} does: teach it")
            else:
                if "bsg-campaigns" in step["run"] and not simulator_env:
                    # The real API's place: the simulator of the package the Install step installed.
                    base_url, served_key = stack.enter_context(served_simulator(
                        python_bin, seed, campaigns, user_env(home), tmp_path / "simulator.log"))
                    assert served_key == api_key
                    simulator_env["SOURCES__BSG__BASE_URL"] = base_url
                env = {**user_env(home, str(python_bin)), "CI": "true", "GITHUB_WORKSPACE": str(workspace),
                       "RUNNER_TEMP": str(runner_temp), **job_env, **simulator_env,
                       **{key: expand(value) for key, value in step.get("env", {}).items()}}
                done = bash(expand(step["run"]), workspace, env)
                assert done.returncode == 0, f"step {step.get('name')!r}: {explain(done)}"
            ran.append(step.get("name") or uses)
    assert ran == [step.get("name") or step.get("uses") for step in job["steps"]]

    summary = json.loads((workspace / "run-summary.json").read_text())
    expected = expected_prices(seed, campaigns)
    assert summary["status"] == "ok" and summary["new"] == len(expected) and summary["rejected"] == 0
    assert sorted(summary["models"]) == VIEWS
    with psycopg2.connect(postgres_database) as connection, connection.cursor() as cursor:
        cursor.execute("select campaign_id, total_price from bsg_campaigns.campaigns")
        assert dict(cursor.fetchall()) == expected
        cursor.execute("select table_name from information_schema.views where table_schema = 'bsg_campaigns'")
        assert sorted(r[0] for r in cursor.fetchall()) == VIEWS
        cursor.execute("select sum(messages) from bsg_campaigns.campaign_rates")
        rates_messages = cursor.fetchone()[0]
        cursor.execute("select sum(message_count) from bsg_campaigns.campaign_statistics where not is_fallback")
        assert rates_messages == cursor.fetchone()[0] > 0


# --------------------------------------------------------------------------------------------
# the DuckDB file, read with the DuckDB users' tools have
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def bi_duckdb(tmp_path_factory) -> Path:
    """DuckDB 1.5.6 installed on its own (`pip install --target`), as a BI tool bundles it."""
    return duckdb_on_its_own(BI_DUCKDB, tmp_path_factory.mktemp("duckdb-bi"))


def duckdb_on_its_own(version: str, target: Path) -> Path:
    """`duckdb==version` in its own folder (`pip install --target`), for PYTHONPATH."""
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                           f"duckdb=={version}"], capture_output=True, text=True)
    assert done.returncode == 0, explain(done)
    return target


# The same queries on both sides; values as text, epochs and integers, so they compare exactly.
READER_QUERIES = {
    "campaigns": "select campaign_id, name, sender, status, type, cast(total_price as varchar), currency, "
                 "epoch_ms(created_at), total_messages from {schema}campaigns order by campaign_id",
    "campaign_statistics": "select campaign_id, channel, is_fallback, status, message_count "
                           "from {schema}campaign_statistics order by campaign_id, channel, is_fallback, status",
    "campaign_rates": "select campaign_id, messages, delivered, read, cast(round(delivery_rate, 9) as varchar) "
                      "from {schema}campaign_rates order by campaign_id",
}
READER = r"""
import duckdb, json, sys
queries = json.loads(sys.argv[3])
con = duckdb.connect(sys.argv[1], read_only=True)
out = {name: con.execute(sql.format(schema=sys.argv[2] + ".")).fetchall() for name, sql in queries.items()}
out["version"] = duckdb.__version__
out["storage"] = str(con.execute("select tags from duckdb_databases() where database_name = current_database()").fetchall())
print(json.dumps(out))
"""


def test_duckdb_1_5_opens_the_file_and_reads_what_the_pipeline_reads(harness: Harness, bi_duckdb):
    harness.run(build_models=True)
    ours = {name: [list(row) for row in harness.query(sql.format(schema=""))] for name, sql in READER_QUERIES.items()}
    done = subprocess.run([sys.executable, "-c", READER, str(harness.db_path), harness.pipeline.dataset_name,
                           json.dumps(READER_QUERIES)], env={**os.environ, "PYTHONPATH": str(bi_duckdb)},
                          capture_output=True, text=True)
    assert done.returncode == 0, explain(done)
    theirs = json.loads(done.stdout)
    assert theirs.pop("version") == BI_DUCKDB
    # Storage version 64: what DuckDB 0.10 and later open (README "Installing / DuckDB versions").
    assert "v1.0.0+" in theirs.pop("storage")
    assert theirs == ours
    assert len(ours["campaigns"]) == len(harness.sim.visible_campaign_ids()) and ours["campaign_rates"]


def test_pipeline_dataset_arrow_and_df_return_the_rows(harness: Harness, sim: Simulator):
    harness.run()
    dataset = harness.pipeline.dataset()
    table = dataset["campaigns"].arrow()
    expected = {cid: Decimal(sim.expected_detail(cid)["total_price"]) for cid in sim.visible_campaign_ids()}
    assert dict(zip(table["campaign_id"].to_pylist(), table["total_price"].to_pylist())) == expected
    frame = dataset["campaign_statistics"].df()
    assert sorted(frame["campaign_id"].unique().tolist()) == sorted(expected)
    assert int(frame["message_count"].sum()) == harness.query("select sum(message_count) from campaign_statistics")[0][0]


OLD_DUCKDB = "2.0.1"  # what bsg-campaigns 0.1 resolved to: it writes storage version 69


def test_a_file_written_by_duckdb_2_is_one_paragraph_exit_2_with_the_conversion(tmp_path, sim):
    """An upgrade from 0.1: its bsg.duckdb was written by duckdb 2.0.1, which this install's 1.x
    cannot open. The run stops with exit 2 and the one-time conversion, no traceback, and leaves
    the user's file as it was."""
    from test_cli import bsg

    old = duckdb_on_its_own(OLD_DUCKDB, tmp_path / "duckdb-old")
    database = tmp_path / "cli.duckdb"
    written = subprocess.run([sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
                              "c.execute('create schema bsg_campaigns; create table bsg_campaigns.kept (a int)'); "
                              "c.close()", str(database)], env={**os.environ, "PYTHONPATH": str(old)},
                             capture_output=True, text=True)
    assert written.returncode == 0, explain(written)
    before = database.read_bytes()
    refused = bsg(["run", "--no-models"], tmp_path, sim)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "written by a newer DuckDB (storage version 69" in refused.stderr
    assert "EXPORT DATABASE" in refused.stderr and "IMPORT DATABASE" in refused.stderr
    assert database.read_bytes() == before
