/*  bench_proto: what the proto codecs cost, next to the alternatives, in one run.

    1. In memory, a listing batch of 500 listings (~700-byte JSON texts each):
         - proto_listing_batch_encode (msgpack-c packer into a reused sbuffer)
         - proto_listing_batch_decode + _free (bounded reader, one copy of the texts)
         - msgpack_unpack_next on the same bytes (msgpack-c's own unpacker: only safe on
           trusted input, shown as the baseline the bounded reader replaces)
         - memcpy of the same bytes (the floor)
       and the same for a small message (scrape_task) to show per-message overhead.
    2. Over ZeroMQ PUSH/PULL (inproc and ipc), a sender thread and the main thread receiving:
         - raw: pre-encoded frames sent as-is, received and parsed with msgpack_unpack_next
         - codec: encode each message before sending, proto_*_decode each frame received
    Prints messages/s and MB/s for each, and the peak RSS.

    Usage: bench_proto [seconds-per-case]   (default 1.0)                                  */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <zmq.h>

#include "proto/listing_batch.h"
#include "proto/scrape_task.h"

#define S_LISTINGS 500

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
s_report (const char *what, long n, size_t bytes_each, double secs)
{
    printf ("  %-44s %12.0f msg/s %10.1f MB/s\n", what, (double) n / secs,
            (double) n * (double) bytes_each / secs / 1e6);
    fflush (stdout);
}

//  A realistic listing (the reference's seed-era schema) of about 700 bytes.
static char *
s_listing_text (int i)
{
    char *t = malloc (1024);
    int n = snprintf (t, 1024,
        "{\"zpid\":\"%d\",\"mls_id\":\"MLS%08d\",\"address\":\"%d Sycamore Avenue, Apt %d, "
        "Chicago, IL 60614\",\"price\":%d,\"bedrooms\":%d,\"bathrooms\":%d.5,\"sqft\":%d,"
        "\"listing_date\":\"2026-10-%02dT09:30:00Z\",\"property_type\":\"SINGLE_FAMILY\","
        "\"listing_status\":\"FOR_SALE\",\"days_on_market\":%d,"
        "\"source_url\":\"https://www.example-realty.com/homedetails/%d-Sycamore-Ave-Chicago-IL-"
        "60614/%d_zpid/\",\"scraped_timestamp\":\"2026-11-25T15:%02d:00Z\",\"zipcode\":\"60614\","
        "\"description\":\"Bright corner unit with updated kitchen, hardwood floors, in-unit "
        "laundry and a private balcony overlooking the park. Close to schools and transit.\","
        "\"lot_size\":%d,\"year_built\":%d,\"hoa_fee\":%d,\"agent\":\"Jane Q. Broker\"}",
        2000000 + i, i, 100 + i, i % 40, 250000 + i * 1000, 1 + i % 6, 1 + i % 3, 700 + i * 3,
        1 + i % 28, i % 90, 100 + i, 2000000 + i, i % 60, 2000 + i * 7, 1900 + i % 120, i % 500);
    if (n <= 0 || n >= 1024)
        abort ();
    return t;
}

typedef struct {
    proto_listing_batch_t batch;
    proto_listing_t listings [S_LISTINGS];
    char *texts [S_LISTINGS];
    proto_scrape_task_t task;
} s_data_t;

static void
s_data_init (s_data_t *d)
{
    memset (d, 0, sizeof *d);
    for (int i = 0; i < S_LISTINGS; i++) {
        d->texts [i] = s_listing_text (i);
        d->listings [i].json = d->texts [i];
        d->listings [i].len = (uint32_t) strlen (d->texts [i]);
    }
    strcpy (d->batch.epoch, "2026-11-25T16-00-00");
    strcpy (d->batch.zipcode, "60614");
    d->batch.lease_id = 42;
    d->batch.seq = 1;
    d->batch.nlistings = S_LISTINGS;
    d->batch.listings = d->listings;
    strcpy (d->task.epoch, "2026-11-25T16-00-00");
    strcpy (d->task.zipcode, "60614");
    d->task.target = 100;
    d->task.lease_id = 42;
    d->task.lease_deadline_ms = 1764086400000;
    d->task.attempt = 1;
}

