-- model: stg_campaign_statistics_history (staging view)
-- grain: one row per (campaign_id, fetched_at) in `campaign_statistics_history`: the counts as they
--        stood at each fetch, pivoted like stg_campaign_statistics. Exact duplicate history rows
--        (the same fetch loaded twice) are collapsed first with DISTINCT, so a re-run load never
--        doubles a snapshot.
-- source: campaign_statistics_history (appended on every fetch).
-- columns: sql/columns.yml (also in sql/README.md and this folder's _bsg_campaigns__models.yml).
-- Counts are single-status (each message counted once under its current status): a read RCS
-- message is in primary_read, NOT in primary_delivered. Buckets (delivered = delivered + read, ...)
-- are made in marts/campaign_rates.sql, not here.
select
    campaign_id,
    fetched_at,
    max(case when not is_fallback then channel end) as primary_channel,
    max(case when is_fallback then channel end) as fallback_channel,
    cast(sum(case when not is_fallback then message_count else 0 end) as bigint) as primary_messages,
    cast(sum(case when not is_fallback and status = 'delivered' then message_count else 0 end) as bigint) as primary_delivered,
    cast(sum(case when not is_fallback and status = 'read' then message_count else 0 end) as bigint) as primary_read,
    cast(sum(case when not is_fallback and status = 'sent' then message_count else 0 end) as bigint) as primary_sent,
    cast(sum(case when not is_fallback and status = 'scheduled' then message_count else 0 end) as bigint) as primary_scheduled,
    cast(sum(case when not is_fallback and status = 'moderation' then message_count else 0 end) as bigint) as primary_moderation,
    cast(sum(case when not is_fallback and status = 'accepted' then message_count else 0 end) as bigint) as primary_accepted,
    cast(sum(case when not is_fallback and status = 'sending' then message_count else 0 end) as bigint) as primary_sending,
    cast(sum(case when not is_fallback and status = 'expired' then message_count else 0 end) as bigint) as primary_expired,
    cast(sum(case when not is_fallback and status = 'failed' then message_count else 0 end) as bigint) as primary_failed,
    cast(sum(case when not is_fallback and status = 'undelivered' then message_count else 0 end) as bigint) as primary_undelivered,
    cast(sum(case when not is_fallback and status = 'unknown' then message_count else 0 end) as bigint) as primary_unknown,
    cast(sum(case when not is_fallback and status = 'not_rcs_user' then message_count else 0 end) as bigint) as primary_not_rcs_user,
    cast(sum(case when not is_fallback and status = 'not_viber_user' then message_count else 0 end) as bigint) as primary_not_viber_user,
    cast(sum(case when not is_fallback and status not in (
        'delivered', 'read', 'sent', 'scheduled', 'moderation', 'accepted', 'sending', 'expired', 'failed', 'undelivered', 'unknown', 'not_rcs_user', 'not_viber_user'
    ) then message_count else 0 end) as bigint) as primary_other,
    cast(sum(case when is_fallback then message_count else 0 end) as bigint) as fallback_messages,
    cast(sum(case when is_fallback and status = 'delivered' then message_count else 0 end) as bigint) as fallback_delivered,
    cast(sum(case when is_fallback and status = 'read' then message_count else 0 end) as bigint) as fallback_read,
    cast(sum(case when is_fallback and status = 'sent' then message_count else 0 end) as bigint) as fallback_sent,
    cast(sum(case when is_fallback and status = 'scheduled' then message_count else 0 end) as bigint) as fallback_scheduled,
    cast(sum(case when is_fallback and status = 'moderation' then message_count else 0 end) as bigint) as fallback_moderation,
    cast(sum(case when is_fallback and status = 'accepted' then message_count else 0 end) as bigint) as fallback_accepted,
    cast(sum(case when is_fallback and status = 'sending' then message_count else 0 end) as bigint) as fallback_sending,
    cast(sum(case when is_fallback and status = 'expired' then message_count else 0 end) as bigint) as fallback_expired,
    cast(sum(case when is_fallback and status = 'failed' then message_count else 0 end) as bigint) as fallback_failed,
    cast(sum(case when is_fallback and status = 'undelivered' then message_count else 0 end) as bigint) as fallback_undelivered,
    cast(sum(case when is_fallback and status = 'unknown' then message_count else 0 end) as bigint) as fallback_unknown,
    cast(sum(case when is_fallback and status = 'not_rcs_user' then message_count else 0 end) as bigint) as fallback_not_rcs_user,
    cast(sum(case when is_fallback and status = 'not_viber_user' then message_count else 0 end) as bigint) as fallback_not_viber_user,
    cast(sum(case when is_fallback and status not in (
        'delivered', 'read', 'sent', 'scheduled', 'moderation', 'accepted', 'sending', 'expired', 'failed', 'undelivered', 'unknown', 'not_rcs_user', 'not_viber_user'
    ) then message_count else 0 end) as bigint) as fallback_other,
    cast(count(*) as bigint) as status_rows
from (
    select distinct campaign_id, fetched_at, channel, is_fallback, status, message_count
    from campaign_statistics_history
) as history
group by campaign_id, fetched_at
