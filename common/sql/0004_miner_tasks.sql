-- 0004_miner_tasks: what the assigner and the scrapers need beyond 0001_base
-- (workers/assigner/README.md).

-- Lease ids: numeric (proto scrape_task.lease_id is an unsigned 63-bit integer), never reused,
-- so a batch or an outcome of a superseded lease can always be told apart. miner_tasks.lease_id
-- stays text (0001) and holds this number in decimal.
CREATE SEQUENCE miner_lease_seq AS bigint START 1;

-- When the lease was handed out and to whom (a scraper's routing id, "scraper.3"), for
-- operators; the truth about the lease is still status, lease_id and lease_deadline.
ALTER TABLE miner_tasks ADD COLUMN leased_at timestamptz;
ALTER TABLE miner_tasks ADD COLUMN leased_to text;
