-- Atomic swap of one partition: readers see the old rows or the new, never both.
ALTER TABLE {live:Identifier} REPLACE PARTITION ID {id:String} FROM {staging:Identifier}
