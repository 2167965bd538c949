-- model: daily_rates (mart view)
-- grain: one row per created_date (campaign creation day, UTC) x sender x type x currency, over the
--        campaigns of campaign_rates. NULL sender/type/currency form their own group; money is never
--        added across currencies (currency is part of the grain).
-- sources: campaign_rates.
-- Rates are ratios of sums over the group's campaigns, never averages of per-campaign ratios:
-- a 10,000-message campaign weighs 100 times a 100-message one. A zero denominator gives NULL.
-- columns:
--   created_date           DATE    campaign creation day in UTC.
--   sender                 TEXT    sender name.
--   type                   TEXT    campaign type / primary channel.
--   currency               TEXT    ISO code of total_price and cost_per_delivered.
--   campaigns              BIGINT  number of campaigns in the group.
--   messages               BIGINT  sum of campaign_rates.messages (all primary counts).
--   delivered              BIGINT  sum of delivered (primary delivered + read).
--   read                   BIGINT  sum of read.
--   failed                 BIGINT  sum of failed.
--   pending                BIGINT  sum of pending.
--   fallback_messages      BIGINT  sum of fallback_messages.
--   fallback_delivered     BIGINT  sum of fallback_delivered.
--   total_price            DECIMAL(38,7) sum of total_price (NULL prices ignored) in `currency`.
--   priced_delivered       BIGINT  sum of delivered + fallback_delivered over the campaigns whose price
--                                  is known: the denominator of cost_per_delivered.
--   delivery_rate          DOUBLE  sum(delivered) / sum(messages).
--   read_rate              DOUBLE  sum(read) / sum(delivered); NULL for types without read receipts.
--   fallback_rate          DOUBLE  sum(fallback_messages) / sum(messages).
--   fallback_delivery_rate DOUBLE  sum(fallback_delivered) / sum(fallback_messages).
--   reach_rate             DOUBLE  (sum(delivered) + sum(fallback_delivered)) / sum(messages).
--   pending_rate           DOUBLE  sum(pending) / sum(messages).
--   failed_rate            DOUBLE  sum(failed) / sum(messages).
--   cost_per_delivered     DECIMAL(38,7) total_price / priced_delivered, in `currency` (campaigns with an
--                                  unknown price are left out of both sides, so they do not make
--                                  delivery look cheaper).
with sums as (
    select
        created_date,
        sender,
        type,
        currency,
        cast(count(*) as bigint) as campaigns,
        cast(sum(messages) as bigint) as messages,
        cast(sum(delivered) as bigint) as delivered,
        cast(sum(read) as bigint) as read,
        cast(sum(failed) as bigint) as failed,
        cast(sum(pending) as bigint) as pending,
        cast(sum(fallback_messages) as bigint) as fallback_messages,
        cast(sum(fallback_delivered) as bigint) as fallback_delivered,
        cast(sum(total_price) as decimal(38, 7)) as total_price,
        cast(
            sum(case when total_price is not null then delivered + fallback_delivered else 0 end)
            as bigint
        ) as priced_delivered,
        max(case when has_read_receipts then 1 else 0 end) as has_read_receipts
    from {{ ref('campaign_rates') }}
    group by created_date, sender, type, currency
)
select
    created_date,
    sender,
    type,
    currency,
    campaigns,
    messages,
    delivered,
    read,
    failed,
    pending,
    fallback_messages,
    fallback_delivered,
    total_price,
    priced_delivered,
    {{ rate_columns('has_read_receipts = 1') }},
    {{ cost_per_delivered('total_price', 'priced_delivered') }} as cost_per_delivered
from sums
