-- Alerts, latest version of each (FINAL), newest first. {states} empty: every state.
SELECT id, kind, dimension, key, currency, state, first_day, last_day, actual, expected, impact,
       causes, summary, acked_by, revision, updated_at, version
FROM alerts FINAL
WHERE (length({states:Array(String)}) = 0 OR has({states:Array(String)}, state))
  AND ({id:String} = '' OR id = {id:String})
ORDER BY last_day DESC, impact DESC, id
