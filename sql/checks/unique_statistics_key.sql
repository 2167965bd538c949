{{ config(severity='error') }}
-- check: unique_statistics_key
-- summary: a (campaign_id, channel, is_fallback, status) appears more than once in campaign_statistics
-- guards: one row per (campaign_id, channel, is_fallback, status) in `campaign_statistics` (the
--         table's key). A duplicate would double a count in every metric.
--         Grouping millions of rows by the 4-column key is the slowest check there is, so it is
--         done in two steps, exactly. The table has only a few dozen distinct (channel,
--         is_fallback, status): each gets a number, i.e. a bit in a 30-bit word. Per campaign and
--         word, the sum of the rows' bits exceeds their bitwise OR exactly when a bit is counted
--         twice, i.e. when a key repeats; only the campaigns found that way are then grouped by the
--         full key. (The key columns are NOT NULL: the equality join loses no row.)
-- offending rows: one per duplicated key, with how many rows carry it.
with key_combinations as (
    select
        channel,
        is_fallback,
        status,
        row_number() over (order by channel, is_fallback, status) - 1 as combination
    from (
        select distinct channel, is_fallback, status
        from {{ source('bsg_campaigns', 'campaign_statistics') }}
    ) as distinct_keys
),
combination_bits as (
    select
        channel,
        is_fallback,
        status,
        floor(cast(combination as double precision) / 30.0) as bit_word,
        cast(power(2, mod(combination, 30)) as bigint) as bit
    from key_combinations
),
suspects as (
    select s.campaign_id
    from {{ source('bsg_campaigns', 'campaign_statistics') }} as s
    join combination_bits as b
        on b.channel = s.channel
        and b.is_fallback = s.is_fallback
        and b.status = s.status
    group by s.campaign_id, b.bit_word
    having sum(b.bit) <> bit_or(b.bit)
)
select
    campaign_id,
    channel,
    is_fallback,
    status,
    cast(count(*) as bigint) as copies
from {{ source('bsg_campaigns', 'campaign_statistics') }}
where campaign_id in (select campaign_id from suspects)
group by campaign_id, channel, is_fallback, status
having count(*) > 1
order by campaign_id, channel, status
