-- Copy a live partition into a batch's backup table before the swap (hard links, no data copied).
ALTER TABLE {backup:Identifier} ATTACH PARTITION ID {id:String} FROM {live:Identifier}
