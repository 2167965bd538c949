{{ config(severity='warn') }}
-- check: messages_match_statistics_open
-- summary: an open campaign's messages by status differ from its statistics
-- guards: the comparison of messages_match_statistics for the campaigns with a complete message
--         read that are not settled yet (or not in `campaigns`): while delivery reports, reads
--         and fallback SMS still arrive, the message read and the statistics may be minutes apart,
--         so a difference is only a warning; it becomes an error once the campaign is settled.
-- offending rows: one per (campaign_id, is_fallback, status) that differs, with messages_counted and
--         statistics_count (0 on a side without that status).
{{ message_statistics_mismatches(settled=false) }}
