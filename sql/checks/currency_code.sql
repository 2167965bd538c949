{{ config(severity='error') }}
-- check: currency_code
-- summary: currency is not a 3-letter upper-case ISO code (or missing beside a price)
-- guards: `currency` is a 3-letter upper-case ISO-4217 code (UAH, USD, EUR), because money is
--         grouped and compared per currency. A NULL currency is an offence only when the campaign
--         has a price (a price in no known currency); a campaign without price may lack both.
--         Written without regular expressions (TRANSLATE deletes A-Z; anything left is foreign) so
--         it means the same on every destination.
-- offending rows: one per campaign, with the currency and price found.
select
    campaign_id,
    currency,
    total_price
from {{ source('bsg_campaigns', 'campaigns') }}
where (currency is null and total_price is not null)
    or (
        currency is not null
        and (
            length(currency) <> 3
            or translate(currency, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '') <> ''
        )
    )
order by campaign_id
