-- model: recipients_reached (mart view)
-- grain: one row per campaign_id x recipient_scheme present in stg_messages: recipients of
--        different schemes (another hash key, last digits, dropped) are never counted together.
-- sources: stg_messages.
-- A recipient counts once: reached through the primary channel when one of its own (not fallback)
-- messages is in the delivered bucket, else reached only through the fallback when one of its
-- fallback SMS is, else not reached. NULL recipients (recipient_mode drop, or no phone) are no
-- recipient: they are left out of every recipient count and their messages counted in
-- messages_without_recipient. Under last_digits the counts are of distinct endings (see columns).
-- columns: sql/columns.yml (also in sql/README.md and this folder's _bsg_campaigns__models.yml).
with per_recipient as (
    select
        campaign_id,
        recipient_scheme,
        recipient,
        cast(count(*) as bigint) as messages,
        max(case when not is_fallback and {{ status_in_bucket('statistics_status', 'delivered') }} then 1 else 0 end)
            as reached_primary,
        max(case when is_fallback and {{ status_in_bucket('statistics_status', 'delivered') }} then 1 else 0 end)
            as reached_fallback
    from {{ ref('stg_messages') }}
    group by campaign_id, recipient_scheme, recipient
),
sums as (
    select
        campaign_id,
        recipient_scheme,
        cast(sum(messages) as bigint) as messages,
        cast(sum(case when recipient is null then messages else 0 end) as bigint) as messages_without_recipient,
        cast(sum(case when recipient is not null then 1 else 0 end) as bigint) as recipients,
        cast(sum(case when recipient is not null and reached_primary = 1 then 1 else 0 end) as bigint)
            as reached_primary,
        cast(sum(case when recipient is not null and reached_primary = 0 and reached_fallback = 1 then 1 else 0 end)
            as bigint) as reached_only_fallback
    from per_recipient
    group by campaign_id, recipient_scheme
)
select
    campaign_id,
    recipient_scheme,
    messages,
    messages_without_recipient,
    recipients,
    reached_primary,
    reached_only_fallback,
    reached_primary + reached_only_fallback as reached,
    recipients - reached_primary - reached_only_fallback as not_reached,
    {{ rate('reached_primary + reached_only_fallback', 'recipients') }} as recipient_reach_rate
from sums
