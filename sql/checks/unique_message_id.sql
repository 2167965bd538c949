{{ config(severity='error') }}
-- check: unique_message_id
-- summary: message_id appears more than once in messages
-- guards: one row per message in `messages`. The connector merges messages on message_id without
--         a dedup window (its chunks of a campaign's pages never overlap, and the window made the
--         merge of 200,000 messages outgrow the load's memory cap), so a server that served one
--         message on two pages of one read would load it twice: this check says so.
-- offending rows: one per duplicated message_id, with how many rows carry it.
{{ duplicated_keys('messages', 'message_id') }}
