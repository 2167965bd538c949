{#- The offending rows of a uniqueness check: each value of `key_column` that more than one row of
    the source table `table_name` carries, with how many (checks/unique_campaign_id.sql,
    checks/unique_message_id.sql). -#}
{% macro duplicated_keys(table_name, key_column) -%}
select
    {{ key_column }},
    cast(count(*) as bigint) as copies
from {{ source('bsg_campaigns', table_name) }}
group by {{ key_column }}
having count(*) > 1
order by {{ key_column }}
{%- endmacro %}
