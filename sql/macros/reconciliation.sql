{#- The reconciliation of the message-level tables with the campaign statistics, written once for
    its two checks (checks/messages_match_statistics.sql: settled campaigns, an error;
    checks/messages_match_statistics_open.sql: the others, a warning). -#}

{% macro message_statistics_mismatches(settled) -%}
    {#- The offending rows: for every campaign whose latest message read is complete
        (message_reads.complete), each (is_fallback, status) whose messages, grouped by their
        statistics_status, are not as many as campaign_statistics counts (a side without the key
        counts 0). `settled` true keeps the settled campaigns only (status in the var
        bsg_campaigns_final_statuses and finished longer than the refresh window before its latest
        fetch, measured as checks/done_but_pending.sql does), false the others (open, or not in
        `campaigns`). -#}
with read_campaigns as (
    select distinct r.campaign_id
    from {{ source('bsg_campaigns', 'message_reads') }} as r
    where r.complete
),
counted as (
    select
        m.campaign_id,
        m.is_fallback,
        m.statistics_status as status,
        cast(count(*) as bigint) as messages_counted
    from {{ ref('stg_messages') }} as m
    join read_campaigns as rc
        on rc.campaign_id = m.campaign_id
    group by m.campaign_id, m.is_fallback, m.statistics_status
),
reported as (
    select
        s.campaign_id,
        s.is_fallback,
        s.status,
        cast(sum(s.message_count) as bigint) as statistics_count
    from {{ source('bsg_campaigns', 'campaign_statistics') }} as s
    join read_campaigns as rc
        on rc.campaign_id = s.campaign_id
    group by s.campaign_id, s.is_fallback, s.status
),
compared as (
    select
        coalesce(c.campaign_id, s.campaign_id) as campaign_id,
        coalesce(c.is_fallback, s.is_fallback) as is_fallback,
        coalesce(c.status, s.status) as status,
        coalesce(c.messages_counted, 0) as messages_counted,
        coalesce(s.statistics_count, 0) as statistics_count
    from counted as c
    full outer join reported as s
        on s.campaign_id = c.campaign_id
        and s.is_fallback = c.is_fallback
        and s.status = c.status
),
settled_campaigns as (
    select distinct sc.campaign_id
    from {{ ref('stg_campaigns') }} as sc
    cross join {{ check_context_relation() }} as x
    where sc.status in ({{ sql_strings(var('bsg_campaigns_final_statuses')) }})
        and sc.finished_at is not null
        and extract(epoch from sc.fetched_at) - extract(epoch from sc.finished_at)
            > x.refresh_window_hours * 3600
)
select
    d.campaign_id,
    d.is_fallback,
    d.status,
    d.messages_counted,
    d.statistics_count
from compared as d
left join settled_campaigns as st
    on st.campaign_id = d.campaign_id
where d.messages_counted <> d.statistics_count
    and st.campaign_id is {{ 'not null' if settled else 'null' }}
order by d.campaign_id, d.is_fallback, d.status
{%- endmacro %}
