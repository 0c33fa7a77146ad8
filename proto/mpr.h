/*  mpr: a bounded msgpack reader for untrusted bytes.

    A cursor over (const uint8_t *, size_t) that reads one msgpack value at a time. It exists
    because msgpack-c's own unpacker trusts length headers: `dd ff ff ff ff` (an array32 of
    4 294 967 295 elements) makes msgpack_unpack_next() ask malloc for 128 GiB before it notices
    the input is 5 bytes long. mpr instead:

      - checks every length against the bytes remaining BEFORE the caller can act on it
        (a str/bin length must fit in what is left; an array of N elements needs at least N
        bytes left, a map of N pairs at least 2N), so a count it hands out is always bounded
        by the input size;
      - never allocates (no malloc, no globals): strings and binaries are returned as pointers
        into the input buffer, valid as long as that buffer is;
      - limits nesting when skipping values nobody asked for (MPR_MAX_DEPTH);
      - reports every problem as RC_MALFORMED with a reason string and the byte offset.

    mpr is transparent (not opaque) on purpose: it is a small cursor that lives on the
    decoder's stack, like an iterator, so decoding allocates nothing for it.

    Encoding is done with msgpack-c's packer (msgpack_pack_* into a msgpack_sbuffer), which
    only writes what we give it and is safe.                                                  */
#ifndef ZM_PROTO_MPR_H
#define ZM_PROTO_MPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rc.h"

//  Why a decode failed. `reason` is a NUL-terminated sentence of printable ASCII (input bytes
//  it quotes are shown as '?' unless printable ASCII) such as
//  "field 'zipcode': expected str of 5 digits"; `offset` is the byte offset in the input at
//  which the problem was found. Fixed-size: filling it never allocates.
#define PROTO_ERR_REASON_MAX 192
typedef struct {
    char reason [PROTO_ERR_REASON_MAX];
    size_t offset;
} proto_err_t;

//  Deepest nesting mpr_skip () follows below the value it is asked to skip.
#define MPR_MAX_DEPTH 16

//  Most pairs a map read with mpr_map_begin () may hold (known plus unknown keys); this
//  bounds the duplicate-key check and the work an unknown key can cause.
#define MPR_MAP_MAX_PAIRS 64

//  Longest map key accepted by mpr_map_begin () iteration (keys are short strings).
#define MPR_KEY_MAX 32

typedef enum {
    MPR_END = 0,        //  no bytes left
    MPR_NIL,
    MPR_BOOL,
    MPR_UINT,           //  any integer encoding holding a value >= 0
    MPR_INT,            //  any integer encoding holding a value < 0
    MPR_FLOAT,          //  float32 or float64
    MPR_STR,
    MPR_BIN,
    MPR_ARRAY,
    MPR_MAP,
    MPR_EXT,
    MPR_INVALID         //  0xc1, the one byte msgpack never uses
} mpr_kind_t;

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;                 //  offset of the next byte to read
    proto_err_t *err;           //  where failures are described (never NULL after init)
    proto_err_t scratch;        //  used when the caller passed err == NULL
} mpr_t;

//  Starts reading `size` bytes at `data`. `err` may be NULL (failures are then described in
//  self->scratch). The reader never copies or frees `data`.
void mpr_init (mpr_t *self, const uint8_t *data, size_t size, proto_err_t *err);

//  Bytes not yet consumed.
size_t mpr_remaining (const mpr_t *self);

//  The kind of the next value, without consuming it.
mpr_kind_t mpr_peek (const mpr_t *self);

//  Human name of a kind ("str", "array", ...), for error messages.
const char *mpr_kind_name (mpr_kind_t kind);

//  Each reader below consumes exactly one value of the named kind and returns 0, or returns
//  RC_MALFORMED with self->err filled ("expected str, got array", "truncated: str of 300
//  bytes but 12 remain") and the cursor unspecified (stop reading after a failure).

int mpr_nil (mpr_t *self);
int mpr_bool (mpr_t *self, bool *value);
//  Any integer encoding whose value is >= 0.
int mpr_uint (mpr_t *self, uint64_t *value);
//  Any integer encoding whose value fits int64_t.
int mpr_int (mpr_t *self, int64_t *value);
//  float32, float64, or any integer encoding (converted to the nearest double).
int mpr_double (mpr_t *self, double *value);
//  A str; *ptr points into the input (not NUL-terminated), *len <= bytes that remained.
int mpr_str (mpr_t *self, const char **ptr, uint32_t *len);
//  A bin; as mpr_str.
int mpr_bin (mpr_t *self, const uint8_t **ptr, uint32_t *len);
//  An array header; *count elements follow, and *count <= bytes remaining after the header.
int mpr_array (mpr_t *self, uint32_t *count);
//  A map header; *count pairs follow, and 2 * *count <= bytes remaining after the header.
int mpr_map (mpr_t *self, uint32_t *count);

//  Skips one complete value of any kind, following at most MPR_MAX_DEPTH levels of nested
//  arrays/maps. Work is bounded by the input size.
int mpr_skip (mpr_t *self);

//  Sets self->err to a formatted reason at the current offset and returns RC_MALFORMED.
int mpr_fail (mpr_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

//  Rewrites self->err->reason as "<prefix>: <old reason>" (cut to fit) and returns
//  RC_MALFORMED. Decoders use it to name the field a low-level failure happened in.
int mpr_fail_prefix (mpr_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

//  ---------------------------------------------------------------------------------------
//  Map iteration with a key table: reads a map whose keys are short strings, hands the
//  caller the index of each known key (the caller then reads its value), skips the values of
//  unknown keys (forward compatibility), rejects non-string, over-long and duplicate keys,
//  and maps of more than MPR_MAP_MAX_PAIRS pairs. At most 64 known keys.
typedef struct {
    mpr_t *r;
    const char *what;                   //  "body", "metric", ... for messages
    const char *const *keys;            //  table of known keys
    size_t nkeys;
    uint32_t left;                      //  pairs still to read
    uint64_t found;                     //  bit i set once keys [i] has been seen
    uint32_t nunknown;
    struct {
        const char *ptr;
        uint32_t len;
    } unknown [MPR_MAP_MAX_PAIRS];      //  unknown keys seen, for the duplicate check
} mpr_map_t;

//  Reads the map header. `what` names the map in error messages.
int mpr_map_begin (mpr_map_t *map, mpr_t *r, const char *what,
                   const char *const *keys, size_t nkeys);

//  Returns 1 and sets *index when the next key is keys [*index]: the caller must now read
//  exactly one value. Returns 0 when the map is done, RC_MALFORMED on a bad key.
int mpr_map_next (mpr_map_t *map, int *index);

//  After iteration: RC_MALFORMED "<what>: missing required field 'x'" unless every key whose
//  bit is set in `required` was seen; else 0.
int mpr_map_require (mpr_map_t *map, uint64_t required);

//  True when keys [index] was present.
static inline bool
mpr_map_has (const mpr_map_t *map, int index)
{
    return (map->found >> index) & 1u;
}

#endif
