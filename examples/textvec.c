/* The hashing TF-IDF vectoriser of textvec.h. */
#include "textvec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static int is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c >= 0x80;
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 'a' - 'A') : c;
}

/* FNV-1a alone leaves the low bits of short keys poorly spread; the
 * splitmix finaliser fixes that before the column is cut from them. */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t token_hash(const char *s, size_t len)
{
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < len; i++)
        h = (h ^ lower((unsigned char)s[i])) * FNV_PRIME;
    return h;
}

int32_t tv_column(const char *token, size_t len, unsigned bits)
{
    return (int32_t)(mix(token_hash(token, len)) & ((1ull << bits) - 1));
}

/* Next token of text at or after *pos: its start and length (0 at the end).
 * HTML tags are skipped whole. */
static size_t next_token(const char *text, size_t *pos, const char **start)
{
    size_t i = *pos;
    for (;;) {
        while (text[i] && !is_word_byte((unsigned char)text[i]) && text[i] != '<')
            i++;
        if (text[i] == '<') {
            const char *close = strchr(text + i, '>');
            if (close) {
                i = (size_t)(close - text) + 1;
                continue;
            }
            i++;
            continue;
        }
        size_t b = i;
        while (is_word_byte((unsigned char)text[i]))
            i++;
        *pos = i;
        if (i - b >= 2 || !text[i]) {
            *start = text + b;
            return i - b >= 2 ? i - b : 0;
        }
    }
}

/* The columns of one text's unigrams and bigrams, unsorted, into *cols
 * (grown as needed); their number, or SIZE_MAX on OOM. */
static size_t text_columns(int32_t **cols, size_t *cap, const char *text, unsigned bits)
{
    uint64_t maskb = (1ull << bits) - 1, prev = 0;
    size_t n = 0, pos = 0, len;
    int have_prev = 0;
    const char *tok;
    while ((len = next_token(text, &pos, &tok)) > 0) {
        if (n + 2 > *cap) {
            size_t c = *cap ? 2 * *cap : 256;
            int32_t *p = realloc(*cols, c * sizeof *p);
            if (!p)
                return SIZE_MAX;
            *cols = p;
            *cap = c;
        }
        uint64_t h = token_hash(tok, len);
        (*cols)[n++] = (int32_t)(mix(h) & maskb);
        if (have_prev) /* order matters: "not good" is not "good not" */
            (*cols)[n++] = (int32_t)(mix(prev * FNV_PRIME ^ (h + 0x9E3779B97F4A7C15ull)) & maskb);
        prev = h;
        have_prev = 1;
    }
    return n;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Pass 1: per text, the distinct columns (sorted) with their counts as
 * values; df[c] counts the texts holding column c. */
static int count_terms(tv_csr *m, const char *const *texts, uint32_t *df, unsigned bits)
{
    int32_t *cols = NULL;
    size_t cap = 0, nnz_cap = 0;
    m->indptr[0] = 0;
    for (size_t i = 0; i < m->n; i++) {
        size_t k = text_columns(&cols, &cap, texts[i], bits), nnz = (size_t)m->indptr[i];
        if (k == SIZE_MAX || nnz + k > INT32_MAX)
            goto fail;
        if (nnz + k > nnz_cap) {
            size_t c = 2 * (nnz + k) + 1024;
            c = c > INT32_MAX ? INT32_MAX : c;
            int32_t *ix = realloc(m->indices, c * sizeof *ix);
            if (ix)
                m->indices = ix;
            float *v = realloc(m->values, c * sizeof *v);
            if (v)
                m->values = v;
            if (!ix || !v)
                goto fail;
            nnz_cap = c;
        }
        qsort(cols, k, sizeof *cols, cmp_i32);
        for (size_t j = 0; j < k; j++) {
            if (j > 0 && cols[j] == cols[j - 1]) {
                m->values[nnz - 1] += 1;
                continue;
            }
            m->indices[nnz] = cols[j];
            m->values[nnz++] = 1;
            df[cols[j]]++;
        }
        m->indptr[i + 1] = (int32_t)nnz;
    }
    free(cols);
    return 0;
fail:
    free(cols);
    return -1;
}

/* Pass 2: counts times idf, each row to unit L2 norm. */
static void weigh(tv_csr *m, const uint32_t *df)
{
    for (size_t i = 0; i < m->n; i++) {
        double ss = 0;
        for (int32_t p = m->indptr[i]; p < m->indptr[i + 1]; p++) {
            double idf = log((1.0 + (double)m->n) / (1.0 + df[m->indices[p]])) + 1.0;
            m->values[p] = (float)(m->values[p] * idf);
            ss += (double)m->values[p] * m->values[p];
        }
        double scale = ss > 0 ? 1 / sqrt(ss) : 0;
        for (int32_t p = m->indptr[i]; p < m->indptr[i + 1]; p++)
            m->values[p] = (float)(m->values[p] * scale);
    }
}

int tv_vectorize(tv_csr *out, const char *const *texts, size_t n, unsigned bits)
{
    memset(out, 0, sizeof *out);
    if (bits < 1 || bits > 30 || n >= SIZE_MAX / sizeof(int32_t) - 1)
        return -1;
    out->n = n;
    out->dim = (size_t)1 << bits;
    out->indptr = malloc((n + 1) * sizeof *out->indptr);
    uint32_t *df = calloc(out->dim, sizeof *df);
    if (!out->indptr || !df || count_terms(out, texts, df, bits) != 0) {
        free(df);
        tv_free(out);
        return -1;
    }
    weigh(out, df);
    free(df);
    return 0;
}

void tv_free(tv_csr *m)
{
    free(m->indptr);
    free(m->indices);
    free(m->values);
    memset(m, 0, sizeof *m);
}
