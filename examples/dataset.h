/*
 * What the demo (examples/demo.c) and the strategy evaluation (bench/eval.c)
 * share: the data sets of data/ read from their gzip-compressed CSV, a seeded
 * generator, and the few helpers of a program that stops on the first error.
 * Not part of the library.
 */
#ifndef HITL_EXAMPLES_DATASET_H
#define HITL_EXAMPLES_DATASET_H

#include <stddef.h>
#include <stdint.h>

/* The program's name in messages ("demo: ..."); set it first. */
extern const char *ds_program;

/* Print "program: message" on stderr and exit with status 2 (bad input,
 * out of memory: the program could not do its job). */
void ds_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* calloc that never returns NULL (and never asks for 0 bytes). */
void *ds_calloc(size_t n, size_t size);

/* Seconds on the monotonic clock. */
double ds_seconds(void);

/* splitmix64: a small seeded generator, the same everywhere. */
uint64_t ds_rng_next(uint64_t *state);

/* Fisher-Yates shuffle of a[0 .. n-1] with ds_rng_next. */
void ds_shuffle(size_t *a, size_t n, uint64_t *rng);

/* Flip round(rate n) of the labels y[0 .. n-1] in place, the items drawn
 * uniformly: to a uniformly drawn other class (symmetric noise), or with
 * class_conditional to a fixed other class, c -> c + 1 for even c and
 * c -> c + 3 for odd c (mod n_classes: structured noise, as between
 * look-alike digits).  flipped[i] = 1 for the flipped items, else 0. */
void ds_flip_labels(int32_t *y, uint8_t *flipped, size_t n, size_t n_classes, double rate,
                    int class_conditional, uint64_t *rng);

/* A re-check queue of `count` item indices (most probably wrong first)
 * against the flipped items: *at_m = flipped items among its first m (at
 * the true noise rate, m = the number flipped: precision and recall are
 * both *at_m / m), *all = flipped items in the whole queue. */
void ds_queue_hits(size_t *at_m, size_t *all, const size_t *queue, size_t count,
                   const uint8_t *flipped, size_t m);

typedef struct dataset {
    const char *name;  /* the file's base name */
    size_t n, dim, n_classes;
    float *x;          /* n x dim, as read; NULL for a text set */
    int32_t *y;        /* n labels */
    /* A text set (ds_load_text): its rows in CSR form (see textvec.h). */
    int32_t *indptr, *indices;
    float *values;
} dataset;

/* Read a gzip-compressed CSV, one item per line: finite numbers separated
 * by commas, the last one the class, an integer in 0 .. max_label; with
 * max_feature >= 0 every feature must be an integer in 0 .. max_feature
 * too (any finite number when it is negative).  Every line has the same
 * number of fields; at least two classes.  Any error
 * (unreadable, truncated or malformed file) ends the program through
 * ds_fail, naming the file and line. */
void ds_load(dataset *ds, const char *path, int max_feature, int max_label);

/* Read a gzip-compressed text set, one item per line: the class (an
 * integer in 0 .. max_label), a tab, an id field, a tab, the text (see
 * data/README, finefoods.tsv.gz), and vectorise the texts into 2^TV_BITS
 * hashed TF-IDF columns (textvec.h).  Errors end the program as for
 * ds_load. */
void ds_load_text(dataset *ds, const char *path, int max_label);

/* Is the data set's file a text set (its name ends in .tsv.gz)? */
int ds_is_text(const char *path);

/* The CSR rows rows[0 .. n-1] of a text set gathered into *out (free it
 * with tv_free). */
struct tv_csr;
void ds_gather_csr(struct tv_csr *out, const dataset *ds, const size_t *rows, size_t n);

void ds_free(dataset *ds);

#endif
