{{ config(severity='warn') }}
-- check: unknown_message_statuses
-- summary: message status never seen before (not in settings.KNOWN_MESSAGE_STATUSES)
-- guards: every message status in campaign_statistics is one the project knows
--         (settings.KNOWN_MESSAGE_STATUSES, provided by the runner as `known_message_statuses`).
--         A new status is loaded and counted in `messages`, but falls in no bucket (delivered,
--         failed, pending, ...): someone should decide where it belongs.
-- offending rows: one per unknown status, with how many campaigns and messages carry it.
select
    s.status,
    cast(count(distinct s.campaign_id) as bigint) as campaigns,
    cast(sum(s.message_count) as bigint) as messages
from {{ source('bsg_campaigns', 'campaign_statistics') }} as s
where s.status not in (select k.status from {{ known_statuses_relation() }} as k)
group by s.status
order by s.status
