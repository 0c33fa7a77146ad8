/*  Merlin transcripts over STROBE-128 (Keccak-f[1600]), byte-compatible with the Rust crates
    `merlin` 2.x/3.x (dalek-cryptography) that schnorrkel signs with.

    A transcript absorbs labelled messages and squeezes labelled challenges: both sides of a
    protocol that append the same messages in the same order derive the same challenges.
    merlin_rng_* builds the prover's "transcript RNG": a fork of the transcript rekeyed with
    secret witness bytes and 32 bytes of external randomness, so nonces depend on the message,
    the secrets and fresh randomness at once.

    Only the STROBE operations Merlin needs exist (meta-AD, AD, KEY, PRF); the STROBE state
    is an implementation detail (merlin.c).

    These are value types on purpose (no _new/_destroy): a signature needs three short-lived
    transcript states and a heap allocation per signature buys nothing. Treat the fields as
    private; copy a transcript with plain assignment to fork it. Whoever holds a transcript
    that has seen secrets (a merlin_rng_t always has) wipes it with *_wipe.

    Labels are byte strings; pass (const uint8_t *) "label" with its length, or use the
    MERLIN_LABEL macro for string literals.                                               */
#ifndef ZM_MERLIN_H
#define ZM_MERLIN_H

#include <stddef.h>
#include <stdint.h>

#include "common/keccak.h"

typedef struct {
    uint8_t state [KECCAK_STATE_SIZE];
    uint8_t pos;
    uint8_t pos_begin;
    uint8_t cur_flags;
} merlin_strobe_t;

typedef struct {
    merlin_strobe_t strobe;
} merlin_transcript_t;

typedef struct {
    merlin_strobe_t strobe;
} merlin_rng_t;

//  A string literal as (pointer, length) without its terminating NUL.
#define MERLIN_LABEL(s) ((const uint8_t *) (s)), (sizeof (s) - 1)

//  Starts a transcript: STROBE-128 with protocol label "Merlin v1.0", then
//  append_message ("dom-sep", label).
void merlin_transcript_init (merlin_transcript_t *self, const uint8_t *label, size_t label_len);

//  Appends message under label: meta-AD (label || LE32 (len)), AD (message).
//  message_len must fit in 32 bits (asserted: lengths come from the caller's own buffers).
void merlin_transcript_append (merlin_transcript_t *self, const uint8_t *label,
                               size_t label_len, const uint8_t *message, size_t message_len);

//  Appends the concatenation of n parts as one message under label, without copying them
//  into one buffer (same bytes on the wire as merlin_transcript_append of the whole).
void merlin_transcript_append_parts (merlin_transcript_t *self, const uint8_t *label,
                                     size_t label_len, const uint8_t *const *parts,
                                     const size_t *part_lens, size_t n);

//  Squeezes out_len challenge bytes under label: meta-AD (label || LE32 (out_len)), PRF.
void merlin_transcript_challenge (merlin_transcript_t *self, const uint8_t *label,
                                  size_t label_len, uint8_t *out, size_t out_len);

//  Wipes a transcript (sodium_memzero).
void merlin_transcript_wipe (merlin_transcript_t *self);

//  Forks the transcript into an RNG builder (merlin's build_rng).
void merlin_rng_init (merlin_rng_t *self, const merlin_transcript_t *transcript);

//  Rekeys with secret witness bytes: meta-AD (label || LE32 (len)), KEY (witness).
void merlin_rng_rekey (merlin_rng_t *self, const uint8_t *label, size_t label_len,
                       const uint8_t *witness, size_t witness_len);

//  Finalizes with 32 bytes of external randomness: meta-AD ("rng"), KEY (random).
void merlin_rng_finalize (merlin_rng_t *self, const uint8_t random [32]);

//  Fills out with out_len bytes: meta-AD (LE32 (out_len)), PRF.
void merlin_rng_fill (merlin_rng_t *self, uint8_t *out, size_t out_len);

//  Wipes an RNG (sodium_memzero).
void merlin_rng_wipe (merlin_rng_t *self);

#endif
