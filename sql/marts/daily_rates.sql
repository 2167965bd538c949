-- model: daily_rates (mart view)
-- grain: one row per created_date (campaign creation day, UTC) x sender x type x currency, over the
--        campaigns of campaign_rates. NULL sender/type/currency form their own group; money is never
--        added across currencies (currency is part of the grain).
-- sources: campaign_rates.
-- Rates are ratios of sums over the group's campaigns, never averages of per-campaign ratios:
-- a 10,000-message campaign weighs 100 times a 100-message one. A zero denominator gives NULL.
-- columns: sql/columns.yml (also in sql/README.md and this folder's _bsg_campaigns__models.yml).
with sums as (
    select
        created_date,
        sender,
        type,
        currency,
        cast(count(*) as bigint) as campaigns,
        cast(sum(messages) as bigint) as messages,
        cast(sum(delivered) as bigint) as delivered,
        cast(sum(read) as bigint) as read,
        cast(sum(failed) as bigint) as failed,
        cast(sum(pending) as bigint) as pending,
        cast(sum(fallback_messages) as bigint) as fallback_messages,
        cast(sum(fallback_delivered) as bigint) as fallback_delivered,
        cast(sum(total_price) as decimal(38, 7)) as total_price,
        cast(
            sum(case when total_price is not null then delivered + fallback_delivered else 0 end)
            as bigint
        ) as priced_delivered,
        max(case when has_read_receipts then 1 else 0 end) as has_read_receipts
    from {{ ref('campaign_rates') }}
    group by created_date, sender, type, currency
)
select
    created_date,
    sender,
    type,
    currency,
    campaigns,
    messages,
    delivered,
    read,
    failed,
    pending,
    fallback_messages,
    fallback_delivered,
    total_price,
    priced_delivered,
    {{ rate_columns('has_read_receipts = 1') }},
    {{ cost_per_delivered('total_price', 'priced_delivered') }} as cost_per_delivered
from sums
