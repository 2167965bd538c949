{{ config(severity='error') }}
-- check: negative_counts
-- summary: negative message counts or campaign totals
-- guards: no count is negative: campaign_statistics.message_count,
--         campaign_statistics_history.message_count, campaigns.total_messages and total_phones.
-- offending rows: one per negative value: the table, the column (or message status), the value.
select
    'campaign_statistics' as source_table,
    campaign_id,
    status as counted,
    message_count as value
from {{ source('bsg_campaigns', 'campaign_statistics') }}
where message_count < 0
union all
select
    'campaign_statistics_history' as source_table,
    campaign_id,
    status as counted,
    message_count as value
from {{ source('bsg_campaigns', 'campaign_statistics_history') }}
where message_count < 0
union all
select
    'campaigns' as source_table,
    campaign_id,
    'total_messages' as counted,
    total_messages as value
from {{ source('bsg_campaigns', 'campaigns') }}
where total_messages < 0
union all
select
    'campaigns' as source_table,
    campaign_id,
    'total_phones' as counted,
    total_phones as value
from {{ source('bsg_campaigns', 'campaigns') }}
where total_phones < 0
order by source_table, campaign_id, counted
