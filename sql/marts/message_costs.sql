-- model: message_costs (mart view)
-- grain: one row per campaign_id x country x currency over stg_messages (own messages and fallback
--        SMS: both cost). Money is never added across currencies (currency is part of the grain);
--        messages without a price have a NULL currency unless the API gave one.
-- sources: stg_messages.
-- total_price is a DECIMAL sum of the messages' prices. cost_per_delivered divides it by the
-- delivered messages whose price is known (as daily_rates leaves unpriced campaigns out of both
-- sides), rounded to the price scale (macros/rates.sql cost_per_delivered).
-- columns: sql/columns.yml (also in sql/README.md and this folder's _bsg_campaigns__models.yml).
with sums as (
    select
        campaign_id,
        country,
        currency,
        cast(count(*) as bigint) as messages,
        cast(sum(case when price is not null then 1 else 0 end) as bigint) as priced_messages,
        cast(sum(case when {{ status_in_bucket('statistics_status', 'delivered') }} then 1 else 0 end) as bigint)
            as delivered,
        cast(sum(case when price is not null and {{ status_in_bucket('statistics_status', 'delivered') }}
            then 1 else 0 end) as bigint) as priced_delivered,
        cast(sum(price) as decimal(38, 7)) as total_price
    from {{ ref('stg_messages') }}
    group by campaign_id, country, currency
)
select
    campaign_id,
    country,
    currency,
    messages,
    priced_messages,
    delivered,
    priced_delivered,
    total_price,
    {{ cost_per_delivered('total_price', 'priced_delivered') }} as cost_per_delivered
from sums
