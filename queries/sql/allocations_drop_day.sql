-- A day of the window without cost: its old allocations go.
ALTER TABLE allocations DROP PARTITION ID {partition:String}
