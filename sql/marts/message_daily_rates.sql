-- model: message_daily_rates (mart view)
-- grain: one row per message_date (the UTC day of sent_at, else of created_at) x country x channel,
--        over every message of stg_messages (own messages and fallback SMS, each under its own
--        channel). NULL country/channel/date form their own group.
-- sources: stg_messages.
-- Buckets are those of campaign_rates, over statistics_status (a message's `not_service_user` is
-- `not_rcs_user` / `not_viber_user`, so it is failed there too). Rates as the campaign marts make
-- them (macros/rates.sql): ratios of the group's counts, a zero denominator gives NULL; read_rate
-- is NULL for channels without read receipts.
-- columns: sql/columns.yml (also in sql/README.md and this folder's _bsg_campaigns__models.yml).
with sums as (
    select
        coalesce(sent_date, created_date) as message_date,
        country,
        channel,
        cast(count(*) as bigint) as messages,
        {{ bucket_counts('statistics_status') }},
        cast(sum(case when is_fallback then 1 else 0 end) as bigint) as fallback_messages
    from {{ ref('stg_messages') }}
    group by coalesce(sent_date, created_date), country, channel
)
select
    sums.*,
    {{ rate_columns("coalesce(lower(channel) in (" ~ sql_strings(var('bsg_campaigns_read_receipt_channels')) ~ "), false)", ['delivery_rate', 'read_rate']) }}
from sums
