DROP TABLE IF EXISTS {staging:Identifier}
