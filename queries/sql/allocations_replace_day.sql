-- Atomic swap of one day's allocations (partition id of a Date key is YYYYMMDD).
ALTER TABLE allocations REPLACE PARTITION ID {partition:String} FROM {staging:Identifier}
