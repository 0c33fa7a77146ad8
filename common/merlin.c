/*  STROBE-128 (the subset Merlin uses) and Merlin transcripts.

    Written from the STROBE v1.0.2 specification and checked against dalek-cryptography's
    merlin (src/strobe.rs, src/transcript.rs): rate R = 166 bytes at the 128-bit security
    level, initial state "1, R+2, 1, 0, 1, 96" || "STROBEv1.0.2" then F; operations set
    pos_begin and absorb (old_begin, flags); operations with C or K force F before running;
    running F xors pos_begin at pos, 0x04 at pos+1 and 0x80 at R+1.

    Invariant: 0 <= pos < R between calls. Secrets pass through the state (KEY, and the PRF
    output of an RNG), so transcripts are wiped by their owners (see merlin.h).             */
#include "common/merlin.h"

#include <assert.h>
#include <string.h>

#include <sodium.h>

#define STROBE_R    166
#define FLAG_I      (1u << 0)
#define FLAG_A      (1u << 1)
#define FLAG_C      (1u << 2)
#define FLAG_T      (1u << 3)
#define FLAG_M      (1u << 4)
#define FLAG_K      (1u << 5)

static void
s_run_f (merlin_strobe_t *s)
{
    s->state [s->pos] ^= s->pos_begin;
    s->state [s->pos + 1] ^= 0x04;
    s->state [STROBE_R + 1] ^= 0x80;
    keccak_f1600 (s->state);
    s->pos = 0;
    s->pos_begin = 0;
}

static void
s_absorb (merlin_strobe_t *s, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        s->state [s->pos] ^= data [i];
        if (++s->pos == STROBE_R)
            s_run_f (s);
    }
}

static void
s_overwrite (merlin_strobe_t *s, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        s->state [s->pos] = data [i];
        if (++s->pos == STROBE_R)
            s_run_f (s);
    }
}

static void
s_squeeze (merlin_strobe_t *s, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        out [i] = s->state [s->pos];
        s->state [s->pos] = 0;
        if (++s->pos == STROBE_R)
            s_run_f (s);
    }
}

//  more = continue the previous operation (same flags), as STROBE's "more" bit.
static void
s_begin_op (merlin_strobe_t *s, uint8_t flags, int more)
{
    if (more) {
        assert (s->cur_flags == flags);
        return;
    }
    assert ((flags & FLAG_T) == 0);
    uint8_t old_begin = s->pos_begin;
    s->pos_begin = (uint8_t) (s->pos + 1);
    s->cur_flags = flags;
    uint8_t header [2] = { old_begin, flags };
    s_absorb (s, header, 2);
    if ((flags & (FLAG_C | FLAG_K)) && s->pos != 0)
        s_run_f (s);
}

static void
s_meta_ad (merlin_strobe_t *s, const uint8_t *data, size_t len, int more)
{
    s_begin_op (s, FLAG_M | FLAG_A, more);
    s_absorb (s, data, len);
}

static void
s_ad (merlin_strobe_t *s, const uint8_t *data, size_t len)
{
    s_begin_op (s, FLAG_A, 0);
    s_absorb (s, data, len);
}

static void
s_prf (merlin_strobe_t *s, uint8_t *out, size_t len)
{
    s_begin_op (s, FLAG_I | FLAG_A | FLAG_C, 0);
    s_squeeze (s, out, len);
}

static void
s_key (merlin_strobe_t *s, const uint8_t *data, size_t len)
{
    s_begin_op (s, FLAG_A | FLAG_C, 0);
    s_overwrite (s, data, len);
}

static void
s_strobe_init (merlin_strobe_t *s, const uint8_t *protocol, size_t protocol_len)
{
    memset (s, 0, sizeof *s);
    static const uint8_t head [6] = { 1, STROBE_R + 2, 1, 0, 1, 96 };
    memcpy (s->state, head, sizeof head);
    memcpy (s->state + 6, "STROBEv1.0.2", 12);
    keccak_f1600 (s->state);
    s_meta_ad (s, protocol, protocol_len, 0);
}

static void
s_le32 (uint8_t out [4], size_t value)
{
    assert (value <= UINT32_MAX);
    for (int i = 0; i < 4; i++)
        out [i] = (uint8_t) (value >> (8 * i));
}

void
merlin_transcript_init (merlin_transcript_t *self, const uint8_t *label, size_t label_len)
{
    assert (self);
    s_strobe_init (&self->strobe, MERLIN_LABEL ("Merlin v1.0"));
    merlin_transcript_append (self, MERLIN_LABEL ("dom-sep"), label, label_len);
}

void
merlin_transcript_append (merlin_transcript_t *self, const uint8_t *label, size_t label_len,
                          const uint8_t *message, size_t message_len)
{
    assert (self);
    uint8_t len [4];
    s_le32 (len, message_len);
    s_meta_ad (&self->strobe, label, label_len, 0);
    s_meta_ad (&self->strobe, len, 4, 1);
    s_ad (&self->strobe, message, message_len);
}

void
merlin_transcript_append_parts (merlin_transcript_t *self, const uint8_t *label,
                                size_t label_len, const uint8_t *const *parts,
                                const size_t *part_lens, size_t n)
{
    assert (self);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        assert (part_lens [i] <= UINT32_MAX - total);
        total += part_lens [i];
    }
    uint8_t len [4];
    s_le32 (len, total);
    s_meta_ad (&self->strobe, label, label_len, 0);
    s_meta_ad (&self->strobe, len, 4, 1);
    //  AD with the "more" bit for every part after the first: one STROBE operation.
    s_begin_op (&self->strobe, FLAG_A, 0);
    for (size_t i = 0; i < n; i++)
        s_absorb (&self->strobe, parts [i], part_lens [i]);
}

void
merlin_transcript_challenge (merlin_transcript_t *self, const uint8_t *label, size_t label_len,
                             uint8_t *out, size_t out_len)
{
    assert (self);
    uint8_t len [4];
    s_le32 (len, out_len);
    s_meta_ad (&self->strobe, label, label_len, 0);
    s_meta_ad (&self->strobe, len, 4, 1);
    s_prf (&self->strobe, out, out_len);
}

void
merlin_transcript_wipe (merlin_transcript_t *self)
{
    if (self)
        sodium_memzero (self, sizeof *self);
}

void
merlin_rng_init (merlin_rng_t *self, const merlin_transcript_t *transcript)
{
    assert (self && transcript);
    self->strobe = transcript->strobe;
}

void
merlin_rng_rekey (merlin_rng_t *self, const uint8_t *label, size_t label_len,
                  const uint8_t *witness, size_t witness_len)
{
    assert (self);
    uint8_t len [4];
    s_le32 (len, witness_len);
    s_meta_ad (&self->strobe, label, label_len, 0);
    s_meta_ad (&self->strobe, len, 4, 1);
    s_key (&self->strobe, witness, witness_len);
}

void
merlin_rng_finalize (merlin_rng_t *self, const uint8_t random [32])
{
    assert (self);
    s_meta_ad (&self->strobe, MERLIN_LABEL ("rng"), 0);
    s_key (&self->strobe, random, 32);
}

void
merlin_rng_fill (merlin_rng_t *self, uint8_t *out, size_t out_len)
{
    assert (self);
    uint8_t len [4];
    s_le32 (len, out_len);
    s_meta_ad (&self->strobe, len, 4, 0);
    s_prf (&self->strobe, out, out_len);
}

void
merlin_rng_wipe (merlin_rng_t *self)
{
    if (self)
        sodium_memzero (self, sizeof *self);
}
