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
        coalesce(s.primary_delivered + s.primary_read, 0) as delivered,
        coalesce(s.primary_read, 0) as read,
        coalesce(
            s.primary_failed + s.primary_undelivered + s.primary_expired
            + s.primary_not_rcs_user + s.primary_not_viber_user,
            0
        ) as failed,
        coalesce(
            s.primary_scheduled + s.primary_moderation + s.primary_accepted
            + s.primary_sending + s.primary_sent,
            0
        ) as pending,
        coalesce(s.primary_unknown, 0) as unknown_messages,
        coalesce(s.primary_other, 0) as other_messages,
        coalesce(s.fallback_messages, 0) as fallback_messages,
        coalesce(s.fallback_delivered + s.fallback_read, 0) as fallback_delivered,
        coalesce(
            s.fallback_failed + s.fallback_undelivered + s.fallback_expired
            + s.fallback_not_rcs_user + s.fallback_not_viber_user,
            0
        ) as fallback_failed,
        coalesce(
            s.fallback_scheduled + s.fallback_moderation + s.fallback_accepted
            + s.fallback_sending + s.fallback_sent,
            0
        ) as fallback_pending
    from stg_campaigns as c
    left join stg_campaign_statistics as s
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
    cast(delivered as double precision) / nullif(messages, 0) as delivery_rate,
    case
        when has_read_receipts then cast(read as double precision) / nullif(delivered, 0)
    end as read_rate,
    cast(fallback_messages as double precision) / nullif(messages, 0) as fallback_rate,
    cast(fallback_delivered as double precision) / nullif(fallback_messages, 0) as fallback_delivery_rate,
    cast(delivered + fallback_delivered as double precision) / nullif(messages, 0) as reach_rate,
    cast(pending as double precision) / nullif(messages, 0) as pending_rate,
    cast(failed as double precision) / nullif(messages, 0) as failed_rate,
    cast(
        cast(total_price as double precision) / nullif(delivered + fallback_delivered, 0)
        as decimal(38, 7)
    ) as cost_per_delivered,
    has_read_receipts
from counts
