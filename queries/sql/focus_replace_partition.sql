-- Atomic swap of one (source, billing month): readers see the old rows or the new, never both.
ALTER TABLE focus_costs REPLACE PARTITION ({source:String}, {period:UInt32}) FROM {staging:Identifier}
