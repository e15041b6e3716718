/* Pool: items, rows in chunks, ids and their map, states, and that every
 * failed call leaves the pool exactly as it was.  The white-box checks read
 * struct hitl_pool (lib/data/data.h) to prove the memory design: no id map
 * while ids are indices, small batches sharing chunks. */
#include "internal.h"
#include "testutil.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Feature j of item i: exact in float for i < 2^17, j < 64. */
static float val(size_t i, size_t j)
{
    return (float)(i % 100003) + (float)j / 64.0f;
}

/* n rows of item values first.. with `stride`; the padding past dim holds
 * NaN, which the pool must neither read nor copy. */
static float *make_rows(size_t n, size_t stride, size_t dim, size_t first)
{
    float *r = malloc((n ? n : 1) * stride * sizeof *r);
    ck_assert_ptr_nonnull(r);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < stride; j++)
            r[i * stride + j] = j < dim ? val(first + i, j) : NAN;
    return r;
}

static hitl_pool *new_pool(size_t dim)
{
    hitl_pool *p = NULL;
    ck_assert_int_eq(hitl_pool_create(&p, dim), HITL_OK);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Append n items whose rows are val(index, j) and whose ids are NULL. */
static void add_items(hitl_pool *p, size_t n, size_t stride)
{
    size_t size, dim;
    ck_assert_int_eq(hitl_pool_size(&size, p), HITL_OK);
    ck_assert_int_eq(hitl_pool_dim(&dim, p), HITL_OK);
    float *r = make_rows(n, stride, dim, size);
    ck_assert_int_eq(hitl_pool_add(p, r, n, stride, NULL), HITL_OK);
    free(r);
}

static void check_rows(const hitl_pool *p, size_t first, size_t n)
{
    size_t dim;
    ck_assert_int_eq(hitl_pool_dim(&dim, p), HITL_OK);
    /* ck_abort only on failure: a ck_assert per value would cost a write. */
    for (size_t i = first; i < first + n; i++) {
        const float *row = NULL;
        if (hitl_pool_row(&row, p, i) != HITL_OK)
            ck_abort_msg("hitl_pool_row(%zu): %s", i, hitl_error_message());
        for (size_t j = 0; j < dim; j++)
            if (row[j] != val(i, j))
                ck_abort_msg("item %zu col %zu: %g != %g", i, j,
                             (double)row[j], (double)val(i, j));
    }
}

/* Whether id is found at index `want` (or, for want SIZE_MAX, not found). */
static int found_at(const hitl_pool *p, uint64_t id, size_t want)
{
    size_t at = SIZE_MAX;
    int status = hitl_pool_find(&at, p, id);
    if (want == SIZE_MAX)
        return status == HITL_ENOTFOUND && at == SIZE_MAX;
    return status == HITL_OK && at == want;
}

static void msg_has(const char *part)
{
    ck_assert_msg(strstr(hitl_error_message(), part) != NULL,
                  "message \"%s\" lacks \"%s\"", hitl_error_message(), part);
}

/* ---- snapshots: "the pool is unchanged" ---------------------------------- */

typedef struct snap {
    size_t n, dim, count[3];
    uint64_t *id;
    int state[1 << 12];
    int32_t label[1 << 12];
    float weight[1 << 12];
    const float *row[1 << 12];
    float *rows;
} snap;

static snap *snap_take(const hitl_pool *p)
{
    snap *s = calloc(1, sizeof *s);
    ck_assert_int_eq(hitl_pool_size(&s->n, p), HITL_OK);
    ck_assert_int_eq(hitl_pool_dim(&s->dim, p), HITL_OK);
    ck_assert_uint_le(s->n, 1 << 12);
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(hitl_pool_count(&s->count[k], p, (hitl_item_state)k),
                         HITL_OK);
    s->id = malloc((s->n + 1) * sizeof *s->id);
    s->rows = malloc((s->n * s->dim + 1) * sizeof *s->rows);
    for (size_t i = 0; i < s->n; i++) {
        hitl_item_state st;
        ck_assert_int_eq(hitl_pool_item(&s->id[i], &st, &s->label[i], p, i),
                         HITL_OK);
        s->state[i] = st;
        ck_assert_int_eq(hitl_pool_weight(&s->weight[i], p, i), HITL_OK);
        ck_assert_int_eq(hitl_pool_row(&s->row[i], p, i), HITL_OK);
        memcpy(s->rows + i * s->dim, s->row[i], s->dim * sizeof(float));
    }
    return s;
}

/* Assert p matches s, that every id is found at its index, and free s. */
static void snap_check(snap *s, const hitl_pool *p)
{
    size_t n, dim, c;
    ck_assert_int_eq(hitl_pool_size(&n, p), HITL_OK);
    ck_assert_int_eq(hitl_pool_dim(&dim, p), HITL_OK);
    ck_assert_uint_eq(n, s->n);
    ck_assert_uint_eq(dim, s->dim);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(hitl_pool_count(&c, p, (hitl_item_state)k), HITL_OK);
        ck_assert_uint_eq(c, s->count[k]);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t id = 0;
        hitl_item_state st = HITL_ITEM_UNLABELED;
        int32_t label = 0;
        float weight = 0;
        const float *row = NULL;
        if (hitl_pool_item(&id, &st, &label, p, i) != HITL_OK ||
            hitl_pool_weight(&weight, p, i) != HITL_OK || id != s->id[i] ||
            (int)st != s->state[i] || label != s->label[i] ||
            weight != s->weight[i] || weight != p->weight[i])
            ck_abort_msg("item %zu changed", i);
        if (hitl_pool_row(&row, p, i) != HITL_OK || row != s->row[i] ||
            memcmp(row, s->rows + i * dim, dim * sizeof(float)) != 0)
            ck_abort_msg("row %zu changed", i);
        if (!found_at(p, id, i))
            ck_abort_msg("id %" PRIu64 " of item %zu is not found there", id,
                         i);
    }
    free(s->id);
    free(s->rows);
    free(s);
}

/* ---- happy paths ------------------------------------------------------------ */

START_TEST(test_create)
{
    hitl_pool *p = new_pool(7);
    size_t n = 99, dim = 0;
    ck_assert_int_eq(hitl_pool_size(&n, p), HITL_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(hitl_pool_dim(&dim, p), HITL_OK);
    ck_assert_uint_eq(dim, 7);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(hitl_pool_count(&n, p, (hitl_item_state)k), HITL_OK);
        ck_assert_uint_eq(n, 0);
    }
    ck_assert_int_eq(hitl_pool_find(&n, p, 0), HITL_ENOTFOUND);
    hitl_pool_free(p);
    hitl_pool_free(NULL);
}
END_TEST

