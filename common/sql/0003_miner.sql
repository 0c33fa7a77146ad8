-- 0003_miner: what the miner's storage and uploader workers need beyond 0001_base.
-- (workers/storage/README.md, workers/uploader/README.md)

-- Storage's bookkeeping: one row per listing batch committed, in the same transaction as the
-- batch's listings, so a batch delivered twice is recognised and a zipcode is complete only
-- when every batch 0..final of one lease is in.
CREATE TABLE miner_batches (
    epoch_id            zm_epoch_id NOT NULL,
    zipcode             zm_zipcode NOT NULL,
    lease_id            bigint NOT NULL CHECK (lease_id > 0),
    seq                 bigint NOT NULL CHECK (seq >= 0),
    final               boolean NOT NULL,
    received            integer NOT NULL CHECK (received >= 0),
    stored              integer NOT NULL CHECK (stored >= 0),
    rejected            integer NOT NULL CHECK (rejected >= 0),
    committed_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (epoch_id, zipcode, lease_id, seq),
    FOREIGN KEY (epoch_id, zipcode) REFERENCES miner_tasks ON DELETE CASCADE
);

-- The upload ledger keeps the submission time the object's key and body were built with, so
-- that an upload interrupted between intent and landing is redone with the SAME key and body.
ALTER TABLE miner_uploads ADD COLUMN submitted_at timestamptz;

-- Status reports to the coordinator: the last one that was accepted, per epoch.
ALTER TABLE miner_epochs ADD COLUMN status_reported text
    CHECK (status_reported IN ('IN_PROGRESS', 'COMPLETED', 'FAILED', 'TIMEOUT'));
ALTER TABLE miner_epochs ADD COLUMN status_reported_at timestamptz;
ALTER TABLE miner_epochs ADD COLUMN status_reported_uploads integer;

CREATE INDEX miner_tasks_status ON miner_tasks (status, epoch_id);
