{{ config(severity='error') }}
-- check: unique_campaign_id
-- summary: campaign_id appears more than once in campaigns
-- guards: one row per campaign in `campaigns`. A duplicate would double the campaign in every mart
--         (campaign_rates joins on campaign_id) and in daily sums.
-- offending rows: one per duplicated campaign_id, with how many rows carry it.
{{ duplicated_keys('campaigns', 'campaign_id') }}
