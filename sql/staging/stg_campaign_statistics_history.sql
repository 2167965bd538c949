-- model: stg_campaign_statistics_history (staging view)
-- grain: one row per (campaign_id, fetched_at) in `campaign_statistics_history`: the counts as they
--        stood at each fetch, pivoted like stg_campaign_statistics. Exact duplicate history rows
--        (the same fetch loaded twice) are collapsed first with DISTINCT, so a re-run load never
--        doubles a snapshot.
-- source: campaign_statistics_history (appended on every fetch).
-- columns: sql/columns.yml (also in sql/README.md and this folder's _bsg_campaigns__models.yml).
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
