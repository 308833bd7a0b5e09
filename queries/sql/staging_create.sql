-- A batch's private staging table: same layout, engine and partitioning as the live table.
CREATE TABLE {staging:Identifier} AS {live:Identifier}
