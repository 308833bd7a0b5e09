-- The FOCUS export (api/src/export): the billing dimensions of every Provider and ServiceName whose
-- charges touch the days [from, to). An allocation line names its origin only as
-- `<Provider> / <ServiceName>` (its cost_source); this gives the line the ServiceCategory,
-- Publisher and InvoiceIssuer of that service's billing rows (the first non-empty value).
SELECT
    Provider AS provider,
    ServiceName AS service_name,
    anyIf(ServiceCategory, ServiceCategory != '') AS service_category,
    anyIf(Publisher, Publisher != '') AS publisher,
    anyIf(InvoiceIssuer, InvoiceIssuer != '') AS invoice_issuer
FROM focus_costs
WHERE ChargePeriodStart < {to:DateTime} AND ChargePeriodEnd >= {from:DateTime}
GROUP BY provider, service_name