START_TEST(test_add_copies)
{
    hitl_pool *p = new_pool(3);
    float *r = make_rows(4, 5, 3, 0);
    ck_assert_int_eq(hitl_pool_add(p, r, 4, 5, NULL), HITL_OK);
    /* The pool owns a copy: scribbling on the input changes nothing. */
    for (size_t k = 0; k < 4 * 5; k++)
        r[k] = -1.0f;
    size_t n;
    ck_assert_int_eq(hitl_pool_size(&n, p), HITL_OK);
    ck_assert_uint_eq(n, 4);
    check_rows(p, 0, 4);
    for (size_t i = 0; i < 4; i++) {
        uint64_t id = 99;
        hitl_item_state st = HITL_ITEM_SKIPPED;
        int32_t label = 5;
        const float *row;
        ck_assert_int_eq(hitl_pool_item(&id, &st, &label, p, i), HITL_OK);
        ck_assert_uint_eq(id, i);
        ck_assert_int_eq(st, HITL_ITEM_UNLABELED);
        ck_assert_int_eq(label, -1);
        float w = 0;
        ck_assert_int_eq(hitl_pool_weight(&w, p, i), HITL_OK);
        ck_assert(w == 1.0f);
        ck_assert_int_eq(hitl_pool_row(&row, p, i), HITL_OK);
        ck_assert(row < r || row >= r + 4 * 5);
        ck_assert(found_at(p, i, i));
    }
    /* Any out-pointer of hitl_pool_item may be NULL. */
    ck_assert_int_eq(hitl_pool_item(NULL, NULL, NULL, p, 3), HITL_OK);
    ck_assert_int_eq(hitl_pool_count(&n, p, HITL_ITEM_UNLABELED), HITL_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(hitl_pool_find(&n, p, 4), HITL_ENOTFOUND);
    msg_has("hitl_pool_find: no item has id 4");
    free(r);
    hitl_pool_free(p);
}
END_TEST

START_TEST(test_add_nothing)
{
    hitl_pool *p = new_pool(2);
    add_items(p, 3, 2);
    snap *s = snap_take(p);
    ck_assert_int_eq(hitl_pool_add(p, NULL, 0, 2, NULL), HITL_OK);
    ck_assert_int_eq(hitl_pool_add_borrowed(p, NULL, 0, 9, NULL), HITL_OK);
    snap_check(s, p);
    ck_assert_uint_eq(p->n_chunks, 1);
    hitl_pool_free(p);
}
END_TEST

START_TEST(test_borrowed_not_copied)
{
    hitl_pool *p = new_pool(3);
    float *r = make_rows(6, 4, 3, 0);
    ck_assert_int_eq(hitl_pool_add_borrowed(p, r, 6, 4, NULL), HITL_OK);
    check_rows(p, 0, 6);
    for (size_t i = 0; i < 6; i++) {
        const float *row;
        ck_assert_int_eq(hitl_pool_row(&row, p, i), HITL_OK);
        ck_assert_ptr_eq(row, r + i * 4);
    }
    r[4 * 5 + 2] = 123.0f;    /* the pool sees the caller's memory */
    const float *row;
    ck_assert_int_eq(hitl_pool_row(&row, p, 5), HITL_OK);
    ck_assert(row[2] == 123.0f);
    hitl_pool_free(p);
    free(r);                  /* borrowed rows outlive the pool untouched */
}
END_TEST

/* Copied and borrowed batches of different strides, and a stream of single
 * items: every row reads back exactly across chunk boundaries, borrowed rows
 * in place, and the singles share a few chunks rather than one each. */
START_TEST(test_chunks)
{
    const size_t dim = 5;
    hitl_pool *p = new_pool(dim);
    float *keep[4];
    size_t kfirst[4], kn[4], kstride[4], nk = 0, size = 0;
    struct { int borrowed; size_t n, stride; } plan[] = {
        {0, 3, 5}, {1, 4, 9}, {0, 2, 7}, {0, 1, 5}, {1, 1, 5},
        {0, 10, 6}, {1, 7, 5}, {0, 6, 11}, {1, 300, 8}, {0, 1, 5},
    };
    for (size_t b = 0; b < sizeof plan / sizeof plan[0]; b++) {
        float *r = make_rows(plan[b].n, plan[b].stride, dim, size);
        if (plan[b].borrowed) {
            ck_assert_int_eq(hitl_pool_add_borrowed(p, r, plan[b].n,
                                                    plan[b].stride, NULL),
                             HITL_OK);
            keep[nk] = r;
            kfirst[nk] = size;
            kn[nk] = plan[b].n;
            kstride[nk++] = plan[b].stride;
        } else {
            ck_assert_int_eq(hitl_pool_add(p, r, plan[b].n, plan[b].stride,
                                           NULL), HITL_OK);
            free(r);
        }
        size += plan[b].n;
    }
    size_t chunks_before = p->n_chunks;
    for (int k = 0; k < 1000; k++) {
        add_items(p, 1, dim + (size_t)k % 3);
        size++;
    }
    /* 1000 singles fill geometrically sized chunks: about log2(1000). */
    ck_assert_uint_le(p->n_chunks - chunks_before, 12);
    size_t n;
    ck_assert_int_eq(hitl_pool_size(&n, p), HITL_OK);
    ck_assert_uint_eq(n, size);
    check_rows(p, 0, size);
    for (size_t k = 0; k < nk; k++)
        for (size_t i = 0; i < kn[k]; i++) {
            const float *row;
            ck_assert_int_eq(hitl_pool_row(&row, p, kfirst[k] + i), HITL_OK);
            ck_assert_ptr_eq(row, keep[k] + i * kstride[k]);
        }
    hitl_pool_free(p);
    for (size_t k = 0; k < nk; k++)
        free(keep[k]);
}
END_TEST

/* Ids that equal their index need no map; the first one that differs builds
 * it, and every id (old index ids, explicit ids, later index ids) is found. */
START_TEST(test_id_map_switch)
{
    hitl_pool *p = new_pool(2);
    add_items(p, 10, 2);
    float *r = make_rows(5, 2, 2, 10);
    uint64_t same[5] = {10, 11, 12, 13, 14};
    ck_assert_int_eq(hitl_pool_add(p, r, 5, 2, same), HITL_OK);
    ck_assert_uint_eq(p->map_cap, 0);
    ck_assert(found_at(p, 14, 14));
    ck_assert(found_at(p, 15, SIZE_MAX));
    free(r);

    uint64_t ids[4] = {1000, UINT64_MAX, 15, 7777};
    r = make_rows(4, 2, 2, 15);
    ck_assert_int_eq(hitl_pool_add(p, r, 4, 2, ids), HITL_OK);
    free(r);
    ck_assert_uint_gt(p->map_cap, 0);
    add_items(p, 3, 2);      /* index ids 19, 20, 21, now through the map */
    for (size_t i = 0; i < 15; i++) {
        ck_assert(found_at(p, i, i));
    }
    for (size_t i = 0; i < 4; i++) {
        uint64_t id;
        ck_assert(found_at(p, ids[i], 15 + i));
        ck_assert_int_eq(hitl_pool_item(&id, NULL, NULL, p, 15 + i), HITL_OK);
        ck_assert_uint_eq(id, ids[i]);
    }
    for (size_t i = 19; i < 22; i++) {
        ck_assert(found_at(p, i, i));
    }
    ck_assert(found_at(p, 16, SIZE_MAX));
    ck_assert(found_at(p, 22, SIZE_MAX));
    ck_assert(found_at(p, UINT64_MAX - 1, SIZE_MAX));
    check_rows(p, 0, 22);
    hitl_pool_free(p);
}
END_TEST

START_TEST(test_labels_states_weights)
{
    hitl_pool *p = new_pool(1);
    add_items(p, 6, 1);
    size_t n;
    hitl_item_state st;
    int32_t label;
    ck_assert_int_eq(hitl_pool_set_label(p, 2, 4), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_label(p, 3, 0), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_label(p, 3, 7), HITL_OK); /* relabel */
    ck_assert_int_eq(hitl_pool_set_state(p, 5, HITL_ITEM_SKIPPED), HITL_OK);
    ck_assert_int_eq(hitl_pool_item(NULL, &st, &label, p, 3), HITL_OK);
    ck_assert_int_eq(st, HITL_ITEM_LABELED);
    ck_assert_int_eq(label, 7);
    ck_assert_int_eq(hitl_pool_item(NULL, &st, &label, p, 5), HITL_OK);
    ck_assert_int_eq(st, HITL_ITEM_SKIPPED);
    ck_assert_int_eq(label, -1);
    ck_assert_int_eq(hitl_pool_count(&n, p, HITL_ITEM_LABELED), HITL_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(hitl_pool_count(&n, p, HITL_ITEM_SKIPPED), HITL_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(hitl_pool_count(&n, p, HITL_ITEM_UNLABELED), HITL_OK);
    ck_assert_uint_eq(n, 3);

    /* LABELED on a labeled item is a no-op; leaving LABELED forgets. */
    ck_assert_int_eq(hitl_pool_set_state(p, 2, HITL_ITEM_LABELED), HITL_OK);
    ck_assert_int_eq(hitl_pool_item(NULL, &st, &label, p, 2), HITL_OK);
    ck_assert_int_eq(label, 4);
    ck_assert_int_eq(hitl_pool_set_state(p, 2, HITL_ITEM_SKIPPED), HITL_OK);
    ck_assert_int_eq(hitl_pool_item(NULL, &st, &label, p, 2), HITL_OK);
    ck_assert_int_eq(st, HITL_ITEM_SKIPPED);
    ck_assert_int_eq(label, -1);
    ck_assert_int_eq(hitl_pool_set_state(p, 5, HITL_ITEM_UNLABELED), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_label(p, 5, 1), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_state(p, 3, HITL_ITEM_UNLABELED), HITL_OK);
    ck_assert_int_eq(hitl_pool_item(NULL, &st, &label, p, 3), HITL_OK);
    ck_assert_int_eq(st, HITL_ITEM_UNLABELED);
    ck_assert_int_eq(label, -1);
    size_t total = 0;
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(hitl_pool_count(&n, p, (hitl_item_state)k), HITL_OK);
        total += n;
    }
    ck_assert_uint_eq(total, 6);
    ck_assert_int_eq(hitl_pool_count(&n, p, HITL_ITEM_LABELED), HITL_OK);
    ck_assert_uint_eq(n, 1);

    ck_assert_int_eq(hitl_pool_set_weight(p, 0, 2.5f), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_weight(p, 1, 1e-30f), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_weight(p, 4, 0x1p-149f), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_weight(p, 4, 3e38f), HITL_OK); /* the last set wins */
    const float want[6] = {2.5f, 1e-30f, 1.0f, 1.0f, 3e38f, 1.0f};
    for (size_t i = 0; i < 6; i++) {
        float w = -1;
        ck_assert_int_eq(hitl_pool_weight(&w, p, i), HITL_OK);
        ck_assert_msg(w == want[i], "weight of item %zu is %g, not %g", i,
                      (double)w, (double)want[i]);
        ck_assert(w == p->weight[i]);
    }
    /* Weights survive state changes. */
    float w = -1;
    ck_assert_int_eq(hitl_pool_set_label(p, 0, 3), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_state(p, 1, HITL_ITEM_SKIPPED), HITL_OK);
    ck_assert_int_eq(hitl_pool_weight(&w, p, 0), HITL_OK);
    ck_assert(w == 2.5f);
    ck_assert_int_eq(hitl_pool_weight(&w, p, 1), HITL_OK);
    ck_assert(w == 1e-30f);
    hitl_pool_free(p);
}
END_TEST

/* ---- errors: each leaves the pool unchanged and usable ----------------------- */

START_TEST(test_create_errors)
{
    hitl_pool *p = (hitl_pool *)&p;   /* a sentinel that must stay put */
    ck_assert_int_eq(hitl_pool_create(NULL, 3), HITL_EINVAL);
    msg_has("hitl_pool_create: out is NULL");
    ck_assert_int_eq(hitl_pool_create(&p, 0), HITL_EINVAL);
    msg_has("dim is 0");
    ck_assert_ptr_eq(p, (hitl_pool *)&p);
    ck_assert_int_eq(hitl_pool_create(&p, SIZE_MAX / 2), HITL_EINVAL);
    msg_has("too large");
    ck_assert_ptr_eq(p, (hitl_pool *)&p);
}
END_TEST

/* A pool in the given id mode with some labels, to break. */
static hitl_pool *pool_to_break(int with_map)
{
    hitl_pool *p = new_pool(3);
    add_items(p, 20, 3);
    if (with_map) {
        uint64_t ids[3] = {500, 501, 502};
        float *r = make_rows(3, 3, 3, 20);
        ck_assert_int_eq(hitl_pool_add(p, r, 3, 3, ids), HITL_OK);
        free(r);
        ck_assert_uint_gt(p->map_cap, 0);
    }
    ck_assert_int_eq(hitl_pool_set_label(p, 1, 2), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_state(p, 4, HITL_ITEM_SKIPPED), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_weight(p, 6, 3.0f), HITL_OK);
    return p;
}

typedef int (*add_fn)(hitl_pool *, const float *, size_t, size_t,
                      const uint64_t *);

START_TEST(test_add_errors)
{
    add_fn add = _i & 1 ? hitl_pool_add_borrowed : hitl_pool_add;
    const char *name = _i & 1 ? "hitl_pool_add_borrowed: " : "hitl_pool_add: ";
    hitl_pool *p = pool_to_break(_i >> 1);
    size_t size = p->n;
    snap *s = snap_take(p);
    float *r = make_rows(4, 3, 3, size);
    char want[128];

    ck_assert_int_eq(add(NULL, r, 4, 3, NULL), HITL_EINVAL);
    msg_has("pool is NULL");
    ck_assert_int_eq(add(p, NULL, 4, 3, NULL), HITL_EINVAL);
    snprintf(want, sizeof want, "%srows is NULL with n = 4", name);
    ck_assert_str_eq(hitl_error_message(), want);
    ck_assert_int_eq(add(p, r, 4, 2, NULL), HITL_EINVAL);
    msg_has("stride 2 < dim 3");
    ck_assert_int_eq(add(p, r, 0, 2, NULL), HITL_EINVAL);
    /* Sizes past the address space are refused before any row is read. */
    ck_assert_int_eq(add(p, r, SIZE_MAX / 8, 3, NULL), HITL_EINVAL);
    msg_has("do not fit in memory");
    ck_assert_int_eq(add(p, r, 2, SIZE_MAX / 4, NULL), HITL_EINVAL);
    ck_assert_int_eq(add(p, r, SIZE_MAX, 3, NULL), HITL_EINVAL);
    snap_check(s, p);

    /* NaN, Inf, -Inf: the message names batch row and column. */
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    const char *word[3] = {"NaN", "Inf", "-Inf"};
    for (int k = 0; k < 3; k++) {
        s = snap_take(p);
        r[2 * 3 + 1] = bad[k];
        ck_assert_int_eq(add(p, r, 4, 3, NULL), HITL_ENUMERIC);
        snprintf(want, sizeof want, "%srows[2][1] is %s", name, word[k]);
        ck_assert_str_eq(hitl_error_message(), want);
        r[2 * 3 + 1] = val(size + 2, 1);
        r[3 * 3 + 2] = bad[k];     /* the last value of the batch */
        ck_assert_int_eq(add(p, r, 4, 3, NULL), HITL_ENUMERIC);
        msg_has("rows[3][2]");
        r[3 * 3 + 2] = val(size + 3, 2);
        snap_check(s, p);
    }

    /* Duplicate ids: in the batch, against the pool, index ids taken. */
    s = snap_take(p);
    uint64_t in_batch[4] = {900, 901, 902, 901};
    ck_assert_int_eq(add(p, r, 4, 3, in_batch), HITL_EINVAL);
    msg_has("ids[3] = 901 repeats ids[1]");
    uint64_t taken[4] = {903, 904, 7, 905};
    ck_assert_int_eq(add(p, r, 4, 3, taken), HITL_EINVAL);
    msg_has("ids[2] = 7 is already the id of item 7");
    snap_check(s, p);
    /* The ids staged before the duplicate are gone again. */
    ck_assert(found_at(p, 900, SIZE_MAX));
    ck_assert(found_at(p, 903, SIZE_MAX));
    ck_assert(found_at(p, 904, SIZE_MAX));

    /* Still usable: the same batch goes in once it is valid. */
    if (!(_i >> 1))
        ck_assert_uint_eq(p->map_cap, 0);
    in_batch[3] = 999;
    ck_assert_int_eq(add(p, r, 4, 3, in_batch), HITL_OK);
    for (size_t i = 0; i < 4; i++) {
        ck_assert(found_at(p, in_batch[i], size + i));
    }
    check_rows(p, 0, 20);
    check_rows(p, size, 4);
    if (_i & 1) {                 /* borrowed: r must outlive the pool */
        hitl_pool_free(p);
        free(r);
    } else {
        free(r);
        hitl_pool_free(p);
    }
}
END_TEST

/* With ids NULL the new items take their indices as ids; one that an
 * explicit id already holds is a duplicate, and the index ids inserted before
 * it are taken out of the map again. */
START_TEST(test_index_id_taken)
{
    hitl_pool *p = new_pool(2);
    uint64_t five = 5;
    float *r = make_rows(8, 2, 2, 0);
    ck_assert_int_eq(hitl_pool_add(p, r, 1, 2, &five), HITL_OK);
    snap *s = snap_take(p);
    ck_assert_int_eq(hitl_pool_add(p, r, 8, 2, NULL), HITL_EINVAL);
    msg_has("hitl_pool_add: ids is NULL, so rows[4] would get its index 5 as "
            "id, which item 0 already has");
    snap_check(s, p);
    for (uint64_t id = 1; id < 5; id++)
        ck_assert(found_at(p, id, SIZE_MAX));
    ck_assert_int_eq(hitl_pool_add(p, r, 4, 2, NULL), HITL_OK);
    ck_assert(found_at(p, 4, 4));
    ck_assert(found_at(p, 0, SIZE_MAX));
    free(r);
    hitl_pool_free(p);
}
END_TEST

/* A NaN batch that would have gone into the last chunk's spare room leaves
 * that room free and clean for the next add. */
START_TEST(test_nan_in_tail_room)
{
    hitl_pool *p = new_pool(4);
    add_items(p, 40, 4);
    add_items(p, 1, 4);              /* a chunk with spare room */
    ck_assert_uint_gt(p->tail_room, 2);
    snap *s = snap_take(p);
    float *r = make_rows(2, 4, 4, 41);
    r[5] = NAN;
    ck_assert_int_eq(hitl_pool_add(p, r, 2, 4, NULL), HITL_ENUMERIC);
    msg_has("rows[1][1] is NaN");
    snap_check(s, p);
    r[5] = val(42, 1);
    ck_assert_int_eq(hitl_pool_add(p, r, 2, 4, NULL), HITL_OK);
    check_rows(p, 0, 43);
    free(r);
    hitl_pool_free(p);
}
END_TEST

START_TEST(test_item_errors)
{
    hitl_pool *p = pool_to_break(_i);
    size_t n = p->n, out;
    uint64_t id;
    const float *row;
    snap *s = snap_take(p);

    ck_assert_int_eq(hitl_pool_size(NULL, p), HITL_EINVAL);
    msg_has("hitl_pool_size: n is NULL");
    ck_assert_int_eq(hitl_pool_size(&out, NULL), HITL_EINVAL);
    msg_has("hitl_pool_size: pool is NULL");
    ck_assert_int_eq(hitl_pool_dim(NULL, p), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_dim(&out, NULL), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_count(NULL, p, HITL_ITEM_LABELED), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_count(&out, NULL, HITL_ITEM_LABELED),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_count(&out, p, (hitl_item_state)3), HITL_EINVAL);
    msg_has("hitl_pool_count: unknown state 3");
    ck_assert_int_eq(hitl_pool_count(&out, p, (hitl_item_state)-1),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_find(NULL, p, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_find(&out, NULL, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_find(&out, p, n), HITL_ENOTFOUND);
    ck_assert_int_eq(hitl_pool_find(&out, p, UINT64_MAX), HITL_ENOTFOUND);
    msg_has("no item has id 18446744073709551615");
    ck_assert_int_eq(hitl_pool_item(&id, NULL, NULL, NULL, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_item(&id, NULL, NULL, p, n), HITL_EINVAL);
    if (n == 20)
        msg_has("hitl_pool_item: index 20 >= pool size 20");
    ck_assert_int_eq(hitl_pool_item(&id, NULL, NULL, p, SIZE_MAX), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_row(NULL, p, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_row(&row, NULL, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_row(&row, p, n), HITL_EINVAL);

    ck_assert_int_eq(hitl_pool_set_label(NULL, 0, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_label(p, n, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_label(p, 0, -1), HITL_EINVAL);
    msg_has("hitl_pool_set_label: label -1 of item 0 is < 0");
    ck_assert_int_eq(hitl_pool_set_label(p, 1, INT32_MIN), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_state(NULL, 0, HITL_ITEM_SKIPPED),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_state(p, n, HITL_ITEM_SKIPPED), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_state(p, 0, (hitl_item_state)3),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_state(p, 1, (hitl_item_state)-1),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_state(p, 0, HITL_ITEM_LABELED), HITL_EINVAL);
    msg_has("hitl_pool_set_state: item 0 has no label");
    ck_assert_int_eq(hitl_pool_set_state(p, 4, HITL_ITEM_LABELED), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_weight(NULL, 0, 1.0f), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_weight(p, n, 1.0f), HITL_EINVAL);
    const float bad[] = {0.0f, -0.0f, -1.0f, NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        ck_assert_int_eq(hitl_pool_set_weight(p, 6, bad[k]), HITL_EINVAL);
    msg_has("hitl_pool_set_weight: weight -inf of item 6");
    float w = -7.0f;
    ck_assert_int_eq(hitl_pool_weight(NULL, p, 0), HITL_EINVAL);
    msg_has("hitl_pool_weight: weight is NULL");
    ck_assert_int_eq(hitl_pool_weight(&w, NULL, 0), HITL_EINVAL);
    msg_has("hitl_pool_weight: pool is NULL");
    ck_assert_int_eq(hitl_pool_weight(&w, p, n), HITL_EINVAL);
    if (n == 20)
        msg_has("hitl_pool_weight: index 20 >= pool size 20");
    ck_assert_int_eq(hitl_pool_weight(&w, p, SIZE_MAX), HITL_EINVAL);
    ck_assert(w == -7.0f);    /* written only on success */
    ck_assert_int_eq(hitl_pool_weight(&w, p, 6), HITL_OK);
    ck_assert(w == 3.0f);
    snap_check(s, p);

    /* Usable afterwards. */
    ck_assert_int_eq(hitl_pool_set_label(p, 0, 1), HITL_OK);
    ck_assert_int_eq(hitl_pool_count(&out, p, HITL_ITEM_LABELED), HITL_OK);
    ck_assert_uint_eq(out, 2);
    hitl_pool_free(p);
}
END_TEST

/* ---- many items at once --------------------------------------------------------- */

/* The bulk reads agree with the one-item calls, over copied and borrowed
 * chunks and a range that starts inside a chunk. */
START_TEST(test_bulk_read)
{
    hitl_pool *p = pool_to_break(1);
    float *b = make_rows(5, 4, 3, 23);
    ck_assert_int_eq(hitl_pool_add_borrowed(p, b, 5, 4, NULL), HITL_OK);
    size_t n = p->n, first = 2, m = n - first;
    uint64_t ids[28];
    hitl_item_state st[28];
    int32_t lab[28];
    float w[28], rows[28 * 3];
    ck_assert_int_eq(hitl_pool_items(ids, st, lab, p, first, m), HITL_OK);
    ck_assert_int_eq(hitl_pool_weights(w, p, first, m), HITL_OK);
    ck_assert_int_eq(hitl_pool_copy_rows(rows, p, first, m), HITL_OK);
    for (size_t i = 0; i < m; i++) {
        uint64_t id;
        hitl_item_state s1;
        int32_t l1;
        float w1;
        const float *row;
        ck_assert_int_eq(hitl_pool_item(&id, &s1, &l1, p, first + i), HITL_OK);
        ck_assert_int_eq(hitl_pool_weight(&w1, p, first + i), HITL_OK);
        ck_assert_int_eq(hitl_pool_row(&row, p, first + i), HITL_OK);
        ck_assert(ids[i] == id && st[i] == s1 && lab[i] == l1 && w[i] == w1);
        ck_assert(memcmp(rows + i * 3, row, 3 * sizeof *row) == 0);
    }
    /* Any output may be left out; an empty range at the end is fine. */
    ck_assert_int_eq(hitl_pool_items(NULL, NULL, lab, p, 0, n), HITL_OK);
    ck_assert_int_eq(hitl_pool_items(NULL, NULL, NULL, p, n, 0), HITL_OK);
    ck_assert_int_eq(hitl_pool_weights(NULL, p, n, 0), HITL_OK);
    ck_assert_int_eq(hitl_pool_copy_rows(NULL, p, 3, 0), HITL_OK);
    hitl_pool_free(p);
    free(b);
}
END_TEST

START_TEST(test_bulk_write)
{
    hitl_pool *p = pool_to_break(0);
    const size_t idx[4] = {0, 9, 4, 9};
    const int32_t lab[4] = {3, 1, 0, 5};
    const float w[4] = {2.0f, 0.5f, 7.0f, 4.0f};
    size_t labeled;
    ck_assert_int_eq(hitl_pool_set_labels(p, idx, lab, 4), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_weights(p, idx, w, 4), HITL_OK);
    ck_assert_int_eq(p->label[0], 3);
    ck_assert_int_eq(p->label[4], 0);     /* SKIPPED before */
    ck_assert_int_eq(p->label[9], 5);     /* the last entry wins */
    ck_assert(p->weight[9] == 4.0f && p->weight[4] == 7.0f);
    ck_assert_int_eq(hitl_pool_count(&labeled, p, HITL_ITEM_LABELED), HITL_OK);
    ck_assert_uint_eq(labeled, 4);        /* 1, 0, 4, 9 */
    ck_assert_int_eq(hitl_pool_count(&labeled, p, HITL_ITEM_SKIPPED), HITL_OK);
    ck_assert_uint_eq(labeled, 0);
    ck_assert_int_eq(hitl_pool_set_labels(p, NULL, NULL, 0), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_weights(p, NULL, NULL, 0), HITL_OK);
    hitl_pool_free(p);
}
END_TEST

/* A bad entry anywhere in a batch, the last one included, changes nothing. */
START_TEST(test_bulk_errors)
{
    hitl_pool *p = pool_to_break(_i);
    size_t n = p->n, out[1];
    ck_assert_int_eq(hitl_pool_set_classes(p, 4), HITL_OK);
    snap *s = snap_take(p);
    size_t idx[3] = {0, 2, 5};
    int32_t lab[3] = {1, 2, 4};
    float w[3] = {1.0f, 2.0f, NAN};
    uint64_t ids[1];
    float rows[3];

    ck_assert_int_eq(hitl_pool_set_labels(p, idx, lab, 3), HITL_EINVAL);
    msg_has("hitl_pool_set_labels: labels[2] = 4 (item 5) is not below the "
            "pool's 4 classes");
    lab[2] = -1;
    ck_assert_int_eq(hitl_pool_set_labels(p, idx, lab, 3), HITL_EINVAL);
    msg_has("labels[2] = -1 (item 5) is < 0");
    lab[2] = 3;
    idx[2] = n;
    ck_assert_int_eq(hitl_pool_set_labels(p, idx, lab, 3), HITL_EINVAL);
    msg_has("indices[2] = ");
    ck_assert_int_eq(hitl_pool_set_weights(p, idx, w, 3), HITL_EINVAL);
    idx[2] = 5;
    ck_assert_int_eq(hitl_pool_set_weights(p, idx, w, 3), HITL_EINVAL);
    msg_has("hitl_pool_set_weights: weights[2] = nan (item 5)");
    w[2] = 0.0f;
    ck_assert_int_eq(hitl_pool_set_weights(p, idx, w, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_labels(NULL, idx, lab, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_labels(p, NULL, lab, 3), HITL_EINVAL);
    msg_has("hitl_pool_set_labels: indices is NULL with n = 3");
    ck_assert_int_eq(hitl_pool_set_labels(p, idx, NULL, 3), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_weights(p, idx, NULL, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_set_weights(NULL, idx, w, 1), HITL_EINVAL);

    ids[0] = 77;
    ck_assert_int_eq(hitl_pool_items(ids, NULL, NULL, NULL, 0, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_items(ids, NULL, NULL, p, n, 1), HITL_EINVAL);
    msg_has("hitl_pool_items: items [");
    ck_assert_int_eq(hitl_pool_items(ids, NULL, NULL, p, 1, SIZE_MAX),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_items(ids, NULL, NULL, p, n + 1, 0), HITL_EINVAL);
    ck_assert(ids[0] == 77);
    ck_assert_int_eq(hitl_pool_weights(NULL, p, 0, 1), HITL_EINVAL);
    msg_has("hitl_pool_weights: weights is NULL with n = 1");
    ck_assert_int_eq(hitl_pool_weights(w, p, n - 1, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_weights(w, NULL, 0, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_copy_rows(NULL, p, 0, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_copy_rows(rows, p, SIZE_MAX, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_copy_rows(rows, NULL, 0, 1), HITL_EINVAL);
    snap_check(s, p);
    ck_assert_int_eq(hitl_pool_count(out, p, HITL_ITEM_LABELED), HITL_OK);
    ck_assert_uint_eq(out[0], 1);
    hitl_pool_free(p);
}
END_TEST

/* ---- out of memory ------------------------------------------------------------ */

START_TEST(test_oom_create)
{
    oom_install();
    long fail_at = 0;
    for (;; fail_at++) {
        hitl_pool *p = NULL;
        oom_arm(fail_at);
        int status = hitl_pool_create(&p, 4);
        oom_arm(-1);
        if (status == HITL_OK) {
            hitl_pool_free(p);
            break;
        }
        ck_assert_int_eq(status, HITL_ENOMEM);
        ck_assert_ptr_null(p);
        msg_has("hitl_pool_create: out of memory");
    }
    ck_assert_int_gt(fail_at, 0);
    oom_uninstall();
}
END_TEST

/* Run one add under fail_at = 0, 1, ... until it succeeds: every failure is
 * ENOMEM with the pool unchanged.  Returns how many attempts failed. */
static long oom_add(hitl_pool *p, add_fn add, const float *r, size_t n,
                    size_t stride, const uint64_t *ids)
{
    for (long fail_at = 0;; fail_at++) {
        snap *s = snap_take(p);
        oom_arm(fail_at);
        int status = add(p, r, n, stride, ids);
        oom_arm(-1);
        if (status == HITL_OK) {
            free(s->id);
            free(s->rows);
            free(s);
            return fail_at;
        }
        ck_assert_int_eq(status, HITL_ENOMEM);
        msg_has("out of memory");
        snap_check(s, p);
    }
}

START_TEST(test_oom_add)
{
    oom_install();
    hitl_pool *p = new_pool(3);
    float *r = make_rows(400, 3, 3, 0);
    float *b = make_rows(64, 5, 3, 0);
    uint64_t ids[400];

    /* First add: item arrays, chunk list, chunk. */
    ck_assert_int_gt(oom_add(p, hitl_pool_add, r, 10, 3, NULL), 0);
    /* A new chunk with spare room (12 rows for 2). */
    ck_assert_int_gt(oom_add(p, hitl_pool_add, r + 10 * 3, 2, 3, NULL), 0);
    /* Into the spare room: nothing to allocate. */
    ck_assert_int_eq(oom_add(p, hitl_pool_add, r + 12 * 3, 2, 3, NULL), 0);
    /* Past the room: item arrays grow, a new chunk. */
    ck_assert_int_gt(oom_add(p, hitl_pool_add, r + 14 * 3, 100, 3, NULL), 0);
    /* Borrowed: item arrays and chunk list grow. */
    for (size_t i = 0; i < 64; i++)
        for (size_t j = 0; j < 3; j++)
            b[i * 5 + j] = val(114 + i, j);
    ck_assert_int_gt(oom_add(p, hitl_pool_add_borrowed, b, 64, 5, NULL), 0);
    /* The batch that builds the id map. */
    for (size_t i = 0; i < 400; i++)
        ids[i] = 1000000 + 7 * i;
    ck_assert_uint_eq(p->map_cap, 0);
    ck_assert_int_gt(oom_add(p, hitl_pool_add, r + 178 * 3, 50, 3, ids), 0);
    ck_assert_uint_gt(p->map_cap, 0);
    /* One that grows the map. */
    size_t cap = p->map_cap;
    ck_assert_int_gt(oom_add(p, hitl_pool_add, r + 228 * 3, 150, 3, ids + 50),
                     0);
    ck_assert_uint_gt(p->map_cap, cap);
    size_t n;
    ck_assert_int_eq(hitl_pool_size(&n, p), HITL_OK);
    ck_assert_uint_eq(n, 378);
    check_rows(p, 0, 378);
    for (size_t i = 0; i < 178; i++) {
        ck_assert(found_at(p, i, i));
    }
    for (size_t i = 0; i < 200; i++) {
        ck_assert(found_at(p, ids[i], 178 + i));
    }
    hitl_pool_free(p);
    free(r);
    free(b);
    oom_uninstall();
}
END_TEST

/* ---- scale: map growth and memory --------------------------------------------- */

/* An allocator that knows how many bytes are live. */
static size_t live_bytes;
static void *sized_malloc(void *u, size_t s)
{
    (void)u;
    size_t *p = malloc(s + 16);
    if (!p)
        return NULL;
    *p = s;
    live_bytes += s;
    return (char *)p + 16;
}
static void *sized_realloc(void *u, void *q, size_t s)
{
    if (!q)
        return sized_malloc(u, s);
    size_t *p = (size_t *)((char *)q - 16), old = *p;
    p = realloc(p, s + 16);
    if (!p)
        return NULL;
    *p = s;
    live_bytes += s - old;
    return (char *)p + 16;
}
static void sized_free(void *u, void *q)
{
    (void)u;
    if (q) {
        size_t *p = (size_t *)((char *)q - 16);
        live_bytes -= *p;
        free(p);
    }
}

/* 200k items: 20k index ids (no map, ~17 bytes an item beside the rows),
 * then 180k explicit ids in batches that grow the map several times. */
START_TEST(test_large)
{
    enum { HEAD = 20000, REST = 180000, N = HEAD + REST, DIM = 2, BATCH = 1000 };
    const uint64_t mult = UINT64_C(0x9E3779B97F4A7C15); /* odd: ids distinct */
    ck_assert_int_eq(hitl_set_allocator(sized_malloc, sized_realloc,
                                        sized_free, NULL), HITL_OK);
    live_bytes = 0;
    hitl_pool *p = new_pool(DIM);
    float *r = make_rows(N, DIM, DIM, 0);
    ck_assert_int_eq(hitl_pool_add(p, r, HEAD, DIM, NULL), HITL_OK);
    ck_assert_uint_eq(p->map_cap, 0);
    ck_assert_uint_le(live_bytes, HEAD * (DIM * sizeof(float) + 17) + 4096);

    uint64_t *ids = malloc(REST * sizeof *ids);
    for (size_t i = 0; i < REST; i++)
        ids[i] = (HEAD + i) * mult;
    size_t caps = 0, last_cap = 0;
    for (size_t k = 0; k < REST; k += BATCH) {
        ck_assert_int_eq(hitl_pool_add(p, r + (HEAD + k) * DIM, BATCH, DIM,
                                       ids + k), HITL_OK);
        /* Spare chunk room stays under 1 MiB however the pool grows. */
        ck_assert_uint_le(p->tail_room * DIM * sizeof(float), (size_t)1 << 20);
        if (p->map_cap != last_cap)
            caps++, last_cap = p->map_cap;
    }
    ck_assert_uint_ge(caps, 3);   /* built once, then grew */
    /* Load between 0.25 and 0.7. */
    ck_assert_uint_le(N, p->map_cap / 10 * 7);
    ck_assert_uint_le(p->map_cap, 4 * (size_t)N);
    /* Beside the rows: 17 bytes an item (1.5x growth) plus the map, and
     * under 1 MiB of spare chunk room. */
    size_t rows = (size_t)N * DIM * sizeof(float);
    ck_assert_uint_le(live_bytes, rows + (size_t)N * 26 + p->map_cap * 16 +
                                  ((size_t)1 << 20) + 65536);

    for (size_t i = 0; i < HEAD; i++)
        if (!found_at(p, i, i))
            ck_abort_msg("index id %zu not found at %zu", i, i);
    for (size_t i = 0; i < REST; i++) {
        if (!found_at(p, ids[i], HEAD + i))
            ck_abort_msg("ids[%zu] not found at %zu", i, HEAD + i);
        if (!found_at(p, (N + i) * mult, SIZE_MAX))
            ck_abort_msg("absent id %zu found", i);
    }
    check_rows(p, 0, N);
    hitl_pool_free(p);
    ck_assert_uint_eq(live_bytes, 0);
    ck_assert_int_eq(hitl_set_allocator(NULL, NULL, NULL, NULL), HITL_OK);
    free(ids);
    free(r);
}
END_TEST

/* ---- sparse pools --------------------------------------------------------------- */

/* A CSR batch of n rows, items first..: row i has (i % 5) non-zeros, column
 * t at t * (dim / 5) + i % (dim / 5), value i + t / 8 (exact). */
typedef struct csr {
    int32_t *indptr, *indices;
    float *values;
    size_t n;
} csr;

static csr make_csr(size_t n, size_t dim, size_t first)
{
    csr c = { malloc((n + 1) * sizeof(int32_t)), malloc((5 * n + 1) * sizeof(int32_t)),
              malloc((5 * n + 1) * sizeof(float)), n };
    ck_assert(c.indptr && c.indices && c.values);
    c.indptr[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t it = first + i, k = it % 5, p = (size_t)c.indptr[i];
        for (size_t t = 0; t < k; t++) {
            c.indices[p + t] = (int32_t)(t * (dim / 5) + it % (dim / 5));
            c.values[p + t] = (float)it + (float)t / 8;
        }
        c.indptr[i + 1] = (int32_t)(p + k);
    }
    return c;
}

static void free_csr(csr *c)
{
    free(c->indptr);
    free(c->indices);
    free(c->values);
}

static hitl_pool *new_sparse(size_t dim)
{
    hitl_pool *p = NULL;
    ck_assert_int_eq(hitl_pool_create_sparse(&p, dim), HITL_OK);
    return p;
}

static void check_sparse_rows(const hitl_pool *p, size_t first, size_t n)
{
    size_t dim;
    ck_assert_int_eq(hitl_pool_dim(&dim, p), HITL_OK);
    for (size_t i = first; i < first + n; i++) {
        const int32_t *idx;
        const float *v;
        size_t nnz;
        ck_assert_int_eq(hitl_pool_sparse_row(&idx, &v, &nnz, p, i), HITL_OK);
        ck_assert_uint_eq(nnz, i % 5);
        double sq = 0;
        for (size_t t = 0; t < nnz; t++) {
            if (idx[t] != (int32_t)(t * (dim / 5) + i % (dim / 5)) ||
                v[t] != (float)i + (float)t / 8)
                ck_abort_msg("item %zu non-zero %zu: column %d value %g", i, t, idx[t],
                             (double)v[t]);
            sq += (double)v[t] * v[t];
        }
        ck_assert_float_eq(p->sqnorm[i], (float)sq);
    }
}

START_TEST(test_sparse_add)
{
    size_t dim = (size_t)1 << 24;
    hitl_pool *p = new_sparse(dim);
    int sparse = -1;
    ck_assert_int_eq(hitl_pool_is_sparse(&sparse, p), HITL_OK);
    ck_assert_int_eq(sparse, 1);
    csr a = make_csr(300, dim, 0);
    /* Small copied batches share chunks whose room grows with the pool. */
    for (size_t k = 0; k < 100; k += 10) {
        csr b = make_csr(10, dim, k);
        ck_assert_int_eq(hitl_pool_add_csr(p, b.indptr, b.indices, b.values, 10, NULL),
                         HITL_OK);
        free_csr(&b);
    }
    ck_assert_uint_le(p->n_chunks, 4);
    size_t nc = p->n_chunks;
    /* Borrowed: the pool reads the caller's arrays. */
    csr c = make_csr(100, dim, 100);
    ck_assert_int_eq(hitl_pool_add_csr_borrowed(p, c.indptr, c.indices, c.values, 100,
                                                NULL), HITL_OK);
    ck_assert_ptr_eq(p->chunks[nc].values, c.values);
    const int32_t *idx;
    const float *v;
    size_t nnz;
    ck_assert_int_eq(hitl_pool_sparse_row(&idx, &v, &nnz, p, 104), HITL_OK);
    ck_assert_ptr_eq(v, c.values + c.indptr[4]);
    /* Copied after borrowed: a new chunk, ids explicit. */
    csr d = make_csr(100, dim, 200);
    uint64_t ids[100];
    for (size_t i = 0; i < 100; i++)
        ids[i] = 200 + i;
    ck_assert_int_eq(hitl_pool_add_csr(p, d.indptr, d.indices, d.values, 100, ids), HITL_OK);
    ck_assert_uint_eq(p->n_chunks, nc + 2);
    size_t n;
    ck_assert_int_eq(hitl_pool_size(&n, p), HITL_OK);
    ck_assert_uint_eq(n, 300);
    check_sparse_rows(p, 0, 300);
    /* The other representation is refused, naming the right call. */
    const float *row;
    ck_assert_int_eq(hitl_pool_row(&row, p, 0), HITL_EINVAL);
    msg_has("hitl_pool_sparse_row");
    float x[4] = { 0 };
    ck_assert_int_eq(hitl_pool_add(p, x, 1, 4, NULL), HITL_EINVAL);
    msg_has("hitl_pool_add_csr");
    hitl_pool *q = new_pool(4);
    ck_assert_int_eq(hitl_pool_add_csr(q, a.indptr, a.indices, a.values, 3, NULL),
                     HITL_EINVAL);
    msg_has("the pool is dense");
    ck_assert_int_eq(hitl_pool_sparse_row(&idx, &v, &nnz, q, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_pool_is_sparse(&sparse, q), HITL_OK);
    ck_assert_int_eq(sparse, 0);
    /* n == 0 and empty rows. */
    ck_assert_int_eq(hitl_pool_add_csr(p, NULL, NULL, NULL, 0, NULL), HITL_OK);
    int32_t zero[3] = { 0, 0, 0 };
    ck_assert_int_eq(hitl_pool_add_csr(p, zero, NULL, NULL, 2, NULL), HITL_OK);
    ck_assert_int_eq(hitl_pool_sparse_row(&idx, &v, &nnz, p, 301), HITL_OK);
    ck_assert_uint_eq(nnz, 0);
    ck_assert_int_eq(hitl_pool_create_sparse(&q, (size_t)INT32_MAX + 1), HITL_EINVAL);
    ck_assert_ptr_nonnull(q);
    hitl_pool_free(q);
    hitl_pool_free(p);
    free_csr(&a);
    free_csr(&c);
    free_csr(&d);
}
END_TEST

/* What a sparse pool looks like from outside, to prove a failed add left it. */
typedef struct sparse_snap {
    size_t n, nnz, n_chunks, tail_room, tail_nnz;
} sparse_snap;

static sparse_snap sparse_take(const hitl_pool *p)
{
    return (sparse_snap){ p->n, p->nnz, p->n_chunks, p->tail_room, p->tail_nnz_room };
}

static void sparse_same(sparse_snap s, const hitl_pool *p)
{
    ck_assert_uint_eq(s.n, p->n);
    ck_assert_uint_eq(s.nnz, p->nnz);
    ck_assert_uint_eq(s.n_chunks, p->n_chunks);
    ck_assert_uint_eq(s.tail_room, p->tail_room);
    ck_assert_uint_eq(s.tail_nnz, p->tail_nnz_room);
}

/* Every bad batch: its status, a message naming row and position, and the
 * pool unchanged; then the good batch still goes in.  _i: bit 0 borrowed. */
START_TEST(test_sparse_errors)
{
    int borrowed = _i & 1;
    int (*add)(hitl_pool *, const int32_t *, const int32_t *, const float *, size_t,
               const uint64_t *) = borrowed ? hitl_pool_add_csr_borrowed : hitl_pool_add_csr;
    size_t dim = 100;
    hitl_pool *p = new_sparse(dim);
    csr ok = make_csr(8, dim, 0);
    /* Two adds, so the last chunk has room for the bad batches (4 rows, 6
     * non-zeros): a failure there must leave the room clean. */
    ck_assert_int_eq(hitl_pool_add_csr(p, ok.indptr, ok.indices, ok.values, 4, NULL), HITL_OK);
    int32_t ip2[5];
    for (size_t i = 0; i <= 4; i++)
        ip2[i] = ok.indptr[4 + i] - ok.indptr[4];
    ck_assert_int_eq(hitl_pool_add_csr(p, ip2, ok.indices + ok.indptr[4],
                                       ok.values + ok.indptr[4], 4, NULL), HITL_OK);
    ck_assert_uint_ge(p->tail_room, 3);
    ck_assert_uint_ge(p->tail_nnz_room, 5);
    sparse_snap s0 = sparse_take(p);
    /* rows 0..2: {} {3, 9} {1, 7, 50} */
    int32_t ip[4] = { 0, 0, 2, 5 }, ix[5] = { 3, 9, 1, 7, 50 };
    float vx[5] = { 1, 2, 3, 4, 5 };
    struct { int field, pos; int32_t iv; float fv; int status; const char *msg; } cases[] = {
        { 0, 0, 1, 0, HITL_EINVAL, "indptr[0] is 1, not 0" },
        { 0, 2, -1, 0, HITL_EINVAL, "indptr[2] = -1 < indptr[1] = 0 (row 1" },
        { 1, 3, 100, 0, HITL_EINVAL, "row 2: indices[3] = 100 is not in [0, dim 100)" },
        { 1, 0, -4, 0, HITL_EINVAL, "row 1: indices[0] = -4 is not in" },
        { 1, 1, 3, 0, HITL_EINVAL, "row 1: indices[1] = 3 repeats indices[0] = 3" },
        { 1, 4, 2, 0, HITL_EINVAL, "row 2: indices[4] = 2 is below indices[3] = 7" },
        { 2, 3, 0, NAN, HITL_ENUMERIC, "row 2: values[3] (column 7) is NaN" },
        { 2, 0, 0, -INFINITY, HITL_ENUMERIC, "row 1: values[0] (column 3) is -Inf" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int32_t bip[4], bix[5];
        float bvx[5];
        memcpy(bip, ip, sizeof ip);
        memcpy(bix, ix, sizeof ix);
        memcpy(bvx, vx, sizeof vx);
        if (cases[k].field == 0)
            bip[cases[k].pos] = cases[k].iv;
        else if (cases[k].field == 1)
            bix[cases[k].pos] = cases[k].iv;
        else
            bvx[cases[k].pos] = cases[k].fv;
        ck_assert_int_eq(add(p, bip, bix, bvx, 3, NULL), cases[k].status);
        msg_has(cases[k].msg);
        sparse_same(s0, p);
    }
    /* Lengths: n + 1 offsets past memory; NULL arrays with non-zeros. */
    ck_assert_int_eq(add(p, ip, ix, vx, SIZE_MAX / 2, NULL), HITL_EINVAL);
    msg_has("do not fit in memory");
    ck_assert_int_eq(add(p, ip, NULL, vx, 3, NULL), HITL_EINVAL);
    msg_has("indices is NULL with 5 non-zeros");
    ck_assert_int_eq(add(p, ip, ix, NULL, 3, NULL), HITL_EINVAL);
    msg_has("values is NULL");
    ck_assert_int_eq(add(p, NULL, ix, vx, 3, NULL), HITL_EINVAL);
    msg_has("indptr is NULL");
    ck_assert_int_eq(add(NULL, ip, ix, vx, 3, NULL), HITL_EINVAL);
    /* A duplicate id. */
    uint64_t ids[3] = { 70, 80, 2 };
    ck_assert_int_eq(add(p, ip, ix, vx, 3, ids), HITL_EINVAL);
    msg_has("ids[2] = 2");
    sparse_same(s0, p);
    check_sparse_rows(p, 0, 8);
    /* The good batch goes in after all that. */
    ck_assert_int_eq(add(p, ip, ix, vx, 3, NULL), HITL_OK);
    const int32_t *idx;
    const float *v;
    size_t nnz;
    ck_assert_int_eq(hitl_pool_sparse_row(&idx, &v, &nnz, p, 10), HITL_OK);
    ck_assert_uint_eq(nnz, 3);
    ck_assert_int_eq(idx[2], 50);
    ck_assert_float_eq(v[2], 5);
    ck_assert_float_eq(p->sqnorm[10], 9 + 16 + 25);
    check_sparse_rows(p, 0, 8);
    hitl_pool_free(p);
    free_csr(&ok);
}
END_TEST

/* Every allocation of a sparse add failing in turn: ENOMEM, pool unchanged,
 * and the add then succeeds. */
START_TEST(test_sparse_oom)
{
    oom_install();
    size_t dim = 1000;
    hitl_pool *p = NULL;
    for (long fail_at = 0;; fail_at++) {
        oom_arm(fail_at);
        int st = hitl_pool_create_sparse(&p, dim);
        oom_arm(-1);
        if (st == HITL_OK)
            break;
        ck_assert_int_eq(st, HITL_ENOMEM);
    }
    csr c = make_csr(3000, dim, 0);
    int32_t *kept = NULL;
    uint64_t ids[3000];
    for (size_t i = 0; i < 3000; i++)
        ids[i] = 5000 + 3 * i;
    struct { size_t first, n; int borrowed; const uint64_t *ids; long min_fail; } steps[] = {
        { 0, 10, 0, NULL, 1 },     /* first add: item arrays, chunk list, chunk */
        { 10, 5, 0, NULL, 1 },     /* a new chunk with room */
        { 15, 1, 0, NULL, 0 },     /* into the room: nothing to allocate */
        { 16, 1999, 0, NULL, 1 },  /* past it */
        { 2015, 500, 1, NULL, 1 }, /* borrowed */
        { 2515, 485, 0, ids, 1 },  /* builds the id map */
    };
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        size_t f = steps[k].first, n = steps[k].n;
        /* This batch's own arrays: indptr rebased to 0. */
        int32_t *ip = malloc((n + 1) * sizeof *ip);
        for (size_t i = 0; i <= n; i++)
            ip[i] = c.indptr[f + i] - c.indptr[f];
        const int32_t *ix = c.indices + c.indptr[f];
        const float *vx = c.values + c.indptr[f];
        long fail_at = 0;
        for (;; fail_at++) {
            sparse_snap s = sparse_take(p);
            oom_arm(fail_at);
            int st = (steps[k].borrowed ? hitl_pool_add_csr_borrowed : hitl_pool_add_csr)(
                p, ip, ix, vx, n, steps[k].ids);
            oom_arm(-1);
            if (st == HITL_OK)
                break;
            ck_assert_int_eq(st, HITL_ENOMEM);
            msg_has("out of memory");
            sparse_same(s, p);
        }
        ck_assert_int_ge(fail_at, steps[k].min_fail);
        if (steps[k].min_fail == 0)
            ck_assert_int_eq(fail_at, 0);
        if (steps[k].borrowed)
            kept = ip; /* the pool reads it until freed */
        else
            free(ip);
    }
    check_sparse_rows(p, 0, 3000);
    for (size_t i = 0; i < 485; i++)
        ck_assert(found_at(p, ids[i], 2515 + i));
    hitl_pool_free(p);
    free(kept);
    free_csr(&c);
    oom_uninstall();
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("happy");
    tcase_add_test(tc, test_create);
    tcase_add_test(tc, test_add_copies);
    tcase_add_test(tc, test_add_nothing);
    tcase_add_test(tc, test_borrowed_not_copied);
    tcase_add_test(tc, test_chunks);
    tcase_add_test(tc, test_id_map_switch);
    tcase_add_test(tc, test_labels_states_weights);
    tcase_add_test(tc, test_bulk_read);
    tcase_add_test(tc, test_bulk_write);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_create_errors);
    /* bit 0: borrowed; bit 1: the pool has an id map */
    tcase_add_loop_test(tc, test_add_errors, 0, 4);
    tcase_add_test(tc, test_index_id_taken);
    tcase_add_test(tc, test_nan_in_tail_room);
    tcase_add_loop_test(tc, test_item_errors, 0, 2);
    tcase_add_loop_test(tc, test_bulk_errors, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("oom");
    tcase_add_test(tc, test_oom_create);
    tcase_add_test(tc, test_oom_add);
    suite_add_tcase(s, tc);

    tc = tcase_create("sparse");
    tcase_add_test(tc, test_sparse_add);
    tcase_add_loop_test(tc, test_sparse_errors, 0, 2);
    tcase_add_test(tc, test_sparse_oom);
    suite_add_tcase(s, tc);

    tc = tcase_create("large");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_large);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(pool_suite)
