/*  config: zipmine's one configuration table.

    Every process of a node (zipmined and each worker it execs) loads the same table from the
    same sources, so a bad value anywhere stops the node before anything starts, with the key
    named, and every worker sees exactly the configuration the operator gave the supervisor.
    A worker reads only the fields it needs. Options use the Bittensor flag names operators know
    (--netuid, --wallet.name, --wallet.hotkey, --wallet.path, --subtensor.network); environment
    variables are ZM_ + the name upper-cased with '.' and '-' as '_'.

    To add an option: add a field to zm_config_t and a row to the table in config.c (type,
    default, bounds, help); nothing else.                                                     */
#ifndef ZM_CONFIG_H
#define ZM_CONFIG_H

#include "common/cfg.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    //  node
    char *role;                 //  miner | validator | coordinator, or a comma list
    char *node_name;            //  names the node in logs, metrics and run dir
    char *run_dir;              //  ipc:// endpoints and the control socket live here
    char *log_format;           //  json | text
    char *log_level;            //  debug | info | warn | error
    char *http_bind;            //  supervisor's /livez /readyz /metrics address
    int64_t http_port;          //  0 = pick a free port (written to run_dir/http.port)
    char *workers;              //  "name[:count][:optional],…" overrides the role's workers
    char *bin_dir;              //  where worker executables are; "" = beside zipmined

    //  supervision (DESIGN.md section 2)
    int64_t heartbeat_ms;
    int64_t heartbeat_misses;   //  silent for this many heartbeats: killed and restarted
    int64_t ready_timeout_ms;
    int64_t shutdown_budget_ms; //  per child, after SIGTERM
    int64_t restart_base_ms;
    int64_t restart_cap_ms;
    int64_t restart_reset_ms;   //  READY this long resets a child's backoff
    int64_t restart_intensity;  //  more than this many restarts ...
    int64_t restart_period_ms;  //  ... in this window stops the node with exit 1

    //  Bittensor identity
    int64_t netuid;
    char *subtensor_network;
    char *wallet_path;
    char *wallet_name;
    char *wallet_hotkey;
    char *wallet_coldkey;       //  SS58 coldkey address ("" = coldkeypub.txt of the wallet)
    int64_t ss58_prefix;

    //  PostgreSQL
    char *db_dsn;               //  libpq conninfo or URI
    int64_t db_connect_timeout_s;
    int64_t db_statement_timeout_ms;

    //  S3
    char *s3_mode;              //  grant (presigned POST from the coordinator) | direct
    char *s3_endpoint;
    char *s3_region;
    char *s3_bucket;
    char *s3_access_key;
    char *s3_secret_key;
    char *s3_session_token;
    bool s3_path_style;
    int64_t s3_timeout_ms;

    //  coordination API
    char *coordinator_url;
    int64_t http_timeout_ms;    //  outgoing HTTP calls

    //  coordinator (DESIGN.md section 5)
    char *coord_bind;
    int64_t coord_port;
    char *coord_metagraph;      //  registry of known hotkeys (JSON file, reloaded on change)
    int64_t coord_epoch_s;      //  epoch length on the UTC grid
    int64_t coord_zipcodes;     //  zipcodes per epoch
    int64_t coord_target;       //  target total of expected listings per epoch
    double coord_tolerance_pct;
    int64_t coord_cooldown_s;   //  a zipcode is not assigned again within this time
    int64_t coord_ts_past_s;    //  signed timestamps accepted in [now - past, now + future]
    int64_t coord_ts_future_s;
    int64_t coord_rate_assign;  //  per hotkey per minute
    int64_t coord_rate_status;
    int64_t coord_rate_grant;
    int64_t coord_grant_max_bytes;  //  content-length-range of an upload grant
    int64_t coord_body_max;     //  request body limit (413 above)

    //  world: the synthetic property service (workers/world/README.md)
    int64_t world_seed;
    char *world_bind;
    int64_t world_port;
    char *world_public_url;     //  "" = http://{world.bind}:{bound port}
    int64_t world_latency_ms;   //  simulated latency per data request
    double world_rate_per_s;    //  per client address; 0 = unlimited
    int64_t world_page_size_max;

    //  miner storage and uploader (workers/storage/README.md, workers/uploader/README.md)
    char *storage_endpoint;     //  stage name or endpoint storage binds its PULL to
    char *uploader_endpoint;    //  the uploader's PULL (bound by it, connected by storage)
    int64_t uploader_sweep_ms;  //  ledger sweep: stored zipcodes not landed are (re)tried
    int64_t uploader_status_interval_ms;    //  least time between IN_PROGRESS reports

    //  miner assigner and scrapers (workers/assigner/README.md, workers/scraper/README.md)
    char *assigner_endpoint;    //  stage name or endpoint of the assigner's task ROUTER
    int64_t assigner_poll_ms;   //  coordinator assignment poll interval
    int64_t assigner_lease_ms;  //  lease length of one scrape task
    int64_t assigner_attempts;  //  leases of one task before it is FAILED
    int64_t assigner_scraped_grace_ms;  //  a scraped task not stored by then is re-leased
    char *scraper_kind;         //  world | command
    char *scraper_command;      //  external scraper: program and arguments (no shell)
    int64_t scraper_timeout_s;  //  per task (also capped by the lease deadline)
    int64_t scraper_batch;      //  listings per listing_batch
    int64_t scraper_line_max;   //  longest accepted output line (bytes)
    int64_t scraper_output_max; //  most output bytes read from one run
    int64_t scraper_garbage_pct;    //  more rejected lines than this percentage fails a task
    char *scraper_storage_endpoint; //  stage name or endpoint of storage's PULL
    char *world_url;            //  base URL of the world service the built-in scraper reads
    int64_t scraper_page_size;  //  world page size asked for

    //  validator downloader (workers/downloader/README.md)
    char *downloader_mode;      //  all | demand
    char *downloader_endpoint;  //  stage name or endpoint of the downloader's request PULL
    char *downloader_tier1_endpoint;        //  where submission_ready goes (PUSH)
    char *downloader_consensus_endpoint;    //  where rejections go as tier_result ("" = none)
    char *downloader_epoch;     //  collect this epoch id ("" = the grid's last ended epoch)
    int64_t downloader_grace_ms;    //  wait after the submission deadline before listing
    int64_t downloader_object_max;  //  largest submission object downloaded (bytes)
    int64_t downloader_listings_max;    //  most listings one submission may hold
    int64_t downloader_depth_max;   //  JSON nesting limit of a submission
    int64_t downloader_list_page;   //  ListObjectsV2 max-keys
    int64_t downloader_objects_max; //  most objects listed for one epoch
    int64_t downloader_fetch_parallel;  //  fetch threads (GET, check, store off the loop)

    //  validator tiers (workers/tier1/README.md, tier2, tier3)
    char *tier1_endpoint;       //  tier 1's submission_ready PULL (bound by tier1)
    char *tier2_endpoint;       //  tier 2's submission_ready PULL (bound by tier2)
    char *tier3_endpoint;       //  tier 3's PUSH (bound by tier2; the tier3 pool connects)
    char *tiers_consensus_endpoint; //  where tier_result goes (PUSH, connect)
    char *tier3_verifier;       //  http | command
    char *tier3_source_url;     //  property source base URL (GET /property/{zpid})
    char *tier3_command;        //  external verifier: program and arguments (no shell)
    int64_t tier3_timeout_ms;   //  one property lookup attempt (HTTP or command)
    int64_t tier3_attempts;     //  attempts per lookup before "unverifiable"
    double tier3_rate_per_minute;   //  property source lookups per minute (per worker)

    //  validator consensus (workers/consensus/README.md)
    char *consensus_endpoint;   //  stage name or endpoint of consensus's tier_result PULL
    int64_t consensus_inflight_max;     //  submissions requested and not yet decided
    int64_t consensus_request_retry_ms; //  an undecided request is sent again after this
    int64_t consensus_verdict_delay_ms; //  wait after publishing before reading the peers
    int64_t consensus_result_max;       //  largest peer result file read (bytes)
    int64_t consensus_validators_max;   //  most peer validators read per epoch
    char *consensus_weights_file;       //  weights JSON written here ("" = none)
    char *consensus_hook;               //  operator command given the weights on stdin
    int64_t consensus_hook_timeout_ms;

    //  pools
    int64_t scraper_pool;
    int64_t tier3_pool;
} zm_config_t;

//  The table, for cfg_load / cfg_print_help.
extern const cfg_opt_t zm_config_table [];
extern const size_t zm_config_table_size;

//  Loads the configuration from defaults, file, environment and argv. On a bad value prints
//  "config error: …" to stderr and exits 100 (EXIT_CONFIG); on --help prints usage (with
//  usage_line first) and exits 0. Also applies log.format and log.level to the logger.
void zm_config_load_or_exit (zm_config_t *self, int argc, char **argv, const char *usage_line);

//  Same without exiting: returns 0, -1 (message in err) or CFG_HELP.
int zm_config_load (zm_config_t *self, int argc, char **argv, char *err, size_t errsize);

void zm_config_free (zm_config_t *self);

#endif