static void
s_data_destroy (s_data_t *d)
{
    for (int i = 0; i < S_LISTINGS; i++)
        free (d->texts [i]);
}

//  Encodes one message of the kind selected by `batch` into sb (cleared first).
static void
s_encode (const s_data_t *d, bool batch, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_clear (sb);
    int rc = batch ? proto_listing_batch_encode (&d->batch, sb, NULL)
                   : proto_scrape_task_encode (&d->task, sb, NULL);
    if (rc != 0)
        abort ();
}

static void
s_decode (bool batch, const void *data, size_t size)
{
    if (batch) {
        proto_listing_batch_t b;
        if (proto_listing_batch_decode (data, size, &b, NULL) != 0)
            abort ();
        proto_listing_batch_free (&b);
    }
    else {
        proto_scrape_task_t t;
        if (proto_scrape_task_decode (data, size, &t, NULL) != 0)
            abort ();
    }
}

static void
s_msgpack_unpack (msgpack_unpacked *up, const void *data, size_t size)
{
    size_t off = 0;
    if (msgpack_unpack_next (up, data, size, &off) != MSGPACK_UNPACK_SUCCESS || off != size)
        abort ();
}

static void
s_memory (const s_data_t *d, bool batch, double budget)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    s_encode (d, batch, &sb);
    size_t size = sb.size;
    printf ("%s: %zu bytes per message\n", batch ? "listing_batch of 500 listings"
                                                 : "scrape_task", size);
    long n;
    double t0, t;

    for (n = 0, t0 = s_now (); (t = s_now ()) - t0 < budget; n++)
        for (int k = 0; k < 16; k++)
            s_encode (d, batch, &sb);
    s_report ("encode (proto, msgpack-c packer)", n * 16, size, t - t0);

    uint8_t *copy = malloc (size);
    memcpy (copy, sb.data, size);
    for (n = 0, t0 = s_now (); (t = s_now ()) - t0 < budget; n++)
        for (int k = 0; k < 16; k++)
            s_decode (batch, copy, size);
    s_report ("decode (proto, bounded reader + copy)", n * 16, size, t - t0);

    msgpack_unpacked up;
    msgpack_unpacked_init (&up);
    for (n = 0, t0 = s_now (); (t = s_now ()) - t0 < budget; n++)
        for (int k = 0; k < 16; k++)
            s_msgpack_unpack (&up, copy, size);
    msgpack_unpacked_destroy (&up);
    s_report ("msgpack_unpack_next (trusted input only)", n * 16, size, t - t0);

    uint8_t *dst = malloc (size);
    for (n = 0, t0 = s_now (); (t = s_now ()) - t0 < budget; n++) {
        for (int k = 0; k < 16; k++) {
            memcpy (dst, copy, size);
            __asm__ volatile ("" : : "r" (dst) : "memory");     //  keep the copy
        }
    }
    s_report ("memcpy", n * 16, size, t - t0);
    free (dst);
    free (copy);
    msgpack_sbuffer_destroy (&sb);
}

//  ---- ZeroMQ -------------------------------------------------------------------------------

typedef struct {
    void *ctx;
    const char *endpoint;
    const s_data_t *data;
    bool batch;
    bool codec;             //  encode per message (else send the pre-encoded frame)
    const void *frame;      //  pre-encoded frame for raw mode
    size_t frame_size;
    long count;
} s_sender_t;

