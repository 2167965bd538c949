"""Defaults and constants in one place. The user-facing defaults are those of the configspec
`config.SourceSettings` (documented in `.dlt/config.toml` and the README, checked by
tests/test_config.py); code reads settings from the resolved spec, never from here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Tuple

import yaml

# The pipeline is not named like the dataset: dlt's default DuckDB file is "<pipeline name>.duckdb",
# DuckDB names the file's catalog after it, and a catalog named like the dataset makes every
# `bsg_campaigns.<table>` ambiguous (the load fails). So `dlt.pipeline(PIPELINE_NAME,
# destination="duckdb", dataset_name=DATASET_NAME)` writes DEFAULT_DUCKDB_FILE, as the CLI does.
PIPELINE_NAME = "bsg"
# Its name until 0.1: a run under PIPELINE_NAME that finds no state adopts this one's
# (load.steps.adopt_legacy_state).
LEGACY_PIPELINE_NAME = "bsg_campaigns"
DATASET_NAME = "bsg_campaigns"
SOURCE_NAME = "bsg"  # config section: [sources.bsg] / SOURCES__BSG__*
DEFAULT_DUCKDB_FILE = f"{PIPELINE_NAME}.duckdb"
# DuckDB's memory while a run loads a local DuckDB file (load.steps.duckdb_load_settings). Setting:
# SourceSettings.duckdb_load_memory_limit; "" = DuckDB's default (80% of RAM).
DEFAULT_DUCKDB_LOAD_MEMORY_LIMIT = "128MB"

DEFAULT_BASE_URL = "https://one-api.bsg.world"
DEFAULT_TYPES = ("rcs", "sms")
# Delivery reports and reads keep arriving after a campaign is done: RCS validity is up to 72 h
# and an SMS fallback may add up to 72 h more. 7 days covers both with a margin.
DEFAULT_REFRESH_WINDOW_HOURS = 168
DEFAULT_TIMEZONE = "UTC"
DEFAULT_CONCURRENCY = 8
DEFAULT_PAGE_SIZE = 500
DEFAULT_LIST_WINDOW_MONTHS = 3  # server rule: filter[from]..filter[to] spans at most 3 months
DEFAULT_CURSOR_OVERLAP_MINUTES = 60
DEFAULT_START_DAYS_BACK = 365
# A settled campaign whose messages disagree with its statistics is read again in full on this many
# later runs at most (then the reconciliation check keeps reporting it).
DEFAULT_MESSAGE_MISMATCH_REREADS = 3  # first run lists this far back unless start_date is set

# The vendor's spec allows page[limit] 30..500, its server's error text 15..500: ask only where
# both agree.
PAGE_SIZE_MIN = 30
PAGE_SIZE_MAX = 500

# Campaign statuses after which the campaign sends nothing more. Counts still move afterwards
# (delivery reports, reads, fallback SMS), which is what the refresh window is for.
FINAL_STATUSES = ("done", "stopped", "spam")


def _find_sql_dir() -> Path:
    """The installed copy when there is one (a wheel ships the top-level `sql/` as
    `bsg_campaigns/sql/`, see setup.py), else the checkout's own `sql/` (editable installs, tests),
    the one analysts edit."""
    packaged = Path(__file__).resolve().parent / "sql"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "sql"


# The SQL models and checks: a dbt project (sql/dbt_project.yml) that the connector renders itself.
SQL_DIR = _find_sql_dir()
DBT_PROJECT_FILE = "dbt_project.yml"


def _project_vars() -> Dict[str, Any]:
    with open(SQL_DIR / DBT_PROJECT_FILE, encoding="utf-8") as project:
        return dict(yaml.safe_load(project)["vars"])


def _words(values: Any, var: str) -> Tuple[str, ...]:
    # They become column names and string literals of the SQL: plain lower-case words only.
    if not isinstance(values, list) or not all(isinstance(v, str) and re.fullmatch(r"[a-z][a-z0-9_]*", v)
                                                for v in values):
        raise ValueError(f"{SQL_DIR / DBT_PROJECT_FILE}: var {var} must list lower-case words, not {values!r}")
    return tuple(values)


# Message statuses the reference documents, by meaning, and the channels that report reads (read_rate
# is NULL for the others): defined once, as vars of sql/dbt_project.yml, which the SQL models use too.
# Any other status is still loaded.
_VARS = _project_vars()
_BUCKETS = {bucket: _words(statuses, f"bsg_campaigns_message_status_buckets.{bucket}")
            for bucket, statuses in _VARS["bsg_campaigns_message_status_buckets"].items()}
PENDING_STATUSES = _BUCKETS["pending"]
DELIVERED_STATUSES = _BUCKETS["delivered"]
FAILED_STATUSES = _BUCKETS["failed"]
UNKNOWN_STATUSES = _BUCKETS["unknown"]
KNOWN_MESSAGE_STATUSES = tuple(status for statuses in _BUCKETS.values() for status in statuses)
READ_RECEIPT_CHANNELS = _words(_VARS["bsg_campaigns_read_receipt_channels"], "bsg_campaigns_read_receipt_channels")

FALLBACK_CHANNEL = "sms"

# Settings kept in .dlt/secrets.toml, whose values are never shown in a message.
SECRET_SETTINGS = ("api_key", "recipient_hash_key")
