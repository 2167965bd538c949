"""Defaults and constants in one place. The user-facing defaults are those of the configspec
`config.SourceSettings` (documented in `.dlt/config.toml` and the README, checked by
tests/test_config.py); code reads settings from the resolved spec, never from here."""

from __future__ import annotations

# The pipeline is not named like the dataset: dlt's default DuckDB file is "<pipeline name>.duckdb",
# DuckDB names the file's catalog after it, and a catalog named like the dataset makes every
# `bsg_campaigns.<table>` ambiguous (the load fails). So `dlt.pipeline(PIPELINE_NAME,
# destination="duckdb", dataset_name=DATASET_NAME)` writes DEFAULT_DUCKDB_FILE, as the CLI does.
PIPELINE_NAME = "bsg"
# Its name until 0.1: a run under PIPELINE_NAME that finds no state adopts this one's
# (loading.adopt_legacy_state).
LEGACY_PIPELINE_NAME = "bsg_campaigns"
DATASET_NAME = "bsg_campaigns"
SOURCE_NAME = "bsg"  # config section: [sources.bsg] / SOURCES__BSG__*
DEFAULT_DUCKDB_FILE = f"{PIPELINE_NAME}.duckdb"
# DuckDB's memory while a run loads a local DuckDB file (loading.duckdb_load_memory). Setting:
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
DEFAULT_START_DAYS_BACK = 365  # first run lists this far back unless start_date is set

# The vendor's spec allows page[limit] 30..500, its server's error text 15..500: ask only where
# both agree.
PAGE_SIZE_MIN = 30
PAGE_SIZE_MAX = 500

# Campaign statuses after which the campaign sends nothing more. Counts still move afterwards
# (delivery reports, reads, fallback SMS), which is what the refresh window is for.
FINAL_STATUSES = ("done", "stopped", "spam")

# Message statuses the reference documents, by meaning. Any other key is still loaded.
PENDING_STATUSES = ("scheduled", "moderation", "accepted", "sending", "sent")
DELIVERED_STATUSES = ("delivered", "read")
FAILED_STATUSES = ("failed", "undelivered", "expired", "not_rcs_user", "not_viber_user")
UNKNOWN_STATUSES = ("unknown",)
KNOWN_MESSAGE_STATUSES = PENDING_STATUSES + DELIVERED_STATUSES + FAILED_STATUSES + UNKNOWN_STATUSES

# Channels that report reads; read_rate is NULL for the others.
READ_RECEIPT_CHANNELS = ("rcs", "viber", "whatsapp")
FALLBACK_CHANNEL = "sms"

# Settings kept in .dlt/secrets.toml, whose values are never shown in a message.
SECRET_SETTINGS = ("api_key",)