static void *
s_sender (void *arg)
{
    s_sender_t *s = arg;
    void *push = zmq_socket (s->ctx, ZMQ_PUSH);
    int hwm = 100, linger = 1000;
    zmq_setsockopt (push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (push, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect (push, s->endpoint) != 0)
        abort ();
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    for (long i = 0; i < s->count; i++) {
        if (s->codec) {
            s_encode (s->data, s->batch, &sb);
            if (zmq_send (push, sb.data, sb.size, 0) < 0)
                abort ();
        }
        else if (zmq_send (push, s->frame, s->frame_size, 0) < 0)
            abort ();
    }
    msgpack_sbuffer_destroy (&sb);
    zmq_close (push);
    return NULL;
}

static void
s_zmq_case (void *ctx, const char *endpoint, const s_data_t *d, bool batch, bool codec,
            long count)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    s_encode (d, batch, &sb);
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    int hwm = 100, timeout = 10000;
    zmq_setsockopt (pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (zmq_bind (pull, endpoint) != 0) {
        fprintf (stderr, "bind %s: %s\n", endpoint, zmq_strerror (zmq_errno ()));
        exit (1);
    }
    s_sender_t s = { ctx, endpoint, d, batch, codec, sb.data, sb.size, count };
    double t0 = s_now ();
    pthread_t th;
    pthread_create (&th, NULL, s_sender, &s);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    msgpack_unpacked up;
    msgpack_unpacked_init (&up);
    for (long i = 0; i < count; i++) {
        if (zmq_msg_recv (&msg, pull, 0) < 0) {
            fprintf (stderr, "recv: %s\n", zmq_strerror (zmq_errno ()));
            exit (1);
        }
        if (codec)
            s_decode (batch, zmq_msg_data (&msg), zmq_msg_size (&msg));
        else
            s_msgpack_unpack (&up, zmq_msg_data (&msg), zmq_msg_size (&msg));
    }
    double t = s_now () - t0;
    pthread_join (th, NULL);
    msgpack_unpacked_destroy (&up);
    zmq_msg_close (&msg);
    zmq_close (pull);
    char what [96];
    snprintf (what, sizeof what, "%s %s %s", endpoint [0] == 'i' && endpoint [1] == 'n'
              ? "inproc" : "ipc", batch ? "batch" : "task",
              codec ? "codec (encode+decode)" : "raw frame + msgpack_unpack");
    s_report (what, count, sb.size, t);
    msgpack_sbuffer_destroy (&sb);
}

int
main (int argc, char **argv)
{
    double budget = argc > 1 ? atof (argv [1]) : 1.0;
    if (budget <= 0)
        budget = 1.0;
    s_data_t *d = malloc (sizeof *d);
    s_data_init (d);

    printf ("== in memory (%.1f s per case)\n", budget);
    s_memory (d, true, budget);
    s_memory (d, false, budget);

    printf ("== ZeroMQ PUSH/PULL, sender thread -> receiving main thread\n");
    void *ctx = zmq_ctx_new ();
    char ipc [128];
    snprintf (ipc, sizeof ipc, "ipc:///tmp/zm-bench-proto-%d.ipc", (int) getpid ());
    const char *endpoints [2] = { "inproc://bench-proto", ipc };
    for (int e = 0; e < 2; e++) {
        for (int batch = 1; batch >= 0; batch--)
            for (int codec = 0; codec < 2; codec++) {
                //  endpoints are re-bound per case: give inproc a fresh name each time
                char ep [160];
                if (e == 0)
                    snprintf (ep, sizeof ep, "%s-%d-%d", endpoints [0], batch, codec);
                else
                    snprintf (ep, sizeof ep, "%s", endpoints [1]);
                long count = batch ? (long) (4000 * budget) : (long) (400000 * budget);
                s_zmq_case (ctx, ep, d, batch, codec, count);
            }
    }
    unlink (ipc + 6);
    zmq_ctx_term (ctx);
    s_data_destroy (d);
    free (d);

    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    printf ("peak RSS: %ld KiB\n", ru.ru_maxrss);
    return 0;
}
