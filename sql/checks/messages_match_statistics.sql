{{ config(severity='error') }}
-- check: messages_match_statistics
-- summary: a settled campaign's messages by status differ from its statistics
-- guards: the two endpoints agree. For every campaign whose latest message read is complete
--         (message_reads.complete) and that is settled (status in the final statuses, the var
--         bsg_campaigns_final_statuses, and finished longer than the refresh window before its
--         latest fetch, measured as done_but_pending does), its own messages grouped by status
--         equal campaign_statistics' is_fallback = false rows and its fallback SMS (ids in
--         message_fallbacks.fallback_message_id) its is_fallback = true rows; a message's
--         `not_service_user` counts as `not_rcs_user` / `not_viber_user` (stg_messages'
--         statistics_status). Nothing moves any more, so a difference is a loss or a double count.
--         The same comparison for open campaigns: messages_match_statistics_open (a warning).
-- offending rows: one per (campaign_id, is_fallback, status) that differs, with messages_counted and
--         statistics_count (0 on a side without that status).
{{ message_statistics_mismatches(settled=true) }}
