/*  config: the table. Each row: name, env, type, default, min, max, choices, field, flags, help.
    Keep rows grouped as in zm_config_t.                                                       */
#include "common/config.h"
#include "common/log.h"
#include "common/rc.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(field) offsetof (zm_config_t, field)

const cfg_opt_t zm_config_table [] = {
    { "role", "ZM_ROLE", CFG_STR, "miner", 1, 64, NULL, F (role), 0,
      "node role: miner, validator, coordinator, or a comma list" },
    { "node.name", "ZM_NODE_NAME", CFG_STR, "node", 1, 48, NULL, F (node_name), 0,
      "name of this node in logs and metrics" },
    { "run.dir", "ZM_RUN_DIR", CFG_STR, "/tmp/zipmine", 1, 200, NULL, F (run_dir), 0,
      "directory for ipc:// endpoints and the control socket" },
    { "log.format", "ZM_LOG_FORMAT", CFG_STR, "json", 0, 0, "json|text", F (log_format), 0,
      "log line format" },
    { "log.level", "ZM_LOG_LEVEL", CFG_STR, "info", 0, 0, "debug|info|warn|error",
      F (log_level), 0, "lowest level logged" },
    { "http.bind", "ZM_HTTP_BIND", CFG_STR, "127.0.0.1", 1, 64, NULL, F (http_bind), 0,
      "address of the node's /livez /readyz /metrics port" },
    { "http.port", "ZM_HTTP_PORT", CFG_INT, "9464", 0, 65535, NULL, F (http_port), 0,
      "port of /livez /readyz /metrics (0: any free port)" },
    { "workers", "ZM_WORKERS", CFG_STR, "", 0, 2000, NULL, F (workers), 0,
      "explicit worker list name[:count][:optional],... (overrides the role's workers)" },
    { "bin.dir", "ZM_BIN_DIR", CFG_STR, "", 0, 400, NULL, F (bin_dir), 0,
      "directory of worker executables (default: beside zipmined)" },

    { "heartbeat.ms", "ZM_HEARTBEAT_MS", CFG_INT, "1000", 50, 60000, NULL, F (heartbeat_ms), 0,
      "worker heartbeat interval" },
    { "heartbeat.misses", "ZM_HEARTBEAT_MISSES", CFG_INT, "3", 2, 100, NULL,
      F (heartbeat_misses), 0, "heartbeats missed before a worker is killed and restarted" },
    { "ready.timeout.ms", "ZM_READY_TIMEOUT_MS", CFG_INT, "15000", 100, 600000, NULL,
      F (ready_timeout_ms), 0, "a worker not ready by then is killed" },
    { "shutdown.budget.ms", "ZM_SHUTDOWN_BUDGET_MS", CFG_INT, "5000", 100, 20000, NULL,
      F (shutdown_budget_ms), 0, "per-worker drain time after SIGTERM, then SIGKILL" },
    { "restart.base.ms", "ZM_RESTART_BASE_MS", CFG_INT, "1000", 10, 600000, NULL,
      F (restart_base_ms), 0, "first restart delay" },
    { "restart.cap.ms", "ZM_RESTART_CAP_MS", CFG_INT, "30000", 10, 3600000, NULL,
      F (restart_cap_ms), 0, "largest restart delay" },
    { "restart.reset.ms", "ZM_RESTART_RESET_MS", CFG_INT, "10000", 100, 3600000, NULL,
      F (restart_reset_ms), 0, "time READY after which a worker's backoff resets" },
    { "restart.intensity", "ZM_RESTART_INTENSITY", CFG_INT, "10", 1, 10000, NULL,
      F (restart_intensity), 0, "more restarts than this in restart.period.ms stops the node" },
    { "restart.period.ms", "ZM_RESTART_PERIOD_MS", CFG_INT, "60000", 1000, 3600000, NULL,
      F (restart_period_ms), 0, "window of restart.intensity" },

    { "netuid", "ZM_NETUID", CFG_INT, "46", 0, 65535, NULL, F (netuid), 0, "subnet uid" },
    { "subtensor.network", "ZM_SUBTENSOR_NETWORK", CFG_STR, "finney", 1, 200, NULL,
      F (subtensor_network), 0, "subtensor network name or endpoint" },
    { "wallet.path", "ZM_WALLET_PATH", CFG_STR, "~/.bittensor/wallets", 1, 400, NULL,
      F (wallet_path), 0, "directory holding Bittensor wallets" },
    { "wallet.name", "ZM_WALLET_NAME", CFG_STR, "default", 1, 128, NULL, F (wallet_name), 0,
      "wallet (coldkey) name" },
    { "wallet.hotkey", "ZM_WALLET_HOTKEY", CFG_STR, "default", 1, 128, NULL,
      F (wallet_hotkey), 0, "hotkey name inside the wallet" },
    { "wallet.coldkey", "ZM_WALLET_COLDKEY", CFG_STR, "", 0, 64, NULL, F (wallet_coldkey), 0,
      "coldkey SS58 address (default: the wallet's coldkeypub.txt)" },
    { "ss58.prefix", "ZM_SS58_PREFIX", CFG_INT, "42", 0, 16383, NULL, F (ss58_prefix), 0,
      "SS58 address prefix" },

    { "db.dsn", "ZM_DB_DSN", CFG_STR, "", 0, 2000, NULL, F (db_dsn), CFG_SECRET,
      "PostgreSQL conninfo or URI (one database per node)" },
    { "db.connect_timeout.s", "ZM_DB_CONNECT_TIMEOUT_S", CFG_INT, "5", 1, 300, NULL,
      F (db_connect_timeout_s), 0, "libpq connect_timeout" },
    { "db.statement_timeout.ms", "ZM_DB_STATEMENT_TIMEOUT_MS", CFG_INT, "30000", 100, 3600000,
      NULL, F (db_statement_timeout_ms), 0, "PostgreSQL statement_timeout" },

    { "s3.mode", "ZM_S3_MODE", CFG_STR, "grant", 0, 0, "grant|direct", F (s3_mode), 0,
      "grant: presigned POST from the coordinator; direct: own credentials" },
    { "s3.endpoint", "ZM_S3_ENDPOINT", CFG_STR, "", 0, 400, NULL, F (s3_endpoint), 0,
      "S3 endpoint URL, e.g. https://s3.us-east-1.amazonaws.com" },
    { "s3.region", "ZM_S3_REGION", CFG_STR, "us-east-1", 1, 64, NULL, F (s3_region), 0,
      "S3 region" },
    { "s3.bucket", "ZM_S3_BUCKET", CFG_STR, "", 0, 63, NULL, F (s3_bucket), 0, "S3 bucket" },
    { "s3.access_key", "ZM_S3_ACCESS_KEY", CFG_STR, "", 0, 256, NULL, F (s3_access_key), 0,
      "S3 access key id (direct mode, validators, coordinator)" },
    { "s3.secret_key", "ZM_S3_SECRET_KEY", CFG_STR, "", 0, 256, NULL, F (s3_secret_key),
      CFG_SECRET, "S3 secret key" },
    { "s3.session_token", "ZM_S3_SESSION_TOKEN", CFG_STR, "", 0, 4096, NULL,
      F (s3_session_token), CFG_SECRET, "optional S3 session token" },
    { "s3.path_style", "ZM_S3_PATH_STYLE", CFG_BOOL, "true", 0, 0, NULL, F (s3_path_style), 0,
      "path-style addressing (false: virtual-hosted)" },
    { "s3.timeout.ms", "ZM_S3_TIMEOUT_MS", CFG_INT, "60000", 100, 3600000, NULL,
      F (s3_timeout_ms), 0, "total time for one S3 request" },

    { "coordinator.url", "ZM_COORDINATOR_URL", CFG_STR, "http://127.0.0.1:8080", 0, 400, NULL,
      F (coordinator_url), 0, "coordination API base URL" },
    { "http.timeout.ms", "ZM_HTTP_TIMEOUT_MS", CFG_INT, "10000", 100, 600000, NULL,
      F (http_timeout_ms), 0, "total time for one outgoing HTTP request" },

    { "coordinator.bind", "ZM_COORDINATOR_BIND", CFG_STR, "127.0.0.1", 1, 64, NULL,
      F (coord_bind), 0, "coordinator API listen address" },
    { "coordinator.port", "ZM_COORDINATOR_PORT", CFG_INT, "8080", 0, 65535, NULL,
      F (coord_port), 0, "coordinator API port (0: any free port)" },
    { "coordinator.metagraph", "ZM_COORDINATOR_METAGRAPH", CFG_STR, "", 0, 400, NULL,
      F (coord_metagraph), 0, "metagraph JSON file of known hotkeys and roles" },
    { "coordinator.epoch.s", "ZM_COORDINATOR_EPOCH_S", CFG_INT, "14400", 10, 604800, NULL,
      F (coord_epoch_s), 0, "epoch length in seconds (UTC grid)" },
    { "coordinator.zipcodes", "ZM_COORDINATOR_ZIPCODES", CFG_INT, "25", 1, 500, NULL,
      F (coord_zipcodes), 0, "zipcodes assigned per epoch" },
    { "coordinator.target_listings", "ZM_COORDINATOR_TARGET_LISTINGS", CFG_INT, "8500", 1,
      10000000, NULL, F (coord_target), 0, "target total of expected listings per epoch" },
    { "coordinator.tolerance_pct", "ZM_COORDINATOR_TOLERANCE_PCT", CFG_DOUBLE, "10", 0, 100,
      NULL, F (coord_tolerance_pct), 0, "accepted distance from the target, percent" },
    { "coordinator.cooldown.s", "ZM_COORDINATOR_COOLDOWN_S", CFG_INT, "86400", 0, 31536000,
      NULL, F (coord_cooldown_s), 0, "a zipcode is not assigned again within this time" },
    { "coordinator.ts_past.s", "ZM_COORDINATOR_TS_PAST_S", CFG_INT, "300", 1, 86400, NULL,
      F (coord_ts_past_s), 0, "oldest accepted request timestamp, seconds before now" },
    { "coordinator.ts_future.s", "ZM_COORDINATOR_TS_FUTURE_S", CFG_INT, "60", 0, 3600, NULL,
      F (coord_ts_future_s), 0, "newest accepted request timestamp, seconds after now" },
    { "coordinator.rate.assignments", "ZM_COORDINATOR_RATE_ASSIGNMENTS", CFG_INT, "10", 1,
      100000, NULL, F (coord_rate_assign), 0, "assignment requests per hotkey per minute" },
    { "coordinator.rate.status", "ZM_COORDINATOR_RATE_STATUS", CFG_INT, "5", 1, 100000, NULL,
      F (coord_rate_status), 0, "status updates per hotkey per minute" },
    { "coordinator.rate.grants", "ZM_COORDINATOR_RATE_GRANTS", CFG_INT, "10", 1, 100000, NULL,
      F (coord_rate_grant), 0, "upload grants per hotkey per minute" },
    { "coordinator.grant.max_bytes", "ZM_COORDINATOR_GRANT_MAX_BYTES", CFG_INT, "67108864", 1,
      5368709120, NULL, F (coord_grant_max_bytes), 0, "largest object an upload grant allows" },
    { "coordinator.body.max", "ZM_COORDINATOR_BODY_MAX", CFG_INT, "65536", 256, 16777216,
      NULL, F (coord_body_max), 0, "request body limit in bytes (413 above)" },

    { "world.seed", "ZM_WORLD_SEED", CFG_INT, "46", 0, 9007199254740991.0, NULL,
      F (world_seed), 0, "seed of the world's synthetic property universe" },
    { "world.bind", "ZM_WORLD_BIND", CFG_STR, "127.0.0.1", 1, 63, NULL, F (world_bind), 0,
      "world HTTP listen address (numeric IPv4 or IPv6)" },
    { "world.port", "ZM_WORLD_PORT", CFG_INT, "8090", 0, 65535, NULL, F (world_port), 0,
      "world HTTP port (0: any free port)" },
    { "world.public_url", "ZM_WORLD_PUBLIC_URL", CFG_STR, "", 0, 300, NULL,
      F (world_public_url), 0, "base of the world's source_url links (default: from bind and port)" },
    { "world.latency.ms", "ZM_WORLD_LATENCY_MS", CFG_INT, "0", 0, 5000, NULL,
      F (world_latency_ms), 0, "simulated latency of each world listings/property request" },
    { "world.rate.per_s", "ZM_WORLD_RATE_PER_S", CFG_DOUBLE, "0", 0, 1000000, NULL,
      F (world_rate_per_s), 0, "world requests per second per client address (0: unlimited)" },
    { "world.page_size.max", "ZM_WORLD_PAGE_SIZE_MAX", CFG_INT, "500", 1, 10000, NULL,
      F (world_page_size_max), 0, "largest page_size the world accepts" },

    { "storage.endpoint", "ZM_STORAGE_ENDPOINT", CFG_STR, "storage", 1, 400, NULL,
      F (storage_endpoint), 0, "storage's listing_batch PULL (it binds): stage or tcp://" },
    { "uploader.endpoint", "ZM_UPLOADER_ENDPOINT", CFG_STR, "uploader", 1, 400, NULL,
      F (uploader_endpoint), 0,
      "the uploader's zipcode_stored PULL (it binds, storage connects): stage or tcp://" },
    { "uploader.sweep.ms", "ZM_UPLOADER_SWEEP_MS", CFG_INT, "5000", 100, 3600000, NULL,
      F (uploader_sweep_ms), 0, "uploader ledger sweep interval (recovers lost messages)" },
    { "uploader.status.interval.ms", "ZM_UPLOADER_STATUS_INTERVAL_MS", CFG_INT, "15000", 0,
      3600000, NULL, F (uploader_status_interval_ms), 0,
      "least time between IN_PROGRESS status reports to the coordinator" },

    { "scraper.pool", "ZM_SCRAPER_POOL", CFG_INT, "4", 1, 256, NULL, F (scraper_pool), 0,
      "scraper workers" },
    { "assigner.endpoint", "ZM_ASSIGNER_ENDPOINT", CFG_STR, "assigner", 1, 400, NULL,
      F (assigner_endpoint), 0, "assigner task socket: stage name (ipc) or tcp:// endpoint" },
    { "assigner.poll.ms", "ZM_ASSIGNER_POLL_MS", CFG_INT, "60000", 100, 3600000, NULL,
      F (assigner_poll_ms), 0, "coordinator assignment poll interval" },
    { "assigner.lease.ms", "ZM_ASSIGNER_LEASE_MS", CFG_INT, "900000", 500, 86400000, NULL,
      F (assigner_lease_ms), 0, "lease length of one scrape task" },
    { "assigner.attempts", "ZM_ASSIGNER_ATTEMPTS", CFG_INT, "3", 1, 1000, NULL,
      F (assigner_attempts), 0, "leases of one task before it is failed" },
    { "assigner.scraped_grace.ms", "ZM_ASSIGNER_SCRAPED_GRACE_MS", CFG_INT, "120000", 0,
      86400000, NULL, F (assigner_scraped_grace_ms), 0,
      "a scraped task that storage has not confirmed this long after its lease is re-leased" },
    { "scraper.kind", "ZM_SCRAPER_KIND", CFG_STR, "world", 1, 16, "world|command",
      F (scraper_kind), 0, "built-in world scraper, or an external command" },
    { "scraper.command", "ZM_SCRAPER_COMMAND", CFG_STR, "", 0, 4000, NULL,
      F (scraper_command), 0, "external scraper: program and arguments, no shell (quotes group)" },
    { "scraper.timeout.s", "ZM_SCRAPER_TIMEOUT_S", CFG_INT, "600", 1, 86400, NULL,
      F (scraper_timeout_s), 0, "time one scrape may take (killed after)" },
    { "scraper.batch", "ZM_SCRAPER_BATCH", CFG_INT, "100", 1, 1000, NULL, F (scraper_batch),
      0, "listings per listing_batch message" },
    { "scraper.line.max", "ZM_SCRAPER_LINE_MAX", CFG_INT, "16384", 64, 16384, NULL,
      F (scraper_line_max), 0, "longest accepted scraper output line in bytes" },
    { "scraper.output.max", "ZM_SCRAPER_OUTPUT_MAX", CFG_INT, "67108864", 1024, 1073741824,
      NULL, F (scraper_output_max), 0, "most output bytes read from one scraper run" },
    { "scraper.garbage.pct", "ZM_SCRAPER_GARBAGE_PCT", CFG_INT, "50", 0, 100, NULL,
      F (scraper_garbage_pct), 0, "more rejected lines than this percentage fails the task" },
    { "scraper.storage.endpoint", "ZM_SCRAPER_STORAGE_ENDPOINT", CFG_STR, "storage", 1, 400,
      NULL, F (scraper_storage_endpoint), 0,
      "storage's listing_batch socket: stage name (ipc) or tcp:// endpoint" },
    { "scraper.world.url", "ZM_SCRAPER_WORLD_URL", CFG_STR, "http://127.0.0.1:8090", 1, 400,
      NULL, F (world_url), 0, "world service base URL for the built-in scraper" },
    { "scraper.world.page_size", "ZM_SCRAPER_WORLD_PAGE_SIZE", CFG_INT, "100", 1, 10000, NULL,
      F (scraper_page_size), 0, "page size the built-in scraper asks the world for" },
    { "downloader.mode", "ZM_DOWNLOADER_MODE", CFG_STR, "demand", 0, 0, "all|demand",
      F (downloader_mode), 0,
      "demand: only what consensus requests (lazy); all: every listed submission" },
    { "downloader.endpoint", "ZM_DOWNLOADER_ENDPOINT", CFG_STR, "downloader", 1, 400, NULL,
      F (downloader_endpoint), 0, "downloader request socket (PULL): stage name or endpoint" },
    { "downloader.tier1.endpoint", "ZM_DOWNLOADER_TIER1_ENDPOINT", CFG_STR, "tier1", 1, 400,
      NULL, F (downloader_tier1_endpoint), 0,
      "where submission_ready is pushed: stage name or endpoint" },
    { "downloader.consensus.endpoint", "ZM_DOWNLOADER_CONSENSUS_ENDPOINT", CFG_STR,
      "consensus", 0, 400, NULL, F (downloader_consensus_endpoint), 0,
      "where rejected submissions are reported as tier_result (empty: nowhere)" },
    { "downloader.epoch", "ZM_DOWNLOADER_EPOCH", CFG_STR, "", 0, 19, NULL,
      F (downloader_epoch), 0, "collect this epoch id (empty: the last ended epoch)" },
    { "downloader.grace.ms", "ZM_DOWNLOADER_GRACE_MS", CFG_INT, "60000", 0, 86400000, NULL,
      F (downloader_grace_ms), 0, "wait after the submission deadline before listing" },
    { "downloader.object.max", "ZM_DOWNLOADER_OBJECT_MAX", CFG_INT, "67108864", 1024,
      1073741824, NULL, F (downloader_object_max), 0,
      "largest submission object downloaded, in bytes (larger ones are rejected unread)" },
    { "downloader.listings.max", "ZM_DOWNLOADER_LISTINGS_MAX", CFG_INT, "50000", 1, 1000000,
      NULL, F (downloader_listings_max), 0, "most listings one submission may hold" },
    { "downloader.depth.max", "ZM_DOWNLOADER_DEPTH_MAX", CFG_INT, "10", 3, 64, NULL,
      F (downloader_depth_max), 0, "JSON nesting limit of a submission object" },
    { "downloader.list.page", "ZM_DOWNLOADER_LIST_PAGE", CFG_INT, "1000", 1, 1000, NULL,
      F (downloader_list_page), 0, "keys per ListObjectsV2 page" },
    { "downloader.objects.max", "ZM_DOWNLOADER_OBJECTS_MAX", CFG_INT, "1000000", 1,
      100000000, NULL, F (downloader_objects_max), 0,
      "most objects (and miner prefixes) listed for one epoch" },
    { "downloader.fetch.parallel", "ZM_DOWNLOADER_FETCH_PARALLEL", CFG_INT, "2", 1, 16, NULL,
      F (downloader_fetch_parallel), 0,
      "fetch threads (GET, check, store off the worker loop); memory is up to this many "
      "times downloader.object.max" },
    { "tier1.endpoint", "ZM_TIER1_ENDPOINT", CFG_STR, "tier1", 1, 400, NULL,
      F (tier1_endpoint), 0, "tier 1 intake (PULL, bound by tier1): stage name or endpoint" },
    { "tier2.endpoint", "ZM_TIER2_ENDPOINT", CFG_STR, "tier2", 1, 400, NULL,
      F (tier2_endpoint), 0, "tier 2 intake (PULL, bound by tier2): stage name or endpoint" },
    { "tier3.endpoint", "ZM_TIER3_ENDPOINT", CFG_STR, "tier3", 1, 400, NULL,
      F (tier3_endpoint), 0,
      "tier 3 intake (PUSH bound by tier2, the tier3 pool connects): stage name or endpoint" },
    { "tiers.consensus.endpoint", "ZM_TIERS_CONSENSUS_ENDPOINT", CFG_STR, "consensus", 1, 400,
      NULL, F (tiers_consensus_endpoint), 0, "where the tiers push tier_result" },
    { "tier3.verifier", "ZM_TIER3_VERIFIER", CFG_STR, "http", 0, 0, "http|command",
      F (tier3_verifier), 0, "property source: HTTP (tier3.source.url) or an external command" },
    { "tier3.source.url", "ZM_TIER3_SOURCE_URL", CFG_STR, "http://127.0.0.1:8090", 1, 400,
      NULL, F (tier3_source_url), 0, "property source base URL (GET /property/{zpid})" },
    { "tier3.command", "ZM_TIER3_COMMAND", CFG_STR, "", 0, 4000, NULL, F (tier3_command), 0,
      "external verifier: program and arguments, no shell (JSON {zpid, zipcode} on stdin)" },
    { "tier3.timeout.ms", "ZM_TIER3_TIMEOUT_MS", CFG_INT, "500", 50, 60000, NULL,
      F (tier3_timeout_ms), 0, "one property lookup attempt (HTTP request or command run)" },
    { "tier3.attempts", "ZM_TIER3_ATTEMPTS", CFG_INT, "2", 1, 10, NULL, F (tier3_attempts),
      0, "attempts per property lookup before it is unverifiable" },
    { "tier3.rate.per_minute", "ZM_TIER3_RATE_PER_MINUTE", CFG_DOUBLE, "600", 1, 1000000,
      NULL, F (tier3_rate_per_minute), 0, "property source lookups per minute per worker" },
    { "consensus.endpoint", "ZM_CONSENSUS_ENDPOINT", CFG_STR, "consensus", 1, 400, NULL,
      F (consensus_endpoint), 0, "consensus's tier_result socket (PULL): stage name or endpoint" },
    { "consensus.inflight.max", "ZM_CONSENSUS_INFLIGHT_MAX", CFG_INT, "32", 1, 100000, NULL,
      F (consensus_inflight_max), 0, "submissions requested from the downloader and undecided" },
    { "consensus.request.retry.ms", "ZM_CONSENSUS_REQUEST_RETRY_MS", CFG_INT, "60000", 100,
      86400000, NULL, F (consensus_request_retry_ms), 0,
      "an undecided requested submission is requested again after this" },
    { "consensus.verdict.delay.ms", "ZM_CONSENSUS_VERDICT_DELAY_MS", CFG_INT, "60000", 0,
      86400000, NULL, F (consensus_verdict_delay_ms), 0,
      "wait after publishing our result before reading the other validators'" },
    { "consensus.result.max", "ZM_CONSENSUS_RESULT_MAX", CFG_INT, "4194304", 1024, 268435456,
      NULL, F (consensus_result_max), 0, "largest validator result file read, in bytes" },
    { "consensus.validators.max", "ZM_CONSENSUS_VALIDATORS_MAX", CFG_INT, "256", 1, 100000,
      NULL, F (consensus_validators_max), 0, "most validators whose results are read" },
    { "consensus.weights_file", "ZM_CONSENSUS_WEIGHTS_FILE", CFG_STR, "", 0, 4096, NULL,
      F (consensus_weights_file), 0, "weights JSON written here per epoch (empty: none)" },
    { "consensus.hook", "ZM_CONSENSUS_HOOK", CFG_STR, "", 0, 4096, NULL, F (consensus_hook), 0,
      "operator command (program and arguments, no shell) given the weights JSON on stdin" },
    { "consensus.hook.timeout.ms", "ZM_CONSENSUS_HOOK_TIMEOUT_MS", CFG_INT, "30000", 100,
      3600000, NULL, F (consensus_hook_timeout_ms), 0, "the hook is killed after this" },
    { "tier3.pool", "ZM_TIER3_POOL", CFG_INT, "2", 1, 256, NULL, F (tier3_pool), 0,
      "tier-3 spot-check workers" },
};

