{{ config(severity='warn') }}
-- check: statistics_without_campaign
-- summary: statistics for a campaign_id missing from campaigns
-- guards: every campaign_id of campaign_statistics has its row in `campaigns`. Orphan counts are
--         loaded but left out of campaign_rates and daily_rates (they have no sender, type,
--         currency or price).
-- offending rows: one per orphan campaign_id, with its number of messages.
select
    s.campaign_id,
    cast(sum(s.message_count) as bigint) as messages
from {{ source('bsg_campaigns', 'campaign_statistics') }} as s
where s.campaign_id not in (select c.campaign_id from {{ source('bsg_campaigns', 'campaigns') }} as c)
group by s.campaign_id
order by s.campaign_id
