-- 0001_base: the tables DESIGN.md section 4 implies, per role. Applied once by db_migrate
-- inside one transaction; never edit after release: add 0002_*.sql instead (docs/database.md).
--
-- One database per node. A node may run several roles, so every table is prefixed by the role
-- that owns it: miner_, validator_, coord_ (the coordinator's tables are in 0002_coordinator). Epoch ids are the API's "YYYY-MM-DDTHH-MM-SS"
-- (UTC), zipcodes 5 digits, hotkeys SS58 text. All times are timestamptz.

CREATE DOMAIN zm_epoch_id AS text
    CHECK (VALUE ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}$');
CREATE DOMAIN zm_zipcode AS text
    CHECK (VALUE ~ '^[0-9]{5}$');

-- ---------------------------------------------------------------------------------------------
-- miner

-- An epoch as the coordination API assigned it to this miner (the whole answer is kept).
CREATE TABLE miner_epochs (
    epoch_id            zm_epoch_id PRIMARY KEY,
    nonce               text NOT NULL,
    epoch_start         timestamptz NOT NULL,
    epoch_end           timestamptz NOT NULL,
    submission_deadline timestamptz NOT NULL,
    target_listings     integer NOT NULL CHECK (target_listings >= 0),
    tolerance_percent   double precision NOT NULL,
    assignment          jsonb NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now()
);

-- One scrape task per assigned zipcode. The assigner leases it to a scraper (lease_id,
-- lease_deadline) and re-leases it when the lease expires.
--   pending -> leased -> scraped (all batches sent) -> stored (storage has them all)
--   -> uploaded; or failed (reason) after too many attempts.
CREATE TABLE miner_tasks (
    epoch_id            zm_epoch_id NOT NULL REFERENCES miner_epochs ON DELETE CASCADE,
    zipcode             zm_zipcode NOT NULL,
    expected_listings   integer NOT NULL CHECK (expected_listings >= 0),
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'leased', 'scraped', 'stored',
                                          'uploaded', 'failed')),
    lease_id            text,
    lease_deadline      timestamptz,
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    reason              text,
    listing_count       integer,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (epoch_id, zipcode),
    CHECK (status <> 'leased' OR (lease_id IS NOT NULL AND lease_deadline IS NOT NULL))
);
CREATE INDEX miner_tasks_leasable ON miner_tasks (epoch_id, status, lease_deadline);

-- Listings as scraped and validated, keyed by natural id so that writes are upserts and a
-- batch delivered twice stores each listing once. doc is the listing object (unknown fields
-- kept).
CREATE TABLE miner_listings (
    epoch_id            zm_epoch_id NOT NULL,
    zipcode             zm_zipcode NOT NULL,
    listing_id          text NOT NULL CHECK (listing_id <> ''),
    doc                 jsonb NOT NULL,
    stored_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (epoch_id, zipcode, listing_id),
    FOREIGN KEY (epoch_id, zipcode) REFERENCES miner_tasks ON DELETE CASCADE
);

-- The upload ledger: one object per zipcode, never re-uploaded once state = 'uploaded'.
CREATE TABLE miner_uploads (
    epoch_id            zm_epoch_id NOT NULL,
    zipcode             zm_zipcode NOT NULL,
    s3_key              text NOT NULL,
    sha256              text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    listing_count       integer NOT NULL CHECK (listing_count >= 0),
    bytes               bigint NOT NULL CHECK (bytes >= 0),
    state               text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'uploading', 'uploaded', 'failed')),
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    etag                text,
    reason              text,
    uploaded_at         timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (epoch_id, zipcode),
    FOREIGN KEY (epoch_id, zipcode) REFERENCES miner_tasks ON DELETE CASCADE,
    CHECK (state <> 'uploaded' OR uploaded_at IS NOT NULL)
);

-- ---------------------------------------------------------------------------------------------
-- validator: everything needed to reproduce an epoch's weights after a restart

CREATE TABLE validator_epochs (
    epoch_id            zm_epoch_id PRIMARY KEY,
    nonce               text NOT NULL,
    epoch_start         timestamptz NOT NULL,
    epoch_end           timestamptz NOT NULL,
    submission_deadline timestamptz NOT NULL,
    assignment          jsonb NOT NULL,
    status              text NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'collecting', 'validating', 'scored',
                                          'published')),
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE validator_epoch_zipcodes (
    epoch_id            zm_epoch_id NOT NULL REFERENCES validator_epochs ON DELETE CASCADE,
    zipcode             zm_zipcode NOT NULL,
    expected_listings   integer NOT NULL CHECK (expected_listings >= 0),
    PRIMARY KEY (epoch_id, zipcode)
);