const size_t zm_config_table_size = sizeof zm_config_table / sizeof zm_config_table [0];

int
zm_config_load (zm_config_t *self, int argc, char **argv, char *err, size_t errsize)
{
    int rc = cfg_load (zm_config_table, zm_config_table_size, self, argc, argv, err, errsize);
    if (rc != 0)
        return rc;
    log_format_t format;
    log_level_t level;
    if (log_format_parse (self->log_format, &format) == 0)
        log_set_format (format);
    if (log_level_parse (self->log_level, &level) == 0)
        log_set_level (level);
    if (self->restart_cap_ms < self->restart_base_ms) {
        snprintf (err, errsize, "config restart.cap.ms: %lld is below restart.base.ms (%lld)",
                  (long long) self->restart_cap_ms, (long long) self->restart_base_ms);
        return -1;
    }
    return 0;
}

void
zm_config_load_or_exit (zm_config_t *self, int argc, char **argv, const char *usage_line)
{
    char err [CFG_ERR_MAX];
    int rc = zm_config_load (self, argc, argv, err, sizeof err);
    if (rc == CFG_HELP) {
        printf ("%s\n\nOptions (flag, type, help; then env var and default):\n",
                usage_line ? usage_line : "");
        cfg_print_help (zm_config_table, zm_config_table_size, stdout);
        zm_config_free (self);
        exit (EXIT_CLEAN);
    }
    if (rc != 0) {
        fprintf (stderr, "config error: %s\n", err);
        log_error ("config_invalid", LS ("reason", err));
        zm_config_free (self);
        exit (EXIT_CONFIG);
    }
}

void
zm_config_free (zm_config_t *self)
{
    cfg_free (zm_config_table, zm_config_table_size, self);
}
