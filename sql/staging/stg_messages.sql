-- model: stg_messages (staging view)
-- grain: one row per row of `messages`, i.e. one per message_id (merged on it by the connector),
--        own messages and fallback SMS alike.
-- sources: messages, message_fallbacks (a message whose id is some row's fallback_message_id is a
--          fallback SMS: is_fallback).
-- columns: sql/columns.yml (also in sql/README.md and this folder's _bsg_campaigns__models.yml).
-- 1:1 with `messages` (the content's JSON columns rcs_options and extra_fields left out) plus the
-- derived columns every message mart needs: is_fallback, statistics_status (the status in the
-- campaign statistics' vocabulary: a message's `not_service_user` is counted there as
-- `not_rcs_user` for rcs and `not_viber_user` for viber), the UTC dates and delivery_seconds.
select
    m.message_id,
    m.campaign_id,
    m.reference_id,
    m.channel,
    m.source,
    m.status,
    case
        when m.status = 'not_service_user' and m.channel = 'rcs' then 'not_rcs_user'
        when m.status = 'not_service_user' and m.channel = 'viber' then 'not_viber_user'
        else m.status
    end as statistics_status,
    f.fallback_message_id is not null as is_fallback,
    m.recipient,
    m.recipient_scheme,
    m.country,
    m.parts,
    m.sender,
    m.created_at,
    m.sent_at,
    m.delivered_at,
    cast(m.created_at at time zone 'UTC' as date) as created_date,
    cast(m.sent_at at time zone 'UTC' as date) as sent_date,
    cast(extract(epoch from m.delivered_at) - extract(epoch from m.sent_at) as double precision) as delivery_seconds,
    m.price,
    m.currency,
    m.validity_hours,
    m.text,
    m.fetched_at
from {{ source('bsg_campaigns', 'messages') }} as m
left join (
    select distinct fallback_message_id
    from {{ source('bsg_campaigns', 'message_fallbacks') }}
) as f
    on f.fallback_message_id = m.message_id
