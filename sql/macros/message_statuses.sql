{#- The message statuses and their buckets, from the var bsg_campaigns_message_status_buckets
    (dbt_project.yml; settings.py reads the same var): the staging pivot and every mart's buckets
    are generated from it. -#}

{% macro message_statuses() -%}
    {#- every documented status, bucket by bucket (= settings.KNOWN_MESSAGE_STATUSES) -#}
    {%- set statuses = [] -%}
    {%- for members in var('bsg_campaigns_message_status_buckets').values() -%}
        {%- do statuses.extend(members) -%}
    {%- endfor -%}
    {%- do return(statuses) -%}
{%- endmacro %}

{% macro sql_strings(values) -%}
    {#- 'a', 'b', 'c': a list of plain words as SQL string literals -#}
    {%- for value in values -%}
        '{{ value }}'{{ ', ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{% macro status_bucket(prefix, bucket) -%}
    {#- (<prefix><status> + ...) over the statuses of one bucket: status_bucket('s.primary_',
        'delivered') is (s.primary_delivered + s.primary_read) -#}
    ({% for status in var('bsg_campaigns_message_status_buckets')[bucket] -%}
        {{ prefix }}{{ status }}{{ ' + ' if not loop.last }}
    {%- endfor %})
{%- endmacro %}

{% macro status_pivot() -%}
    {#- The select list that pivots statistics rows (channel, is_fallback, status, message_count)
        into one row of single-status counts per group: primary_/fallback_ channel, messages, one
        column per documented status, `other` for any other status, and status_rows. -#}
    max(case when not is_fallback then channel end) as primary_channel,
    max(case when is_fallback then channel end) as fallback_channel,
    {%- for block, condition in [('primary', 'not is_fallback'), ('fallback', 'is_fallback')] %}
    cast(sum(case when {{ condition }} then message_count else 0 end) as bigint) as {{ block }}_messages,
    {%- for status in message_statuses() %}
    cast(sum(case when {{ condition }} and status = '{{ status }}' then message_count else 0 end) as bigint) as {{ block }}_{{ status }},
    {%- endfor %}
    cast(sum(case when {{ condition }} and status not in ({{ sql_strings(message_statuses()) }}) then message_count else 0 end) as bigint) as {{ block }}_other,
    {%- endfor %}
    cast(count(*) as bigint) as status_rows
{%- endmacro %}

{% macro status_in_bucket(column, bucket) -%}
    {#- (<column> in ('delivered', 'read')): one message's status falls in a bucket (the message
        marts count rows, where the campaign marts add pivot columns) -#}
    ({{ column }} in ({{ sql_strings(var('bsg_campaigns_message_status_buckets')[bucket]) }}))
{%- endmacro %}

{% macro bucket_counts(column) -%}
    {#- the select-list entries delivered, read, failed, pending, unknown_messages, other_messages:
        messages per bucket of the status column `column` (one row per message; other = a status
        in no bucket), as BIGINT -#}
    cast(sum(case when {{ status_in_bucket(column, 'delivered') }} then 1 else 0 end) as bigint) as delivered,
    cast(sum(case when {{ column }} = 'read' then 1 else 0 end) as bigint) as read,
    cast(sum(case when {{ status_in_bucket(column, 'failed') }} then 1 else 0 end) as bigint) as failed,
    cast(sum(case when {{ status_in_bucket(column, 'pending') }} then 1 else 0 end) as bigint) as pending,
    cast(sum(case when {{ status_in_bucket(column, 'unknown') }} then 1 else 0 end) as bigint) as unknown_messages,
    cast(sum(case when {{ column }} not in ({{ sql_strings(message_statuses()) }}) then 1 else 0 end) as bigint) as other_messages
{%- endmacro %}
