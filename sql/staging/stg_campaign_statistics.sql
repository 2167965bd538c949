-- model: stg_campaign_statistics (staging view)
-- grain: one row per campaign_id present in `campaign_statistics` (the current counts), pivoted from
--        one row per (campaign_id, channel, is_fallback, status). Campaigns without any statistics
--        rows are absent here; marts/campaign_rates.sql left-joins and treats them as 0 messages.
-- source: campaign_statistics.
-- columns: sql/columns.yml (also in sql/README.md and this folder's _bsg_campaigns__models.yml).
-- Counts are single-status (each message counted once under its current status): a read RCS
-- message is in primary_read, NOT in primary_delivered. Buckets (delivered = delivered + read, ...)
-- are made in the marts (macro status_bucket), not here. The per-status columns come from the
-- var bsg_campaigns_message_status_buckets (dbt_project.yml) through the macro status_pivot.
select
    campaign_id,
    {{ status_pivot() }}
from {{ source('bsg_campaigns', 'campaign_statistics') }}
group by campaign_id
