-- The unexpired claims of a lease, the holder first: renewals and releases are newer versions of
-- a claim row, so each claim's latest version counts (argMax: exact before merges).
SELECT holder, claimed_ms, expires_ms, info
FROM
(
    SELECT holder, claimed_ms, argMax(expires_ms, version) AS expires_ms, argMax(info, version) AS info
    FROM leases
    WHERE name = {name:String}
    GROUP BY holder, claimed_ms
)
WHERE expires_ms > {now:UInt64}
ORDER BY claimed_ms, holder
