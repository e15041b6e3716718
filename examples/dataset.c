/* The data sets and helpers shared by the demo and the evaluation. */
#include "dataset.h"
#include "textvec.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define MAX_FIELDS 4096

const char *ds_program = "libhitl";

void ds_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", ds_program);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

void *ds_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        ds_fail("out of memory");
    return p;
}

double ds_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t ds_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ds_shuffle(size_t *a, size_t n, uint64_t *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(ds_rng_next(rng) % i), t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

void ds_flip_labels(int32_t *y, uint8_t *flipped, size_t n, size_t n_classes, double rate,
                    int class_conditional, uint64_t *rng)
{
    size_t *order = ds_calloc(n, sizeof *order), m = (size_t)(rate * (double)n + 0.5);
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
        flipped[i] = 0;
    }
    ds_shuffle(order, n, rng);
    for (size_t q = 0; q < m && q < n; q++) {
        size_t i = order[q], c = (size_t)y[i], to;
        if (class_conditional)
            to = (c + (c % 2 == 0 ? 1 : 3)) % n_classes;
        else
            to = (c + 1 + (size_t)(ds_rng_next(rng) % (n_classes - 1))) % n_classes;
        y[i] = (int32_t)to;
        flipped[i] = 1;
    }
    free(order);
}

void ds_queue_hits(size_t *at_m, size_t *all, const size_t *queue, size_t count,
                   const uint8_t *flipped, size_t m)
{
    *at_m = *all = 0;
    for (size_t q = 0; q < count; q++) {
        *all += flipped[queue[q]];
        *at_m += q < m && flipped[queue[q]];
    }
}

/* The fields of one line into v; their number, or 0 if the line is not
 * comma-separated finite numbers. */
static size_t parse_line(const char *line, double *v)
{
    size_t n = 0;
    const char *p = line;
    for (;;) {
        char *end;
        errno = 0;
        double x = strtod(p, &end);
        if (end == p || errno || n == MAX_FIELDS || !isfinite(x))
            return 0;
        v[n++] = x;
        if (*end == ',') {
            p = end + 1;
            continue;
        }
        return *end == '\n' || *end == '\r' || *end == '\0' ? n : 0;
    }
}

/* A line gzgets cut short (no newline) is the last line, or a sign of a
 * damaged or truncated file, or too long: which one. */
static void check_cut(gzFile f, const char *path, size_t lineno, size_t len, size_t max)
{
    int err;
    const char *msg = gzerror(f, &err);
    if (err == Z_ERRNO)
        ds_fail("%s:%zu: %s", path, lineno, strerror(errno));
    if (err != Z_OK && err != Z_STREAM_END) /* msg names the file */
        ds_fail("%s (line %zu)", msg, lineno);
    if (len == max - 1)
        ds_fail("%s:%zu: line too long", path, lineno);
}

static void add_item(dataset *ds, size_t *cap, const double *v)
{
    if (ds->n == *cap) {
        *cap = *cap ? 2 * *cap : 1024;
        float *x = realloc(ds->x, *cap * ds->dim * sizeof *x);
        int32_t *y = realloc(ds->y, *cap * sizeof *y);
        if (!x || !y)
            ds_fail("out of memory");
        ds->x = x;
        ds->y = y;
    }
    for (size_t j = 0; j < ds->dim; j++)
        ds->x[ds->n * ds->dim + j] = (float)v[j];
    ds->y[ds->n++] = (int32_t)v[ds->dim];
    if ((size_t)v[ds->dim] + 1 > ds->n_classes)
        ds->n_classes = (size_t)v[ds->dim] + 1;
}

/* v is an integer in 0 .. max. */
static int whole_in(double v, int max)
{
    return v >= 0 && v <= max && v == floor(v);
}

/* Open a data set's file; *ds emptied and named for it. */
static gzFile open_set(dataset *ds, const char *path)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        ds_fail("cannot open %s: %s", path, strerror(errno ? errno : ENOMEM));
    memset(ds, 0, sizeof *ds);
    const char *base = strrchr(path, '/');
    ds->name = base ? base + 1 : path;
    return f;
}

/* Close it after the last line, failing on a read error or too few classes. */
static void close_set(gzFile f, const dataset *ds, const char *path)
{
    int err;
    const char *msg = gzerror(f, &err);
    if (err == Z_ERRNO)
        ds_fail("%s: %s", path, strerror(errno));
    if (err != Z_OK && err != Z_STREAM_END)
        ds_fail("%s", msg);
    gzclose(f);
    if (ds->n_classes < 2)
        ds_fail("%s: need at least two classes", path);
}

/* The file's next line (in a buffer the next call reuses), NULL at the end;
 * a cut line or a read error ends the program. */
static char *next_line(gzFile f, const char *path, size_t *lineno)
{
    static char line[1 << 16];
    if (!gzgets(f, line, sizeof line))
        return NULL;
    ++*lineno;
    size_t len = strlen(line);
    if (len == 0 || line[len - 1] != '\n')
        check_cut(f, path, *lineno, len, sizeof line);
    return line;
}

