-- model: stg_campaigns (staging view)
-- grain: one row per row of `campaigns`, i.e. one per campaign_id (duplicates are reported by
--        checks/unique_campaign_id.sql, never hidden here).
-- source: campaigns (loaded by the connector; see pipelines/bsg_campaigns/tables.py).
-- columns: (1:1 from `campaigns` unless stated)
--   campaign_id        BIGINT        BSG campaign id.
--   name               TEXT          campaign name.
--   sender             TEXT          sender name the campaign was sent from.
--   status             TEXT          campaign status (creation/moderation/spam/scheduled/sending/paused/stopped/done).
--   type               TEXT          campaign type / primary channel (rcs, sms, viber, whatsapp, ...).
--   start_at           TIMESTAMPTZ   planned start (UTC).
--   real_start_at      TIMESTAMPTZ   actual start (UTC); NULL when the API gave none.
--   finished_at        TIMESTAMPTZ   end of sending (UTC); NULL while running.
--   created_at         TIMESTAMPTZ   campaign creation time (UTC).
--   created_date       DATE          derived: calendar day of created_at in UTC (never the session time zone).
--   total_messages     BIGINT        messages the campaign addressed, as reported by the API.
--   total_phones       BIGINT        phone numbers the campaign addressed.
--   total_price        DECIMAL(38,7) campaign price in `currency` (exact; never summed across currencies).
--   currency           TEXT          ISO-4217 code of total_price.
--   fetched_at         TIMESTAMPTZ   when the connector last read this campaign's detail.
--   has_read_receipts  BOOLEAN       derived: the primary channel reports reads (rcs, viber, whatsapp =
--                                    settings.READ_RECEIPT_CHANNELS). FALSE for sms and unknown types, which
--                                    makes read_rate NULL downstream instead of a misleading 0.
select
    campaign_id,
    name,
    sender,
    status,
    type,
    start_at,
    real_start_at,
    finished_at,
    created_at,
    cast(created_at at time zone 'UTC' as date) as created_date,
    total_messages,
    total_phones,
    total_price,
    currency,
    fetched_at,
    coalesce(lower(type) in ({{ sql_strings(var('bsg_campaigns_read_receipt_channels')) }}), false) as has_read_receipts
from {{ source('bsg_campaigns', 'campaigns') }}
