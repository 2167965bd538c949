-- model: stg_campaign_statistics_history (staging view)
-- grain: one row per (campaign_id, fetched_at) in `campaign_statistics_history`: the counts as they
--        stood at each fetch, pivoted like stg_campaign_statistics. Exact duplicate history rows
--        (the same fetch loaded twice) are collapsed first with DISTINCT, so a re-run load never
--        doubles a snapshot.
-- source: campaign_statistics_history (appended on every fetch).
-- columns:
--   campaign_id              BIGINT       BSG campaign id.
--   fetched_at               TIMESTAMPTZ  when the connector read these counts (UTC).
--   primary_channel          TEXT    channel of the primary block (the campaign type); NULL when the
--                                    campaign has only fallback rows.
--   fallback_channel         TEXT    channel of the fallback block ('sms'); NULL when there is no fallback.
--   primary_messages         BIGINT  sum of every primary count, whatever the status (known or new).
--   primary_<status>         BIGINT  primary count under exactly that status, 0 when absent, for each of the
--                                    13 documented statuses: delivered, read, sent, scheduled, moderation,
--                                    accepted, sending, expired, failed, undelivered, unknown, not_rcs_user,
--                                    not_viber_user (= settings.KNOWN_MESSAGE_STATUSES).
--   primary_other            BIGINT  primary count under any status not in that list (new API keys; they
--                                    still count in primary_messages and are reported by
--                                    checks/unknown_message_statuses.sql).
--   fallback_messages        BIGINT  sum of every fallback (SMS) count.
--   fallback_<status>        BIGINT  fallback count under exactly that status (same 13 statuses).
--   fallback_other           BIGINT  fallback count under any undocumented status.
--   status_rows              BIGINT  number of (channel, is_fallback, status) rows pivoted.
-- Counts are single-status (each message counted once under its current status): a read RCS
-- message is in primary_read, NOT in primary_delivered. Buckets (delivered = delivered + read, ...)
-- are made in the marts (macro status_bucket), not here. The per-status columns come from the
-- var bsg_campaigns_message_status_buckets (dbt_project.yml) through the macro status_pivot.
select
    campaign_id,
    fetched_at,
    {{ status_pivot() }}
from (
    select distinct campaign_id, fetched_at, channel, is_fallback, status, message_count
    from {{ source('bsg_campaigns', 'campaign_statistics_history') }}
) as history
group by campaign_id, fetched_at
