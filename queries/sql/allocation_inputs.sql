-- Cost rows of the window aggregated per day and the dimensions ownership rules look at.
SELECT
    toDate(ChargePeriodStart) AS day,
    Provider AS provider,
    ServiceName AS service_name,
    ServiceCategory AS service_category,
    SubAccountId AS sub_account_id,
    SubAccountName AS sub_account_name,
    ResourceId AS resource_id,
    ChargeCategory AS charge_category,
    x_TagKeys AS tag_keys,
    x_TagValues AS tag_values,
    sum(BilledCost) AS billed,
    sum(EffectiveCost) AS effective,
    count() AS rows,
    '' AS k8s_namespace
FROM focus_costs
WHERE ChargePeriodStart >= {from:DateTime} AND ChargePeriodStart < {to:DateTime}
GROUP BY day, provider, service_name, service_category, sub_account_id, sub_account_name, resource_id,
    charge_category, tag_keys, tag_values
