-- model: stg_campaigns (staging view)
-- grain: one row per row of `campaigns`, i.e. one per campaign_id (duplicates are reported by
--        checks/unique_campaign_id.sql, never hidden here).
-- source: campaigns (loaded by the connector; see pipelines/bsg_campaigns/tables.py).
-- columns: sql/columns.yml (also in sql/README.md and this folder's _bsg_campaigns__models.yml).
select
    campaign_id,
    name,
    sender,
    status,
    type,
    start_at,
    real_start_at,
    finished_at,
    created_at,
    cast(created_at at time zone 'UTC' as date) as created_date,
    total_messages,
    total_phones,
    total_price,
    currency,
    fetched_at,
    coalesce(lower(type) in ({{ sql_strings(var('bsg_campaigns_read_receipt_channels')) }}), false) as has_read_receipts
from {{ source('bsg_campaigns', 'campaigns') }}
