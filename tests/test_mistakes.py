"""Every user mistake, taken the way a user makes it: the installed `bsg-campaigns` console
script as a subprocess, in a fresh working directory, with the mistake in `.dlt/config.toml`,
in the environment or on the command line. Each answer is one paragraph naming what the user
typed and how to fix it, with the documented exit code (2: fix a setting; 1: the destination
failed), never a traceback, never the api key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest

from bsg_campaigns.simulator import Simulator, SimulatorConfig

BSG = Path(sys.executable).with_name("bsg-campaigns")  # the console script pip installed
PG_DOWN = "postgresql://postgres@127.0.0.1:1/test"  # nothing listens on port 1


@dataclass(frozen=True)
class Mistake:
    name: str
    args: Sequence[str] = ("run", "--no-models")
    env: Dict[str, Optional[str]] = field(default_factory=dict)  # None removes the variable
    config_toml: str = ""  # written to ./.dlt/config.toml
    secrets_toml: str = ""
    exit_code: int = 2
    says: Sequence[str] = ()  # fragments: what the user typed and the fix


def _toml(**settings: str) -> str:
    return "[sources.bsg]\n" + "".join(f"{key} = {value}\n" for key, value in settings.items())


MISTAKES: List[Mistake] = [
    # unknown keys: the closest real setting, where it was typed
    Mistake("toml typo", config_toml=_toml(refresh_window_hour="24"),
            says=["`refresh_window_hour` under [sources.bsg] in /", "/.dlt/config.toml",
                  "did you mean `refresh_window_hours`?"]),
    Mistake("env typo", env={"SOURCES__BSG__CONCURENCY": "4"},
            says=["SOURCES__BSG__CONCURENCY", "did you mean SOURCES__BSG__CONCURRENCY?"]),
    Mistake("typo in the source's own table", config_toml="[sources.bsg.bsg]\npage_sise = 100\n",
            says=["`page_sise`", "[sources.bsg.bsg]", "did you mean `page_size`?"]),
    Mistake("unknown nested table", config_toml="[sources.bsg.campaing]\nwrite_disposition = \"merge\"\n",
            says=["`campaing`", "[sources.bsg]", "not a setting"]),
    Mistake("typo in secrets.toml", secrets_toml=_toml(api_kee='"live_wrong_key_0123456789"'),  # never printed
            says=["`api_kee`", "/.dlt/secrets.toml", "did you mean `api_key`?"]),
    Mistake("typo for the models command", args=("models",), env={"SOURCES__BSG__REFRESH_WINDOW": "24"},
            says=["SOURCES__BSG__REFRESH_WINDOW", "did you mean SOURCES__BSG__REFRESH_WINDOW_HOURS?"]),
    # run-mode arguments are not settings
    Mistake("stray backfill start", env={"SOURCES__BSG__BACKFILL_START": "2024-01-01"},
            says=["SOURCES__BSG__BACKFILL_START", "not a setting", "--start-date"]),
    Mistake("stray campaign ids", env={"SOURCES__BSG__CAMPAIGN_IDS": "[1, 2]"},
            says=["SOURCES__BSG__CAMPAIGN_IDS", "not a setting", "--campaign-id"]),
    # every setting's wrong type or range, named with where it was set
    Mistake("concurrency not a number", env={"SOURCES__BSG__CONCURRENCY": "abc"},
            says=["`concurrency` must be a whole number, got 'abc'",
                  "(set in the environment variable SOURCES__BSG__CONCURRENCY)"]),
    Mistake("concurrency zero", config_toml=_toml(concurrency="0"),
            says=["`concurrency` must be between 1 and 256", "under [sources.bsg] in /", "/.dlt/config.toml)",
                  "SOURCES__BSG__CONCURRENCY"]),
    Mistake("page size too big", config_toml=_toml(page_size="1000"),
            says=["`page_size` must be between", "got 1000", ".dlt/config.toml"]),
    Mistake("page size fraction", env={"SOURCES__BSG__PAGE_SIZE": "12.5"},
            says=["`page_size` must be a whole number", "(set in the environment variable SOURCES__BSG__PAGE_SIZE)"]),
    Mistake("unknown time zone", config_toml=_toml(timezone='"Mars/Olympus"'),
            says=["'Mars/Olympus'", "`timezone`", "Europe/Kyiv"]),
    Mistake("base url not http", env={"SOURCES__BSG__BASE_URL": "ftp://example.com"},
            says=["http(s) URL", "`base_url`", "SOURCES__BSG__BASE_URL"]),
    Mistake("no campaign types", config_toml=_toml(types="[]"),
            says=["`types` must be a non-empty list", ".dlt/config.toml"]),
    Mistake("types not JSON in env", env={"SOURCES__BSG__TYPES": "rcs,sms"},
            says=["`types` must be a list", "SOURCES__BSG__TYPES='[\"rcs\",\"sms\"]'"]),
    Mistake("bad final status", config_toml=_toml(final_statuses='["done", "Not Valid!"]'),
            says=["`final_statuses` holds invalid names", "not valid!"]),
    Mistake("start date not a date", config_toml=_toml(start_date='"yesterday"'),
            says=["`start_date` must be a date like 2024-01-31, got 'yesterday'", "/.dlt/config.toml)"]),
    Mistake("negative refresh window", env={"SOURCES__BSG__REFRESH_WINDOW_HOURS": "-1"},
            says=["`refresh_window_hours` must be at least 0", "SOURCES__BSG__REFRESH_WINDOW_HOURS"]),
    Mistake("rate not a number", env={"SOURCES__BSG__MAX_REQUESTS_PER_SECOND": "fast"},
            says=["`max_requests_per_second` must be a number, got 'fast'"]),
    Mistake("window months", config_toml=_toml(list_window_months="13"),
            says=["`list_window_months` must be between 1 and 12", "got 13"]),
    Mistake("timeout zero", env={"SOURCES__BSG__REQUEST_TIMEOUT_SECONDS": "0"},
            says=["`request_timeout_seconds` must be at least 0.1"]),
    Mistake("no attempts", config_toml=_toml(max_attempts="0"), env={"SOURCES__BSG__MAX_ATTEMPTS": None},
            says=["`max_attempts` must be between 1 and 100", ".dlt/config.toml"]),
    Mistake("negative backoff", env={"SOURCES__BSG__RETRY_BACKOFF_SECONDS": "-0.5"},
            says=["`retry_backoff_seconds` must be at least 0"]),
    Mistake("retry-after not a number", env={"SOURCES__BSG__MAX_RETRY_AFTER_SECONDS": "soon"},
            says=["`max_retry_after_seconds` must be a number, got 'soon'"]),
    Mistake("negative overlap", env={"SOURCES__BSG__CURSOR_OVERLAP_MINUTES": "-5"},
            says=["`cursor_overlap_minutes` must be at least 0"]),
    Mistake("batch size text", config_toml=_toml(batch_size='"many"'),
            says=["`batch_size` must be a whole number, got 'many'", "/.dlt/config.toml)"]),
    Mistake("memory limit not a size", env={"SOURCES__BSG__DUCKDB_LOAD_MEMORY_LIMIT": "lots"},
            says=["`duckdb_load_memory_limit` 'lots' is not a size", "1GB"]),
    # message-level settings (checked when messages are on; a key never shown)
    Mistake("messages not a flag", env={"SOURCES__BSG__MESSAGES": "yes please"},
            says=["`messages`", "SOURCES__BSG__MESSAGES"]),
    Mistake("message page size too small", config_toml=_toml(messages="true", message_page_size="10"),
            says=["`message_page_size` must be between 30 and 500", "got 10", ".dlt/config.toml"]),
    Mistake("negative mismatch rereads", env={"SOURCES__BSG__MESSAGE_MISMATCH_REREADS": "-1"},
            says=["`message_mismatch_rereads` must be between 0 and 100"]),
    Mistake("recipient mode typo", config_toml=_toml(messages="true", recipient_mode='"hashed"'),
            says=["`recipient_mode` must be one of hash, raw, last_digits, drop", "'hashed'", ".dlt/config.toml"]),
    Mistake("hash key too short", env={"SOURCES__BSG__MESSAGES": "true", "SOURCES__BSG__RECIPIENT_HASH_KEY": "abcd1234"},
            says=["`recipient_hash_key` is 4 bytes", "SOURCES__BSG__RECIPIENT_HASH_KEY", "token_hex(32)"]),
    Mistake("too many last digits", config_toml=_toml(messages="true", recipient_mode='"last_digits"',
                                                      recipient_last_digits="9"),
            says=["`recipient_last_digits` must be between 1 and 6", "got 9"]),
    Mistake("message text flag text", config_toml=_toml(store_message_text='"sometimes"'),
            says=["`store_message_text`", ".dlt/config.toml"]),
    Mistake("TOML syntax error", config_toml="[sources.bsg]\nconcurrency = \n", says=["config.toml", "line 2"]),
    # the api key
    Mistake("api key missing", env={"SOURCES__BSG__API_KEY": None},
            says=["`api_key`", "SOURCES__BSG__API_KEY", "secrets.toml"]),
    Mistake("api key in config.toml", env={"SOURCES__BSG__API_KEY": None}, config_toml=_toml(api_key='"{api_key}"'),
            says=["Move `api_key`", ".dlt/secrets.toml"]),
    Mistake("api key rejected", env={"SOURCES__BSG__API_KEY": "live_wrong_key_0123456789"},
            says=["rejected the api key", "SOURCES__BSG__API_KEY"]),
    # the command line
    Mistake("start date garbage", args=("run", "--start-date", "2025-13-01"),
            says=["argument --start-date: '2025-13-01' is not a date", "yyyy-mm-dd"]),
    Mistake("end date garbage", args=("run", "--end-date", "next week"), says=["argument --end-date: 'next week'"]),
    Mistake("end before start", args=("run", "--start-date", "2024-02-01", "--end-date", "2024-01-01"),
            says=["--end-date 2024-01-01 is not after --start-date 2024-02-01"]),
    Mistake("campaign id not a number", args=("run", "--campaign-id", "abc"),
            says=["argument --campaign-id: 'abc' is not a campaign id"]),
    Mistake("campaign ids and a backfill", args=("run", "--campaign-id", "5", "--start-date", "2024-01-01"),
            says=["--campaign-id", "--start-date/--end-date", "one or the other"]),
    Mistake("dataset not an identifier", args=("run", "--dataset", "bad-name"), says=["'bad-name'", "--dataset"]),
    Mistake("unknown command flag", args=("run", "--strcit"), says=["unrecognized arguments: --strcit"]),
    # destinations
    Mistake("destination typo", args=("run", "--destination", "duckbd"), says=["'duckbd'", "Did you mean `duckdb`?"]),
    Mistake("postgres without credentials", args=("run", "--destination", "postgres"),
            says=["'postgres' is missing", "DESTINATION__POSTGRES__CREDENTIALS", "password may be left out"]),
    Mistake("postgres credentials not a URL", args=("run", "--destination", "postgres"),
            env={"DESTINATION__POSTGRES__CREDENTIALS": "host=db user=me"},
            says=["PostgreSQL credentials", "DESTINATION__POSTGRES__CREDENTIALS"]),
    Mistake("status with the warehouse down", args=("status", "--destination", "postgres"),
            env={"DESTINATION__POSTGRES__CREDENTIALS": PG_DOWN}, exit_code=1,
            says=["destination 'postgres'", "reachable", "port 1"]),
    Mistake("run with the warehouse down", args=("run", "--destination", "postgres", "--no-models"),
            env={"DESTINATION__POSTGRES__CREDENTIALS": PG_DOWN}, exit_code=1,
            says=["postgres", "port 1", "next run"]),
]


def clean_env(root: Path, sim: Simulator) -> Dict[str, str]:
    """The developer's own dlt settings never leak into a row."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "DLT_", "BSG_"))}
    env.update({
        "SOURCES__BSG__BASE_URL": sim.base_url,
        "SOURCES__BSG__API_KEY": sim.api_key,
        "SOURCES__BSG__MAX_ATTEMPTS": "2",
        "SOURCES__BSG__RETRY_BACKOFF_SECONDS": "0.01",
        "DESTINATION__DUCKDB__CREDENTIALS": str(root / "bsg.duckdb"),
        "DLT_DATA_DIR": str(root / "dlt_data"),
    })
    return env


