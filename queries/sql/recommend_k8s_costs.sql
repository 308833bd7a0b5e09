-- What each Kubernetes workload cost over a window, from the allocations (its share of node
-- cost, `k8s://cluster/namespace/workload`; idle shares are not its own), per currency, with the
-- owner the allocation rules gave it and the days it had cost.
SELECT input_ref, currency, anyHeavy(team) AS team, anyHeavy(service) AS service,
    sum(effective) AS effective, uniqExact(day) AS days
FROM allocations
WHERE day >= toDate({from:DateTime}) AND day < toDate({to:DateTime})
  AND startsWith(input_ref, 'k8s://')
GROUP BY input_ref, currency
ORDER BY input_ref, currency
