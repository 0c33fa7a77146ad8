/*  codec: helpers shared by the message codecs in proto/. Internal to proto/: workers include
    the family headers (proto/heartbeat.h, ...), never this one.

    Decoding helpers read one field value with mpr and check it, and on failure rewrite the
    reason as "field '<name>': ..." so every error names the field it is about.
    Encoding helpers pack into a msgpack_packer whose writer aborts on out-of-memory, so
    encoders need not check every pack call.                                                  */
#ifndef ZM_PROTO_CODEC_H
#define ZM_PROTO_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "proto/proto.h"

//  ---- decoding --------------------------------------------------------------------------

//  Starts decoding a message of `type`: reads [PROTO_VERSION, type, and leaves the reader at
//  the body map.
int codec_open (mpr_t *r, const uint8_t *data, size_t size, int type, proto_err_t *err);

//  Finishes a message: RC_MALFORMED when bytes follow the envelope.
int codec_close (mpr_t *r);

//  A str of at most `max` bytes, valid UTF-8 without NUL, copied NUL-terminated into dst
//  (which has room for max + 1 bytes). min: fewest bytes accepted.
int codec_text (mpr_t *r, const char *field, char *dst, size_t min, size_t max);

//  A str copied into dst (room for max + 1 bytes) then checked with valid (); `expect`
//  describes the rule in the error ("str of 5 digits").
int codec_checked (mpr_t *r, const char *field, char *dst, size_t max,
                   bool (*valid) (const char *), const char *expect);

//  A str of at most `max` bytes, valid UTF-8 without NUL, copied NUL-terminated into the
//  arena (see codec_arena_t); *out points at the copy.
typedef struct {
    char *next;                 //  next free byte
    char *end;                  //  one past the last byte
} codec_arena_t;
int codec_text_arena (mpr_t *r, const char *field, codec_arena_t *arena, size_t min,
                      size_t max, const char **out);

int codec_uint (mpr_t *r, const char *field, uint64_t min, uint64_t max, uint64_t *v);
int codec_int (mpr_t *r, const char *field, int64_t min, int64_t max, int64_t *v);
int codec_bool (mpr_t *r, const char *field, bool *v);
//  A float (or integer); finite_only rejects NaN and infinities.
int codec_double (mpr_t *r, const char *field, bool finite_only, double *v);
//  A bin of exactly `len` bytes, copied into dst.
int codec_bin_exact (mpr_t *r, const char *field, uint8_t *dst, size_t len);

//  An array header of at most `max` elements, each of which needs at least min_bytes bytes of
//  encoding, so that the count is bounded by remaining / min_bytes before anything sized by
//  it is allocated.
int codec_array (mpr_t *r, const char *field, uint32_t max, size_t min_bytes, uint32_t *n);

//  ---- encoding --------------------------------------------------------------------------

//  Points pk at out with a writer that aborts on out-of-memory.
void codec_packer_init (msgpack_packer *pk, msgpack_sbuffer *out);

//  Packs [PROTO_VERSION, type, and a map header of `pairs` pairs.
void codec_put_envelope (msgpack_packer *pk, int type, size_t pairs);
void codec_put_str (msgpack_packer *pk, const char *s);
void codec_put_key (msgpack_packer *pk, const char *key);

//  Fills err (may be NULL) with a formatted reason (offset 0) and returns RC_MALFORMED.
//  Encoders use it to refuse a message that breaks a bound.
int codec_fail (proto_err_t *err, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Encode-side checks: 0, or codec_fail with "field '<name>': ..." and RC_MALFORMED.
int codec_check_text (proto_err_t *err, const char *field, const char *s, size_t min,
                      size_t max);
int codec_check (proto_err_t *err, const char *field, const char *s,
                 bool (*valid) (const char *), const char *expect);

//  ---- table-driven fields -----------------------------------------------------------------
//  Families whose body is mostly fixed-size scalars describe it with a table; the generic
//  functions below check, pack, decode and compare those fields. Fields of kind CF_CUSTOM
//  are the family's own (arrays, heap strings): the generic decoder hands them to a callback,
//  and encoders pack them themselves after codec_put_fields.
typedef enum {
    CF_EPOCH,           //  char [PROTO_EPOCH_LEN + 1], proto_valid_epoch
    CF_ZIPCODE,         //  char [PROTO_ZIPCODE_LEN + 1], proto_valid_zipcode
    CF_HOTKEY,          //  char [PROTO_HOTKEY_MAX + 1], proto_valid_hotkey
    CF_TEXT,            //  char [size]: UTF-8 of min..size-1 bytes
    CF_UINT,            //  uint8/16/32/64_t (size = its width), min..max
    CF_INT,             //  int64_t, min..max (as int64)
    CF_BOOL,            //  bool
    CF_BIN,             //  uint8_t [size], exactly size bytes
    CF_CUSTOM           //  the family's own
} codec_kind_t;

typedef struct {
    const char *key;
    codec_kind_t kind;
    size_t offset;                  //  offsetof (message struct, field)
    size_t size;                    //  see codec_kind_t
    int64_t min;                    //  CF_TEXT: fewest bytes; CF_UINT/CF_INT: lowest value
    uint64_t max;                   //  CF_UINT: highest value; CF_INT: highest (as int64)
    bool required;                  //  when absent, decode fails; else it stays zero / ""
} codec_field_t;

//  Called by codec_decode_fields for each CF_CUSTOM key present: must read exactly one value
//  (0) or fail (RC_MALFORMED with the reader's error set).
typedef int (codec_custom_fn) (mpr_t *r, int index, void *msg, void *ctx);

//  Decodes a whole message of `type` (envelope, body, no trailing bytes) into msg, which it
//  zeroes first. At most 64 fields. `custom` may be NULL when there are no CF_CUSTOM fields.
int codec_decode_fields (const uint8_t *data, size_t size, int type, const codec_field_t *fields,
                         size_t nfields, void *msg, codec_custom_fn *custom, void *ctx,
                         proto_err_t *err);

//  Checks every non-custom field of msg against its bounds (encode side).
int codec_check_fields (const codec_field_t *fields, size_t nfields, const void *msg,
                        proto_err_t *err);

//  Packs the envelope with a body of (non-custom fields + extra_pairs) pairs, then every
//  non-custom field (always, optional ones included). The caller then packs its extra pairs.
void codec_put_fields (msgpack_packer *pk, int type, const codec_field_t *fields,
                       size_t nfields, const void *msg, size_t extra_pairs);

//  Compares every non-custom field.
bool codec_equal_fields (const codec_field_t *fields, size_t nfields, const void *a,
                         const void *b);

//  Helpers for table rows.
#define CF_ROW(T, key, kind, member, size, min, max, req) \
    { key, kind, offsetof (T, member), size, min, max, req }

#endif
