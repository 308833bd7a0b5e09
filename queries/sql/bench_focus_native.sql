-- bench/ingest: the same layout as focus_costs, for ClickHouse's own CSV load of the generated file
-- (`INSERT INTO bench_focus_native (<the file's header>) FORMAT CSVWithNames`), the figure costmill
-- ingest is compared with. costmill's x_ columns take their defaults there.
CREATE TABLE IF NOT EXISTS bench_focus_native AS focus_costs