def bsg(root: Path, sim: Simulator, mistake: Mistake) -> subprocess.CompletedProcess:
    root.mkdir(parents=True)
    if mistake.config_toml or mistake.secrets_toml:
        (root / ".dlt").mkdir()
        (root / ".dlt" / "config.toml").write_text(mistake.config_toml.replace("{api_key}", sim.api_key))
        (root / ".dlt" / "secrets.toml").write_text(mistake.secrets_toml)
    env = clean_env(root, sim)
    for key, value in mistake.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run([str(BSG), *mistake.args], cwd=root, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def answers(request, tmp_path_factory):
    """The selected rows at once: each is a process start (~1.5 s of CPU for the imports), so
    they run side by side (70 s of CPU for all rows)."""
    selected = {item.callspec.params["mistake"].name for item in request.session.items
                if getattr(item, "callspec", None) and "mistake" in item.callspec.params}
    root = tmp_path_factory.mktemp("mistakes")
    with Simulator(SimulatorConfig(seed=31, campaigns=20)).start() as simulator:
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {m.name: pool.submit(bsg, root / f"row{i}", simulator, m)
                       for i, m in enumerate(MISTAKES) if m.name in selected}
            yield {name: future.result() for name, future in futures.items()}, simulator.api_key


def test_at_least_25_mistakes():
    assert len({m.name for m in MISTAKES}) == len(MISTAKES) >= 25


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.name for m in MISTAKES])
def test_mistake_is_answered_in_one_paragraph(answers, mistake: Mistake):
    results, api_key = answers
    result = results[mistake.name]
    output = result.stdout + result.stderr
    assert result.returncode == mistake.exit_code, output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1, output  # one paragraph, nothing around it
    for fragment in mistake.says:
        assert fragment in output, f"{fragment!r} not in {output!r}"
    assert api_key not in output and "live_wrong_key_0123456789" not in output
    assert "abcd1234" not in output  # the hash key


