{{ config(severity='error') }}
-- check: rates_out_of_range
-- summary: a campaign rate outside [0, 1]
-- guards: every rate of campaign_rates lies in [0, 1] (NULL, a zero denominator, is fine).
--         delivery/read/pending/failed rates can only leave it through negative counts;
--         fallback_rate, fallback_delivery_rate and reach_rate also when the fallback block
--         reports more messages than the primary block could have handed over.
--         campaign_rates (an aggregation of every statistics row) is read exactly once: the
--         campaigns with any rate out of range first, then one row per offending rate.
-- offending rows: one per (campaign, rate) out of range.
with out_of_range as (
    select
        campaign_id,
        delivery_rate,
        read_rate,
        fallback_rate,
        fallback_delivery_rate,
        reach_rate,
        pending_rate,
        failed_rate
    from {{ ref('campaign_rates') }}
    where delivery_rate < 0 or delivery_rate > 1
        or read_rate < 0 or read_rate > 1
        or fallback_rate < 0 or fallback_rate > 1
        or fallback_delivery_rate < 0 or fallback_delivery_rate > 1
        or reach_rate < 0 or reach_rate > 1
        or pending_rate < 0 or pending_rate > 1
        or failed_rate < 0 or failed_rate > 1
),
rate_names as (
    select 'delivery_rate' as rate
    union all select 'read_rate'
    union all select 'fallback_rate'
    union all select 'fallback_delivery_rate'
    union all select 'reach_rate'
    union all select 'pending_rate'
    union all select 'failed_rate'
),
rates as (
    select
        o.campaign_id,
        n.rate,
        case n.rate
            when 'delivery_rate' then o.delivery_rate
            when 'read_rate' then o.read_rate
            when 'fallback_rate' then o.fallback_rate
            when 'fallback_delivery_rate' then o.fallback_delivery_rate
            when 'reach_rate' then o.reach_rate
            when 'pending_rate' then o.pending_rate
            when 'failed_rate' then o.failed_rate
        end as value
    from out_of_range as o
    cross join rate_names as n
)
select campaign_id, rate, value
from rates
where value < 0 or value > 1
order by campaign_id, rate
