-- The teams a service's allocations of one month (YYYYMM) belong to.
SELECT DISTINCT team
FROM allocations
WHERE service = {service:String} AND toYYYYMM(day) = {month:UInt32}
ORDER BY team
