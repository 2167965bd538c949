-- severity: error
-- check: unique_statistics_key
-- summary: a (campaign_id, channel, is_fallback, status) appears more than once in campaign_statistics
-- guards: one row per (campaign_id, channel, is_fallback, status) in `campaign_statistics` (the
--         table's key, tables.STATISTICS_KEY). A duplicate would double a count in every metric.
-- offending rows: one per duplicated key, with how many rows carry it.
select
    campaign_id,
    channel,
    is_fallback,
    status,
    cast(count(*) as bigint) as copies
from campaign_statistics
group by campaign_id, channel, is_fallback, status
having count(*) > 1
order by campaign_id, channel, status
