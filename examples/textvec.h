/*
 * A small hashing TF-IDF vectoriser for the demo and the evaluation: texts in,
 * L2-normalised CSR rows out, ready for hitl_pool_add_csr.  Not part of the
 * library: the library takes rows, whatever made them; this is what a C
 * program embedding libhitl for text would write, and it keeps `make demo`
 * free of anything but C.
 *
 * Tokens: runs of ASCII letters and digits, lower-cased, plus any byte
 * >= 0x80 (so UTF-8 words stay whole); HTML tags ("<br />") are skipped;
 * tokens of one character are dropped (scikit-learn's default pattern
 * \b\w\w+\b).  Features: every token and every pair of consecutive tokens
 * (unigrams and bigrams), hashed (64-bit FNV-1a, then a mixer) to a column
 * in [0, 2^bits); collisions add up.  Weights: the term's count in the text
 * times its smoothed inverse document frequency over the n texts given,
 * ln((1 + n) / (1 + df)) + 1 (scikit-learn's TfidfVectorizer defaults),
 * then each row scaled to unit L2 norm (an empty text gives an empty row).
 */
#ifndef HITL_EXAMPLES_TEXTVEC_H
#define HITL_EXAMPLES_TEXTVEC_H

#include <stddef.h>
#include <stdint.h>

#define TV_BITS 18 /* 2^18 columns: few collisions for 10^4..10^5 n-grams */

typedef struct tv_csr {
    size_t n, dim;
    int32_t *indptr;   /* n + 1 offsets */
    int32_t *indices;  /* increasing within each row */
    float *values;
} tv_csr;

/* Vectorise texts[0 .. n-1] (NUL-terminated) into *out with 2^bits columns
 * (1 <= bits <= 30).  Returns 0, or -1 if memory ran out or the non-zeros
 * would not fit in int32 offsets (*out is then empty). */
int tv_vectorize(tv_csr *out, const char *const *texts, size_t n, unsigned bits);

/* The column of one token (as it would be after lower-casing). */
int32_t tv_column(const char *token, size_t len, unsigned bits);

void tv_free(tv_csr *m);

#endif
