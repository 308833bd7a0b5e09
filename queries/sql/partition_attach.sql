-- Add a staged partition's parts to the live table (Replacing tables: a re-landed row replaces).
ALTER TABLE {live:Identifier} ATTACH PARTITION ID {id:String} FROM {staging:Identifier}
