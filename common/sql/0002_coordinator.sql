-- Coordinator (DESIGN.md section 5): epochs and their zipcodes, miner status reports,
-- the replay cache of signed requests, and an audit of S3 upload grants.

CREATE TABLE coord_epochs (
    id               text PRIMARY KEY,            -- YYYY-MM-DDTHH-MM-SS (UTC epoch start)
    start_s          bigint NOT NULL,
    end_s            bigint NOT NULL,             -- also the submission deadline
    nonce            text NOT NULL CHECK (nonce ~ '^[0-9a-f]{16}$'),
    target_listings  integer NOT NULL,
    tolerance_pct    double precision NOT NULL,
    total_expected   integer NOT NULL,
    document         text NOT NULL,               -- the assignment JSON exactly as served
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coord_epochs_start ON coord_epochs (start_s);

CREATE TABLE coord_epoch_zipcodes (
    epoch_id   text NOT NULL REFERENCES coord_epochs (id) ON DELETE CASCADE,
    zipcode    text NOT NULL CHECK (zipcode ~ '^[0-9]{5}$'),
    expected   integer NOT NULL,
    PRIMARY KEY (epoch_id, zipcode)
);
CREATE INDEX coord_epoch_zipcodes_zipcode ON coord_epoch_zipcodes (zipcode);

CREATE TABLE coord_miner_status (
    epoch_id            text NOT NULL REFERENCES coord_epochs (id) ON DELETE CASCADE,
    hotkey              text NOT NULL,
    status              text NOT NULL CHECK (status IN ('IN_PROGRESS','COMPLETED','FAILED','TIMEOUT')),
    listings_scraped    integer NOT NULL DEFAULT 0,
    zipcodes_completed  integer NOT NULL DEFAULT 0,
    completed_zipcodes  text NOT NULL DEFAULT '[]',   -- JSON array of 5-digit strings
    message             text NOT NULL DEFAULT '',
    reports             integer NOT NULL DEFAULT 1,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (epoch_id, hotkey)
);

CREATE TABLE coord_replay (
    hotkey     text NOT NULL,
    ts         bigint NOT NULL,
    signature  text NOT NULL,
    PRIMARY KEY (hotkey, ts, signature)
);
CREATE INDEX coord_replay_ts ON coord_replay (ts);

CREATE TABLE coord_grants (
    id          bigserial PRIMARY KEY,
    epoch_id    text NOT NULL,
    hotkey      text NOT NULL,
    role        text NOT NULL CHECK (role IN ('miner','validator')),
    key_prefix  text NOT NULL,
    expires_s   bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
