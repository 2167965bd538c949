-- model: statistics_growth (mart view)
-- grain: one row per (campaign_id, fetched_at) in the statistics history: the counts as they stood
--        at each fetch, for growth curves ("how delivery and reads arrive after sending").
-- sources: stg_campaign_statistics_history, stg_campaigns (left join: history rows of a campaign
--          missing from `campaigns` are kept, with NULL campaign attributes).
-- Counts are snapshots of the cumulative state at fetched_at (single-status counts, bucketed as in
-- campaign_rates), not increments. Rates: CAST(n AS DOUBLE PRECISION) / NULLIF(d, 0).
-- columns: sql/columns.yml (also in sql/README.md and this folder's _bsg_campaigns__models.yml).
with snapshots as (
    select
        h.campaign_id,
        c.sender,
        c.type,
        c.currency,
        c.real_start_at,
        h.fetched_at,
        c.has_read_receipts,
        h.primary_messages as messages,
        {{ status_bucket('h.primary_', 'delivered') }} as delivered,
        h.primary_read as read,
        {{ status_bucket('h.primary_', 'pending') }} as pending,
        {{ status_bucket('h.primary_', 'failed') }} as failed,
        h.fallback_messages,
        {{ status_bucket('h.fallback_', 'delivered') }} as fallback_delivered
    from {{ ref('stg_campaign_statistics_history') }} as h
    left join {{ ref('stg_campaigns') }} as c
        on c.campaign_id = h.campaign_id
),
with_latest as (
    select
        snapshots.*,
        cast(
            row_number() over (partition by campaign_id order by fetched_at) as bigint
        ) as fetch_number,
        first_value(delivered) over (
            partition by campaign_id order by fetched_at desc
        ) as latest_delivered,
        first_value(read) over (
            partition by campaign_id order by fetched_at desc
        ) as latest_read
    from snapshots
)
select
    campaign_id,
    sender,
    type,
    currency,
    real_start_at,
    fetched_at,
    cast(
        (extract(epoch from fetched_at) - extract(epoch from real_start_at)) / 3600.0
        as double precision
    ) as hours_since_start,
    fetch_number,
    messages,
    delivered,
    read,
    pending,
    failed,
    fallback_messages,
    fallback_delivered,
    {{ rate_columns('has_read_receipts', ['delivery_rate', 'read_rate', 'reach_rate']) }},
    {{ rate('delivered', 'latest_delivered') }} as delivered_share_of_latest,
    case when has_read_receipts then {{ rate('read', 'latest_read') }} end as read_share_of_latest
from with_latest
