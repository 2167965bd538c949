"""bsg-campaigns: a dlt source for BSG One-API SMS/RCS campaign statistics.

The source (`source.py`) reads like a table of contents:

    campaign_details              (not loaded) discover + fetch details, then (the `messages`
                                  setting) the messages of campaigns whose counts moved; the state
      ├─ campaigns                  one row per campaign, merged on campaign_id
      ├─ campaign_statistics        tidy current counts; each fetch replaces the campaign's rows
      ├─ campaign_statistics_history  the same rows + fetched_at, appended on every fetch
      ├─ rejected_records           payloads that could not be parsed, with the reason
      ├─ messages                   one row per message, merged on message_id (recipient per mode)
      ├─ message_fallbacks          a message -> the SMS it was re-sent as, merged on message_id
      └─ message_reads              the latest read of each campaign's messages, merged on campaign_id

Configuration arrives through dlt injection from `[sources.bsg]` in `.dlt/config.toml` /
`.dlt/secrets.toml`, or `SOURCES__BSG__*` environment variables (`config.SourceSettings`).

Inside your own pipeline (README, "Use it as a library"; app/library.py):

    exclusive_run(pipeline)             context manager around your `pipeline.run(bsg_source())`:
                                        the run lock, and an interrupted run's load settled first
    build_models_and_checks(pipeline)   the SQL views and the data-quality checks, any destination
    run(pipeline)                       the whole safe run, as `bsg-campaigns run` does it

Where each concern lives (data flows down this list, never back):

    app/          command line, demo, run report, the calls above
    source.py     the dlt wiring of the resources below
    extract/      which campaigns to read; details and message pages fetched concurrently
    api/          HTTP only: client, retries, rate limit
    contract/     pure: payload -> typed rows or a rejection; table schemas
    incremental/  pure: cursors, open campaigns, settling; the state's shape
    load/         dlt's steps, crash settling, publishing the DuckDB file
    analyst/      sql/ models and checks through dlt's SQL client
    exceptions.py user errors (exit 2) vs run failures (exit 1)
    simulator/    the offline API
"""

from bsg_campaigns.app.library import ModelsAndChecks, build_models_and_checks, exclusive_run, run
from bsg_campaigns.report import RunReport
from bsg_campaigns.config import SourceSettings
from bsg_campaigns.exceptions import BsgError, ChecksFailed, ConfigError, RunFailed, UserError
from bsg_campaigns.source import (bsg_source, campaign_details, campaign_statistics, campaign_statistics_history,
                                  campaigns, message_fallbacks, message_reads, messages, rejected_records)

__all__ = ["bsg_source", "campaign_details", "campaigns", "campaign_statistics", "campaign_statistics_history",
           "rejected_records", "messages", "message_fallbacks", "message_reads", "RunReport", "SourceSettings", "exclusive_run", "build_models_and_checks", "run",
           "ModelsAndChecks", "BsgError", "UserError", "ConfigError", "RunFailed", "ChecksFailed"]