void ds_load(dataset *ds, const char *path, int max_feature, int max_label)
{
    static double v[MAX_FIELDS];
    gzFile f = open_set(ds, path);
    size_t cap = 0, lineno = 0;
    char *line;
    while ((line = next_line(f, path, &lineno)) != NULL) {
        size_t nf = parse_line(line, v);
        if (nf < 2)
            ds_fail("%s:%zu: expected comma-separated numbers, features then a class",
                    path, lineno);
        if (ds->n == 0)
            ds->dim = nf - 1;
        else if (nf != ds->dim + 1)
            ds_fail("%s:%zu: %zu fields, expected %zu", path, lineno, nf, ds->dim + 1);
        for (size_t j = 0; max_feature >= 0 && j < ds->dim; j++)
            if (!whole_in(v[j], max_feature))
                ds_fail("%s:%zu: feature %zu is %g, not an integer in 0..%d", path, lineno,
                        j + 1, v[j], max_feature);
        if (!whole_in(v[nf - 1], max_label))
            ds_fail("%s:%zu: class %g is not an integer in 0..%d", path, lineno, v[nf - 1],
                    max_label);
        add_item(ds, &cap, v);
    }
    close_set(f, ds, path);
}

int ds_is_text(const char *path)
{
    size_t len = strlen(path);
    return len >= 7 && strcmp(path + len - 7, ".tsv.gz") == 0;
}

/* One line of a text set: its class into *label, a pointer to its text
 * (the line's newline removed), or NULL if the line is malformed. */
static char *parse_text_line(char *line, long *label)
{
    char *end, *tab;
    errno = 0;
    *label = strtol(line, &end, 10);
    if (end == line || *end != '\t' || errno)
        return NULL;
    tab = strchr(end + 1, '\t');
    if (!tab)
        return NULL;
    line[strcspn(line, "\r\n")] = '\0';
    return tab + 1;
}

static void add_text(dataset *ds, char ***texts, size_t *cap, const char *text, long label)
{
    if (ds->n == *cap) {
        *cap = *cap ? 2 * *cap : 1024;
        char **t = realloc(*texts, *cap * sizeof *t);
        int32_t *y = realloc(ds->y, *cap * sizeof *y);
        if (t)
            *texts = t;
        if (y)
            ds->y = y;
        if (!t || !y)
            ds_fail("out of memory");
    }
    (*texts)[ds->n] = strdup(text);
    if (!(*texts)[ds->n])
        ds_fail("out of memory");
    ds->y[ds->n++] = (int32_t)label;
    if ((size_t)label + 1 > ds->n_classes)
        ds->n_classes = (size_t)label + 1;
}

void ds_load_text(dataset *ds, const char *path, int max_label)
{
    gzFile f = open_set(ds, path);
    char **texts = NULL, *line;
    size_t cap = 0, lineno = 0;
    while ((line = next_line(f, path, &lineno)) != NULL) {
        long label;
        const char *text = parse_text_line(line, &label);
        if (!text)
            ds_fail("%s:%zu: expected a class, a tab, an id, a tab and the text", path,
                    lineno);
        if (label < 0 || label > max_label)
            ds_fail("%s:%zu: class %ld is not in 0..%d", path, lineno, label, max_label);
        add_text(ds, &texts, &cap, text, label);
    }
    close_set(f, ds, path);
    tv_csr m;
    if (tv_vectorize(&m, (const char *const *)texts, ds->n, TV_BITS) != 0)
        ds_fail("%s: out of memory vectorising %zu texts", path, ds->n);
    for (size_t i = 0; i < ds->n; i++)
        free(texts[i]);
    free(texts);
    ds->dim = m.dim;
    ds->indptr = m.indptr;
    ds->indices = m.indices;
    ds->values = m.values;
}

void ds_gather_csr(tv_csr *out, const dataset *ds, const size_t *rows, size_t n)
{
    size_t nnz = 0;
    for (size_t i = 0; i < n; i++)
        nnz += (size_t)(ds->indptr[rows[i] + 1] - ds->indptr[rows[i]]);
    out->n = n;
    out->dim = ds->dim;
    out->indptr = ds_calloc(n + 1, sizeof *out->indptr);
    out->indices = ds_calloc(nnz, sizeof *out->indices);
    out->values = ds_calloc(nnz, sizeof *out->values);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t b = ds->indptr[rows[i]], e = ds->indptr[rows[i] + 1];
        memcpy(out->indices + at, ds->indices + b, (size_t)(e - b) * sizeof *out->indices);
        memcpy(out->values + at, ds->values + b, (size_t)(e - b) * sizeof *out->values);
        at += (size_t)(e - b);
        out->indptr[i + 1] = (int32_t)at;
    }
}

void ds_free(dataset *ds)
{
    free(ds->x);
    free(ds->y);
    free(ds->indptr);
    free(ds->indices);
    free(ds->values);
    ds->x = NULL;
    ds->y = NULL;
    ds->indptr = ds->indices = NULL;
    ds->values = NULL;
}
