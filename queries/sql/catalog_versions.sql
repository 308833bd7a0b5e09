-- Versions of the stored price catalog: rows per provider and as_of, and how many of them are
-- current (no later as_of for their key). The Decimal accelerator_count is keyed as text (see
-- catalog_current.sql).
SELECT provider, as_of, count() AS rows, sum(latest = as_of) AS current
FROM
(
    SELECT provider, region, zone, instance_type, accelerator_name,
           concat(toString(accelerator_count), '') AS count_text, as_of
    FROM price_catalog FINAL
) AS versions
ANY LEFT JOIN
(
    SELECT provider, region, zone, instance_type, accelerator_name,
           concat(toString(accelerator_count), '') AS count_text, max(as_of) AS latest
    FROM price_catalog FINAL
    GROUP BY provider, region, zone, instance_type, accelerator_name, count_text
) AS latest_versions
USING (provider, region, zone, instance_type, accelerator_name, count_text)
GROUP BY provider, as_of
ORDER BY provider, as_of
