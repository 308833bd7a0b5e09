-- Every Kubernetes node's providerID (`aws:///us-east-1a/i-0abc…`): these instances are costed
-- through the Kubernetes recommendations, so VM recommendations skip their billing resources.
SELECT provider_id
FROM k8s_nodes
WHERE provider_id != ''
GROUP BY provider_id
ORDER BY provider_id
