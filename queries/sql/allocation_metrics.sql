-- Metric values for proportional pools; 31 extra days back for the `previous` fallback.
SELECT day, metric, service, value
FROM service_metrics FINAL
WHERE day >= {from:Date} AND day < {to:Date}
