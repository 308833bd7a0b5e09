SELECT version, name, checksum, toUInt32(applied_at) AS applied_at
FROM schema_migrations
ORDER BY version
