-- 0007_consensus: what the consensus worker adds (workers/consensus/README.md).
--
-- validator_consensus_requests: the submissions consensus asked the downloader for (lazy
-- validation), so a restarted consensus knows what is in flight and re-asks only after
-- consensus.request.retry.ms. Tier results themselves live in 0001's validator_tier_results.
-- validator_consensus_epochs: an epoch once scored. The published document is kept byte for
-- byte with its S3 key, so a restart publishes exactly the same file, and every later step
-- (publish, verdict and weights, hook) is recorded as it completes.

CREATE TABLE validator_consensus_requests (
    submission_id       bigint PRIMARY KEY
                        REFERENCES validator_submissions (id) ON DELETE CASCADE,
    epoch_id            zm_epoch_id NOT NULL,
    first_at            timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz NOT NULL DEFAULT now(),
    attempts            integer NOT NULL DEFAULT 1 CHECK (attempts >= 1)
);
CREATE INDEX validator_consensus_requests_epoch ON validator_consensus_requests (epoch_id);

CREATE TABLE validator_consensus_epochs (
    epoch_id            zm_epoch_id PRIMARY KEY REFERENCES validator_epochs ON DELETE CASCADE,
    consensus_hash      text NOT NULL CHECK (consensus_hash ~ '^[0-9a-f]{64}$'),
    result_key          text NOT NULL,
    result_doc          text NOT NULL,
    pending             text[] NOT NULL DEFAULT '{}',
    scored_at           timestamptz NOT NULL DEFAULT now(),
    published_at        timestamptz,
    weights_at          timestamptz,
    hook_at             timestamptz,
    hook_status         text
);
