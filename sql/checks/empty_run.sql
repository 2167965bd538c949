{{ config(severity='warn') }}
-- check: empty_run
-- summary: the API listed campaigns but the run loaded none
-- guards: a run that loaded no campaign while the API listed some (campaigns_listed > 0 and
--         campaigns_loaded = 0, both from the run itself via check_context). Usually every detail
--         call failed or was rejected (see rejected_records). Nothing is reported when the run did
--         not say how many campaigns it listed or loaded (NULL).
-- offending rows: at most one, with both numbers.
select
    x.campaigns_listed,
    x.campaigns_loaded
from {{ check_context_relation() }} as x
where x.campaigns_listed > 0
    and x.campaigns_loaded = 0
