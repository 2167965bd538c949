-- model: campaign_rates (mart view)
-- grain: one row per campaign in `campaigns` (via stg_campaigns). A campaign without statistics rows
--        has 0 messages and NULL rates. Statistics rows of a campaign missing from `campaigns` are
--        not shown (checks/statistics_without_campaign.sql reports them).
-- sources: stg_campaigns, stg_campaign_statistics.
-- Counts are single-status (a read RCS message counts under `read`, not `delivered`), so buckets
-- add statuses together. Every rate is CAST(numerator AS DOUBLE PRECISION) / NULLIF(denominator, 0):
-- a zero denominator gives NULL, never 0 and never an error.
-- columns: sql/columns.yml (also in sql/README.md and this folder's _bsg_campaigns__models.yml).
with counts as (
    select
        c.campaign_id,
        c.name,
        c.sender,
        c.type,
        c.status,
        c.created_at,
        c.created_date,
        c.real_start_at,
        c.finished_at,
        c.fetched_at,
        c.currency,
        c.total_price,
        c.total_messages,
        c.has_read_receipts,
        coalesce(s.primary_messages, 0) as messages,
        coalesce({{ status_bucket('s.primary_', 'delivered') }}, 0) as delivered,
        coalesce(s.primary_read, 0) as read,
        coalesce({{ status_bucket('s.primary_', 'failed') }}, 0) as failed,
        coalesce({{ status_bucket('s.primary_', 'pending') }}, 0) as pending,
        coalesce({{ status_bucket('s.primary_', 'unknown') }}, 0) as unknown_messages,
        coalesce(s.primary_other, 0) as other_messages,
        coalesce(s.fallback_messages, 0) as fallback_messages,
        coalesce({{ status_bucket('s.fallback_', 'delivered') }}, 0) as fallback_delivered,
        coalesce({{ status_bucket('s.fallback_', 'failed') }}, 0) as fallback_failed,
        coalesce({{ status_bucket('s.fallback_', 'pending') }}, 0) as fallback_pending
    from {{ ref('stg_campaigns') }} as c
    left join {{ ref('stg_campaign_statistics') }} as s
        on s.campaign_id = c.campaign_id
)
select
    campaign_id,
    name,
    sender,
    type,
    status,
    created_at,
    created_date,
    real_start_at,
    finished_at,
    fetched_at,
    currency,
    total_price,
    total_messages,
    messages,
    delivered,
    read,
    failed,
    pending,
    unknown_messages,
    other_messages,
    fallback_messages,
    fallback_delivered,
    fallback_failed,
    fallback_pending,
    {{ rate_columns('has_read_receipts') }},
    {{ cost_per_delivered('total_price', 'delivered + fallback_delivered') }} as cost_per_delivered,
    has_read_receipts
from counts
