-- Delivery records of one destination prefix ('slack:', 'email:' or an exact channel), latest
-- version each. {item} empty: every item; {due_before} filters failed records due for a retry.
SELECT channel, item, state, attempts, last_error, next_attempt_at, payload, updated_at, version
FROM deliveries FINAL
WHERE startsWith(channel, {channel:String})
  AND ({item:String} = '' OR item = {item:String})
  AND ({due_only:UInt8} = 0 OR (state = 'failed' AND next_attempt_at <= {due_before:DateTime}))
ORDER BY channel, item
