/*  Shared by the uploader tests: stored zipcodes in the miner database, the configuration,
    and S3 helpers.                                                                          */
#ifndef ZM_TEST_UPLOADER_LIB_H
#define ZM_TEST_UPLOADER_LIB_H

#include "common/config.h"
#include "common/s3.h"
#include "tests/integration/test_storage_lib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

//  Stores n listings for zip (ids base..base+n-1) and marks its task stored, as storage does.
static inline void
t_store (db_t *db, const char *epoch, const char *zip, int base, int n)
{
    char doc [1024], id [24], count [24];
    for (int i = 0; i < n; i++) {
        t_listing (doc, sizeof doc, base + i, zip);
        snprintf (id, sizeof id, "%d", base + i);
        CHECK_EQ_INT (db_exec (db, "INSERT INTO miner_listings (epoch_id, zipcode, listing_id, doc) "
                                   "VALUES ($1, $2, $3, $4::jsonb)", DB_P (epoch, zip, id, doc),
                               NULL), 0);
    }
    snprintf (count, sizeof count, "%d", n);
    CHECK_EQ_INT (db_exec (db, "UPDATE miner_tasks SET status = 'stored', listing_count = $3::integer "
                               "WHERE epoch_id = $1 AND zipcode = $2", DB_P (epoch, zip, count),
                           NULL), 0);
}

//  An S3 client with the test server's credentials.
static inline s3_t *
t_s3 (void)
{
    s3_config_t c = { .endpoint = TEST_ENV ("ZM_TEST_S3_ENDPOINT"),
                      .region = TEST_ENV ("ZM_TEST_S3_REGION"),
                      .access_key = TEST_ENV ("ZM_TEST_S3_ACCESS_KEY"),
                      .secret_key = TEST_ENV ("ZM_TEST_S3_SECRET_KEY"),
                      .path_style = true, .max_attempts = 1 };
    s3_t *s3 = s3_new (&c);
    CHECK (s3);
    return s3;
}

//  A loopback TCP port nobody listens on (bound, then closed).
static inline int
t_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    inet_pton (AF_INET, "127.0.0.1", &a.sin_addr);
    CHECK (bind (fd, (struct sockaddr *) &a, sizeof a) == 0);
    socklen_t len = sizeof a;
    CHECK (getsockname (fd, (struct sockaddr *) &a, &len) == 0);
    close (fd);
    return ntohs (a.sin_port);
}

#endif
