-- A private staging table per ingest batch, same layout and partitioning as focus_costs.
CREATE TABLE {staging:Identifier} AS focus_costs
