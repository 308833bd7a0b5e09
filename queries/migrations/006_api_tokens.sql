-- REST API bearer tokens (`costmill tokens create|list|revoke`). Only a SHA-256 of the secret is
-- stored. Every change (revocation) is a new version of the row; readers see the latest (FINAL).
CREATE TABLE IF NOT EXISTS api_tokens
(
    id String,
    name String,
    secret_sha256 String,
    scope String,
    teams Array(String),
    created_at DateTime('UTC'),
    revoked_at DateTime('UTC'),
    revoked UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;
