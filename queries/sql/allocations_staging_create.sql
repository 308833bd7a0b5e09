CREATE TABLE {staging:Identifier} AS allocations
