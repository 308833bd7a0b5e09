-- How many unexpired claims a holder has (a batch holds its writer lease until it ends).
SELECT count() AS n
FROM
(
    SELECT name, claimed_ms, argMax(expires_ms, version) AS expires_ms
    FROM leases
    WHERE holder = {holder:String}
    GROUP BY name, claimed_ms
)
WHERE expires_ms > {now:UInt64}
