{{ config(severity='error') }}
-- check: counts_exceed_total_messages
-- summary: primary status counts add up to more than total_messages
-- guards: the primary status counts of a campaign (each message counted once, under its current
--         status) never add up to more than the campaign's total_messages. More means double
--         counting (e.g. a message under two statuses), which would inflate every rate's base.
--         Fewer is allowed: messages not yet accounted for by any status.
-- offending rows: one per campaign, with both numbers.
select
    c.campaign_id,
    c.total_messages,
    s.primary_messages
from {{ ref('stg_campaigns') }} as c
join {{ ref('stg_campaign_statistics') }} as s
    on s.campaign_id = c.campaign_id
where c.total_messages is not null
    and s.primary_messages > c.total_messages
order by c.campaign_id
