-- Instance price catalog (issue #9, costmill catalog import): SkyPilot-format rows as imported,
-- one version per `as_of` date. A new as_of adds rows and keeps the older ones (history); the
-- current catalog is the latest as_of of each key (sql/catalog_current.sql). Importing the same
-- as_of again replaces that version's rows (newest `version` wins, read with FINAL). The key is
-- (provider, instance_type, accelerator_name, accelerator_count, region, zone): GCP prices its
-- GPUs in accelerator-only rows with an empty instance_type. Empty zone: none (Azure, Lambda);
-- NULL price: not offered in that market.
CREATE TABLE IF NOT EXISTS price_catalog
(
    provider String,
    instance_type String,
    accelerator_name String,
    accelerator_count Decimal(38, 18),
    vcpus Nullable(Decimal(38, 18)),
    memory_gib Nullable(Decimal(38, 18)),
    region String,
    zone String,
    price_hourly_usd Nullable(Decimal(38, 18)),
    spot_price_hourly_usd Nullable(Decimal(38, 18)),
    as_of Date,
    source String,
    source_line UInt64,
    imported_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (provider, region, zone, instance_type, accelerator_name, accelerator_count, as_of);
