{#- The two relations a check may read besides the tables and models. A connector run provides
    both as CTEs built from the run (analyst/sqlcompile.check_relations), and its renderer sets the
    var bsg_campaigns_run_relations so that these macros name them. Under dbt, which knows no run,
    they stand in: the refresh window from the var bsg_campaigns_refresh_window_hours, and NULL
    campaigns listed/loaded (so checks/empty_run reports nothing). -#}

{% macro check_context_relation() -%}
    {%- if var('bsg_campaigns_run_relations', false) -%}
    check_context
    {%- else -%}
    (select
        cast({{ var('bsg_campaigns_refresh_window_hours') | int }} as bigint) as refresh_window_hours,
        cast(null as bigint) as campaigns_listed,
        cast(null as bigint) as campaigns_loaded)
    {%- endif -%}
{%- endmacro %}

{% macro final_statuses_relation() -%}
    {#- The campaign statuses after which a campaign sends nothing more: the connector's
        final_statuses setting in a run, the var bsg_campaigns_final_statuses in dbt. -#}
    {%- if var('bsg_campaigns_run_relations', false) -%}
    final_campaign_statuses
    {%- else -%}
    ({% for status in var('bsg_campaigns_final_statuses') -%}
        select cast('{{ status }}' as text) as status{{ ' union all ' if not loop.last }}
    {%- endfor %})
    {%- endif -%}
{%- endmacro %}

{% macro known_statuses_relation() -%}
    {%- if var('bsg_campaigns_run_relations', false) -%}
    known_message_statuses
    {%- else -%}
    ({% for status in message_statuses() -%}
        select cast('{{ status }}' as text) as status{{ ' union all ' if not loop.last }}
    {%- endfor %})
    {%- endif -%}
{%- endmacro %}
