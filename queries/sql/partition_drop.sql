ALTER TABLE {live:Identifier} DROP PARTITION ID {id:String}
