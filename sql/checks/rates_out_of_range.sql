-- severity: error
-- check: rates_out_of_range
-- summary: a campaign rate outside [0, 1]
-- guards: every rate of campaign_rates lies in [0, 1] (NULL, a zero denominator, is fine).
--         delivery/read/pending/failed rates can only leave it through negative counts;
--         fallback_rate, fallback_delivery_rate and reach_rate also when the fallback block
--         reports more messages than the primary block could have handed over.
-- offending rows: one per (campaign, rate) out of range.
select campaign_id, 'delivery_rate' as rate, delivery_rate as value
from campaign_rates where delivery_rate < 0 or delivery_rate > 1
union all
select campaign_id, 'read_rate' as rate, read_rate as value
from campaign_rates where read_rate < 0 or read_rate > 1
union all
select campaign_id, 'fallback_rate' as rate, fallback_rate as value
from campaign_rates where fallback_rate < 0 or fallback_rate > 1
union all
select campaign_id, 'fallback_delivery_rate' as rate, fallback_delivery_rate as value
from campaign_rates where fallback_delivery_rate < 0 or fallback_delivery_rate > 1
union all
select campaign_id, 'reach_rate' as rate, reach_rate as value
from campaign_rates where reach_rate < 0 or reach_rate > 1
union all
select campaign_id, 'pending_rate' as rate, pending_rate as value
from campaign_rates where pending_rate < 0 or pending_rate > 1
union all
select campaign_id, 'failed_rate' as rate, failed_rate as value
from campaign_rates where failed_rate < 0 or failed_rate > 1
order by campaign_id, rate
