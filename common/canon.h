/*  canon: canonical JSON, byte for byte as CPython prints
        json.dumps (obj, sort_keys=True, separators=(',', ':'))
    (ensure_ascii on, allow_nan irrelevant because non-finite numbers are refused), and the
    consensus document of DESIGN.md section 8 with its SHA-256.

    Output rules (what an independent implementer needs; docs/validation.md repeats them):
      - No whitespace. Object members sorted by key in code point order (for valid UTF-8 that is
        bytewise order); a key appears at most once.
      - Strings: '"' -> \", '\' -> \\, \n \r \t \b \f as those two-character escapes, every
        other byte outside 0x20..0x7e (so control characters, DEL and all non-ASCII) as \uXXXX
        with lower-case hex, code points above U+FFFF as a UTF-16 surrogate pair
        (U+1F600 -> \ud83d\ude00). Input strings must be valid UTF-8 (no overlongs, no
        surrogates, nothing above U+10FFFF); NUL is allowed and printed \u0000.
      - Integers (int64) in decimal. true, false, null.
      - Doubles as Python's float repr: the shortest digit string that reads back to the same
        double (the one nearest the double when several are equally short), then: decimal
        exponent e (d.ddd x 10^e) below -4 or at least 16 -> d[.ddd]e[+-]XX (at least two
        exponent digits: 1e-05, 1e+16, 1.5e+300, 5e-324); otherwise positional, with ".0"
        appended when there is no fractional part (1.0, 1000000000000000.0, 0.0001). -0.0 is
        "-0.0". NaN and infinities are refused (Python would print NaN/Infinity, which are
        not JSON).

    Builder: canon_t is one JSON value; containers own what is added to them. Functions that
    take canon_t ** take ownership and null the caller's pointer, also on failure.          */
#ifndef ZM_CANON_H
#define ZM_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Longest canon_format_double output plus NUL ("-2.2250738585072014e-308").
#define CANON_DOUBLE_MAX 32

typedef struct _canon_t canon_t;

//  Constructors. Never NULL except: canon_string on invalid UTF-8, canon_double on NaN or
//  infinity. Caller owns.
canon_t *canon_object (void);
canon_t *canon_array (void);
canon_t *canon_string (const char *s, size_t len);
canon_t *canon_cstring (const char *s);
canon_t *canon_int (int64_t v);
canon_t *canon_double (double v);
canon_t *canon_bool (bool v);
canon_t *canon_null (void);

//  Frees a value and everything in it; no-op on NULL.
void canon_destroy (canon_t **self_p);

//  Adds key -> *value_p to an object (asserted to be an object). Takes *value_p always.
//  Returns -1 when *value_p is NULL (a failed constructor), the key is not valid UTF-8, or
//  the key is already present.
int canon_set (canon_t *self, const char *key, canon_t **value_p);

//  Appends *value_p to an array (asserted). Takes *value_p always; -1 when it is NULL.
int canon_append (canon_t *self, canon_t **value_p);

//  The canonical text, NUL-terminated, its length in *len_p when len_p is not NULL.
//  Caller owns (free).
char *canon_dumps (const canon_t *self, size_t *len_p);

//  Python's repr of v into buf (at least CANON_DOUBLE_MAX bytes). Returns the length, or -1
//  for NaN and infinities.
int canon_format_double (double v, char *buf);

//  Checks s [0..len) is valid UTF-8 as Python's str.encode () could produce it.
bool canon_utf8_valid (const char *s, size_t len);

//  SHA-256 of data as 64 lower-case hex digits plus NUL.
void canon_sha256_hex (const void *data, size_t len, char hex [65]);

//  The consensus document (DESIGN.md section 8), as the reference builds it:
//      json.dumps ({"epoch_nonce": nonce,
//                   "miner_scores": sorted (scores.items ()),
//                   "total_epoch_listings": L, "total_participants": P, "total_winners": W,
//                   "zipcode_weights": sorted (weights.items ())},
//                  sort_keys=True, separators=(',', ':'))
//  i.e. {"epoch_nonce":"…","miner_scores":[["hk",0.5],…],"total_epoch_listings":L,
//  "total_participants":P,"total_winners":W,"zipcode_weights":[["02110",0.25],…]}.
//  The pairs may be passed in any order; they are printed sorted by key. Returns NULL when a
//  string is not valid UTF-8, a key repeats within its list, or a value is not finite.
//  Caller owns (free).
typedef struct {
    const char *key;
    double value;
} canon_pair_t;

char *canon_consensus_json (const char *epoch_nonce,
                            const canon_pair_t *miner_scores, size_t nminers,
                            const canon_pair_t *zipcode_weights, size_t nzipcodes,
                            int64_t total_epoch_listings, int64_t total_participants,
                            int64_t total_winners, size_t *len_p);

#endif
