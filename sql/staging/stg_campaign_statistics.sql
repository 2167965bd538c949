-- model: stg_campaign_statistics (staging view)
-- grain: one row per campaign_id present in `campaign_statistics` (the current counts), pivoted from
--        one row per (campaign_id, channel, is_fallback, status). Campaigns without any statistics
--        rows are absent here; marts/campaign_rates.sql left-joins and treats them as 0 messages.
-- source: campaign_statistics.
-- columns:
--   campaign_id              BIGINT  BSG campaign id.
--   primary_channel          TEXT    channel of the primary block (the campaign type); NULL when the
--                                    campaign has only fallback rows.
--   fallback_channel         TEXT    channel of the fallback block ('sms'); NULL when there is no fallback.
--   primary_messages         BIGINT  sum of every primary count, whatever the status (known or new).
--   primary_<status>         BIGINT  primary count under exactly that status, 0 when absent, for each of the
--                                    13 documented statuses: delivered, read, sent, scheduled, moderation,
--                                    accepted, sending, expired, failed, undelivered, unknown, not_rcs_user,
--                                    not_viber_user (= settings.KNOWN_MESSAGE_STATUSES).
--   primary_other            BIGINT  primary count under any status not in that list (new API keys; they
--                                    still count in primary_messages and are reported by
--                                    checks/unknown_message_statuses.sql).
--   fallback_messages        BIGINT  sum of every fallback (SMS) count.
--   fallback_<status>        BIGINT  fallback count under exactly that status (same 13 statuses).
--   fallback_other           BIGINT  fallback count under any undocumented status.
--   status_rows              BIGINT  number of (channel, is_fallback, status) rows pivoted.
-- Counts are single-status (each message counted once under its current status): a read RCS
-- message is in primary_read, NOT in primary_delivered. Buckets (delivered = delivered + read, ...)
-- are made in marts/campaign_rates.sql, not here.
select
    campaign_id,
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
from campaign_statistics
group by campaign_id