-- One object a miner uploaded, as the S3 listing showed it. last_modified_raw is the
-- LastModified text exactly as listed (it seeds tier 3); last_modified orders submissions.
CREATE TABLE validator_submissions (
    epoch_id            zm_epoch_id NOT NULL REFERENCES validator_epochs ON DELETE CASCADE,
    s3_key              text NOT NULL,
    miner_hotkey        text NOT NULL,
    zipcode             zm_zipcode NOT NULL,
    last_modified       timestamptz NOT NULL,
    last_modified_raw   text NOT NULL,
    size_bytes          bigint NOT NULL CHECK (size_bytes >= 0),
    etag                text,
    state               text NOT NULL DEFAULT 'listed'
                        CHECK (state IN ('listed', 'downloaded', 'rejected', 'validated',
                                         'skipped')),
    listing_count       integer,
    sha256              text,
    reason              text,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (epoch_id, s3_key)
);
-- validation order: per zipcode by LastModified, ties by hotkey
CREATE INDEX validator_submissions_order
    ON validator_submissions (epoch_id, zipcode, last_modified, miner_hotkey);

-- Outcome of one tier on one submission. passed NULL = unverifiable (tier 3 source down):
-- never counted against the miner, re-checked later.
CREATE TABLE validator_tier_results (
    epoch_id            zm_epoch_id NOT NULL,
    s3_key              text NOT NULL,
    tier                smallint NOT NULL CHECK (tier BETWEEN 1 AND 3),
    passed              boolean,
    metrics             jsonb NOT NULL DEFAULT '{}',
    reason              text,
    checked_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (epoch_id, s3_key, tier),
    FOREIGN KEY (epoch_id, s3_key) REFERENCES validator_submissions ON DELETE CASCADE
);

-- Tier-3 evidence: what the property source answered for one property in one epoch, so that
-- a re-run of the epoch judges on the same evidence.
CREATE TABLE validator_spot_checks (
    epoch_id            zm_epoch_id NOT NULL REFERENCES validator_epochs ON DELETE CASCADE,
    property_id         text NOT NULL,
    outcome             text NOT NULL CHECK (outcome IN ('found', 'not_found', 'unverifiable')),
    http_status         integer,
    doc                 jsonb,
    fetched_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (epoch_id, property_id)
);

CREATE TABLE validator_scores (
    epoch_id            zm_epoch_id NOT NULL REFERENCES validator_epochs ON DELETE CASCADE,
    miner_hotkey        text NOT NULL,
    score               double precision NOT NULL CHECK (score >= 0),
    details             jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (epoch_id, miner_hotkey)
);

CREATE TABLE validator_zipcode_weights (
    epoch_id            zm_epoch_id NOT NULL REFERENCES validator_epochs ON DELETE CASCADE,
    zipcode             zm_zipcode NOT NULL,
    weight              double precision NOT NULL CHECK (weight >= 0),
    winners             text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (epoch_id, zipcode)
);

-- Consensus hashes: our own (validator_hotkey = ours) and every peer's we found in S3.
CREATE TABLE validator_consensus_hashes (
    epoch_id            zm_epoch_id NOT NULL REFERENCES validator_epochs ON DELETE CASCADE,
    validator_hotkey    text NOT NULL,
    consensus_hash      text NOT NULL CHECK (consensus_hash ~ '^[0-9a-f]{64}$'),
    is_self             boolean NOT NULL DEFAULT false,
    s3_key              text,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (epoch_id, validator_hotkey)
);

CREATE TABLE validator_consensus_verdicts (
    epoch_id            zm_epoch_id PRIMARY KEY REFERENCES validator_epochs ON DELETE CASCADE,
    verdict             text NOT NULL CHECK (verdict IN ('PERFECT', 'MAJORITY', 'FAILED')),
    agreeing            integer NOT NULL CHECK (agreeing >= 0),
    total               integer NOT NULL CHECK (total >= 0),
    outliers            text[] NOT NULL DEFAULT '{}',
    decided_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE validator_weights (
    epoch_id            zm_epoch_id NOT NULL REFERENCES validator_epochs ON DELETE CASCADE,
    miner_hotkey        text NOT NULL,
    weight              double precision NOT NULL CHECK (weight >= 0),
    emitted_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (epoch_id, miner_hotkey)
);
