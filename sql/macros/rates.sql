{#- Every rate of the marts, defined once: a ratio as CAST(numerator AS DOUBLE PRECISION) /
    NULLIF(denominator, 0), so a zero denominator gives NULL and Postgres never truncates. -#}

{% macro rate(numerator, denominator) -%}
    cast({{ numerator }} as double precision) / nullif({{ denominator }}, 0)
{%- endmacro %}

{% macro rate_definitions() -%}
    {#- rate column -> (numerator, denominator), over the bucket columns of the marts -#}
    {%- do return({
        'delivery_rate': ('delivered', 'messages'),
        'read_rate': ('read', 'delivered'),
        'fallback_rate': ('fallback_messages', 'messages'),
        'fallback_delivery_rate': ('fallback_delivered', 'fallback_messages'),
        'reach_rate': ('delivered + fallback_delivered', 'messages'),
        'pending_rate': ('pending', 'messages'),
        'failed_rate': ('failed', 'messages'),
    }) -%}
{%- endmacro %}

{% macro rate_columns(has_read_receipts, names=none) -%}
    {#- the select-list entries `<rate> as <name>` for the rates `names` (default: all, in the order
        above); read_rate only where the condition `has_read_receipts` holds, NULL for channels
        without read receipts -#}
    {%- set definitions = rate_definitions() -%}
    {%- for name in names or definitions -%}
        {%- set numerator, denominator = definitions[name] -%}
        {%- if name == 'read_rate' -%}
            case when {{ has_read_receipts }} then {{ rate(numerator, denominator) }} end as {{ name }}
        {%- else -%}
            {{ rate(numerator, denominator) }} as {{ name }}
        {%- endif -%}
        {{ ',\n    ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{% macro cost_per_delivered(price, delivered) -%}
    {#- price per delivered message, at the price's scale (7 decimals); NULL when nothing was delivered -#}
    cast({{ rate(price, delivered) }} as decimal(38, 7))
{%- endmacro %}
