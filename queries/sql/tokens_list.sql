-- API tokens, latest version of each (FINAL); {id} empty: every token.
SELECT id, name, secret_sha256, scope, teams, created_at, revoked_at, revoked, version
FROM api_tokens FINAL
WHERE {id:String} = '' OR id = {id:String}
ORDER BY created_at, id
