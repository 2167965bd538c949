{{ config(severity='error') }}
-- check: done_but_pending
-- summary: campaign done for longer than the refresh window still has pending messages
-- guards: a campaign `done` for longer than the refresh window still has pending messages
--         (scheduled/moderation/accepted/sending/sent) at its latest fetch. The connector stops
--         re-reading a campaign after the window, so those counts would stay pending forever.
--         "Longer than the window" is measured in the data: fetched_at - finished_at, in hours,
--         exceeds check_context.refresh_window_hours (the configured refresh window).
-- offending rows: one per campaign, with the pending count and the hours between finish and fetch.
select
    r.campaign_id,
    r.status,
    r.finished_at,
    r.fetched_at,
    r.pending,
    cast(
        (extract(epoch from r.fetched_at) - extract(epoch from r.finished_at)) / 3600.0
        as double precision
    ) as hours_after_finish,
    x.refresh_window_hours
from {{ ref('campaign_rates') }} as r
cross join {{ check_context_relation() }} as x
where r.status = 'done'
    and r.pending > 0
    and r.finished_at is not null
    and extract(epoch from r.fetched_at) - extract(epoch from r.finished_at)
        > x.refresh_window_hours * 3600
order by r.campaign_id
