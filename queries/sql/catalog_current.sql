-- The current price catalog: for every key, the row of its latest as_of (each version's newest
-- import: FINAL). {provider} empty: every provider. The Decimal accelerator_count is keyed as
-- text: ClickHouse 18.16 crashes (segfault) on a Decimal in a GROUP BY key with other columns,
-- and drops a bare toString() there as injective, so the text goes through concat().
SELECT provider, instance_type, accelerator_name, accelerator_count, vcpus, memory_gib, region,
       zone, price_hourly_usd, spot_price_hourly_usd, as_of, source, source_line, imported_at,
       version
FROM price_catalog FINAL
WHERE ({provider:String} = '' OR provider = {provider:String})
  AND (provider, region, zone, instance_type, accelerator_name, concat(toString(accelerator_count), ''), as_of) IN
  (
      SELECT provider, region, zone, instance_type, accelerator_name,
             concat(toString(accelerator_count), '') AS count_text, max(as_of)
      FROM price_catalog FINAL
      WHERE {provider:String} = '' OR provider = {provider:String}
      GROUP BY provider, region, zone, instance_type, accelerator_name, count_text
  )
ORDER BY provider, region, zone, instance_type, accelerator_name, accelerator_count
