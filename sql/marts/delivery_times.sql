-- model: delivery_times (mart view)
-- grain: one row per campaign_id x country x channel with at least one delivered message (status in
--        the delivered bucket) that has both sent_at and delivered_at; channel keeps an RCS
--        campaign's own messages apart from its fallback SMS, whose times differ by design.
-- sources: stg_messages.
-- Seconds from sent_at to delivered_at (stg_messages.delivery_seconds, from epoch seconds: the
-- session time zone never matters). Percentiles are percentile_cont (linear interpolation, the
-- same numbers on DuckDB and PostgreSQL).
-- columns: sql/columns.yml (also in sql/README.md and this folder's _bsg_campaigns__models.yml).
select
    campaign_id,
    country,
    channel,
    cast(count(*) as bigint) as delivered_messages,
    cast(percentile_cont(0.5) within group (order by delivery_seconds) as double precision) as p50_delivery_seconds,
    cast(percentile_cont(0.9) within group (order by delivery_seconds) as double precision) as p90_delivery_seconds,
    cast(percentile_cont(0.99) within group (order by delivery_seconds) as double precision) as p99_delivery_seconds,
    cast(min(delivery_seconds) as double precision) as min_delivery_seconds,
    cast(max(delivery_seconds) as double precision) as max_delivery_seconds
from {{ ref('stg_messages') }}
where {{ status_in_bucket('statistics_status', 'delivered') }}
    and delivery_seconds is not null
group by campaign_id, country, channel