def test_dlt_own_tables_under_the_source_are_not_mistakes(tmp_path):
    """No false positives: resource tables, dlt's extract/data_writer/schema sections and the
    source's own [sources.bsg.bsg] table are accepted, and the values there are used."""
    toml = ("[sources.bsg]\nconcurrency = 2\n[sources.bsg.bsg]\ntypes = [\"sms\"]\n"
            "[sources.bsg.extract]\nworkers = 2\n[sources.bsg.campaigns]\nselected = true\n"
            "[sources.bsg.data_writer]\nbuffer_max_items = 5000\n[sources.bsg.schema]\nnaming = \"snake_case\"\n")
    with Simulator(SimulatorConfig(seed=32, campaigns=20)).start() as simulator:
        result = bsg(tmp_path / "run", simulator, Mistake("valid", args=("run", "--json", "--no-models"),
                                                           config_toml=toml, exit_code=0))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "ok" and summary["new"] == summary["fetched"] > 0
    assert list(summary["listed"]) == ["sms"]  # [sources.bsg.bsg] types reached the listing


def test_postgres_url_without_password_loads(tmp_path):
    """Trust auth, ~/.pgpass and PGPASSWORD are normal: a URL without a password is not a
    mistake (dlt's own credentials would demand one)."""
    from test_warehouses import PG_SKIP

    if PG_SKIP:
        pytest.skip(PG_SKIP)  # test_warehouses fails the run on CI when PostgreSQL is missing
    import uuid

    import psycopg2

    dataset = f"bsg_nopw_{uuid.uuid4().hex[:8]}"
    url = "postgresql://postgres@127.0.0.1:5432/test"
    with Simulator(SimulatorConfig(seed=33, campaigns=15)).start() as simulator:
        result = bsg(tmp_path / "run", simulator, Mistake(
            "no password", args=("run", "--destination", "postgres", "--dataset", dataset, "--no-models"),
            env={"DESTINATION__POSTGRES__CREDENTIALS": url}, exit_code=0))
        expected = len(simulator.visible_campaign_ids())
    try:
        assert result.returncode == 0, result.stderr
        with psycopg2.connect(url) as connection, connection.cursor() as cursor:
            cursor.execute(f"select count(*) from {dataset}.campaigns")
            assert cursor.fetchone()[0] == expected
    finally:
        with psycopg2.connect(url) as connection, connection.cursor() as cursor:
            cursor.execute(f"drop schema if exists {dataset} cascade")
            cursor.execute(f"drop schema if exists {dataset}_staging cascade")


def test_every_setting_has_a_mistake_row():
    from bsg_campaigns.config import SETTING_NAMES

    answered = " ".join(fragment for mistake in MISTAKES for fragment in mistake.says)
    assert [name for name in SETTING_NAMES if f"`{name}`" not in answered] == []
