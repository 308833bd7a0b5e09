-- When recommendations were last computed (0: never), so that a new computation is later.
SELECT toUInt32(max(computed_at)) AS latest FROM recommendations
