/* Sparse pools end to end: the same rows held dense and sparse give the same
 * fit (probabilities within 1e-5), the same predictions and the same query
 * results for every strategy that takes a sparse pool, the same routing; a
 * custom model on CSR callbacks; the CSR kernel against a double reference
 * on every instruction set; out of memory during a sparse fit. */
#include "internal.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { N = 600, DIM = 300, K = 4, NNZ = 12, LABELED = 80 };

/* Row i: NNZ distinct columns (some rows fewer), increasing; labels from a
 * sparse linear rule, so the classes are learnable. */
typedef struct data {
    int32_t indptr[N + 1], indices[N * NNZ];
    float values[N * NNZ], dense[N * DIM];
    int32_t y[N];
} data;

static data *make_data(void)
{
    data *d = calloc(1, sizeof *d);
    uint64_t st = 42;
    d->indptr[0] = 0;
    for (size_t i = 0; i < N; i++) {
        size_t k = 0, nnz = i % 7 == 3 ? 0 : NNZ - i % 5;
        int32_t col = (int32_t)(test_splitmix(&st) % 20);
        double score[K] = { 0 };
        for (; k < nnz && col < DIM; k++) {
            float v = (float)(test_splitmix(&st) % 1000) / 250.0f - 1.0f;
            d->indices[d->indptr[i] + k] = col;
            d->values[d->indptr[i] + k] = v;
            d->dense[i * DIM + col] = v;
            score[col % K] += v * (1 + col % 3);
            col += 1 + (int32_t)(test_splitmix(&st) % 40);
        }
        d->indptr[i + 1] = d->indptr[i] + (int32_t)k;
        size_t best = 0;
        for (size_t c = 1; c < K; c++)
            if (score[c] > score[best])
                best = c;
        d->y[i] = (int32_t)best;
    }
    return d;
}

static void make_pools(hitl_pool **dense, hitl_pool **sparse, const data *d)
{
    ck_assert_int_eq(hitl_pool_create(dense, DIM), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(*dense, d->dense, N, DIM, NULL), HITL_OK);
    ck_assert_int_eq(hitl_pool_create_sparse(sparse, DIM), HITL_OK);
    /* in two batches, the second borrowed */
    ck_assert_int_eq(hitl_pool_add_csr(*sparse, d->indptr, d->indices, d->values, N / 2, NULL),
                     HITL_OK);
    static int32_t ip[N / 2 + 1];
    for (size_t i = 0; i <= N / 2; i++)
        ip[i] = d->indptr[N / 2 + i] - d->indptr[N / 2];
    ck_assert_int_eq(hitl_pool_add_csr_borrowed(*sparse, ip, d->indices + d->indptr[N / 2],
                                                d->values + d->indptr[N / 2], N / 2, NULL),
                     HITL_OK);
    for (size_t i = 0; i < LABELED; i++) {
        size_t at = i * 7 % N;
        ck_assert_int_eq(hitl_pool_set_label(*dense, at, d->y[at]), HITL_OK);
        ck_assert_int_eq(hitl_pool_set_label(*sparse, at, d->y[at]), HITL_OK);
        float w = 0.5f + (float)(i % 3);
        ck_assert_int_eq(hitl_pool_set_weight(*dense, at, w), HITL_OK);
        ck_assert_int_eq(hitl_pool_set_weight(*sparse, at, w), HITL_OK);
    }
}

static hitl_model *fitted(const hitl_pool *pool)
{
    hitl_model *m = NULL;
    ck_assert_int_eq(hitl_model_create_logreg(&m, DIM, K), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_L2, 0.5), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, 64), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, pool), HITL_OK);
    return m;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

START_TEST(test_fit_predict_same)
{
    data *d = make_data();
    hitl_pool *pd, *ps;
    make_pools(&pd, &ps, d);
    hitl_model *md = fitted(pd), *ms = fitted(ps);
    static float a[N * K], b[N * K], c[N * K];
    ck_assert_int_eq(hitl_model_predict_pool(a, md, pd, 0, N), HITL_OK);
    ck_assert_int_eq(hitl_model_predict_pool(b, ms, ps, 0, N), HITL_OK);
    ck_assert_double_le(max_diff(a, b, N * K), 1e-5);
    /* the fit learned something */
    size_t right = 0;
    for (size_t i = 0; i < N; i++) {
        size_t best = 0;
        for (size_t k = 1; k < K; k++)
            if (b[i * K + k] > b[i * K + best])
                best = k;
        right += (int32_t)best == d->y[i];
    }
    ck_assert_uint_gt(right, N / 2);
    /* caller CSR rows, and the dense model on them */
    ck_assert_int_eq(hitl_model_predict_csr(c, md, d->indptr, d->indices, d->values, N),
                     HITL_OK);
    ck_assert_double_le(max_diff(a, c, N * K), 1e-5);
    /* warm refit after more labels: still the same */
    for (size_t i = 0; i < 20; i++) {
        size_t at = 1 + i * 13 % N;
        ck_assert_int_eq(hitl_pool_set_label(pd, at, d->y[at]), HITL_OK);
        ck_assert_int_eq(hitl_pool_set_label(ps, at, d->y[at]), HITL_OK);
    }
    ck_assert_int_eq(hitl_model_set_param(md, HITL_PARAM_WARM_START, 1), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(ms, HITL_PARAM_WARM_START, 1), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(md, pd), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(ms, ps), HITL_OK);
    ck_assert_int_eq(hitl_model_predict_pool(a, md, pd, 0, N), HITL_OK);
    ck_assert_int_eq(hitl_model_predict_pool(b, ms, ps, 0, N), HITL_OK);
    ck_assert_double_le(max_diff(a, b, N * K), 1e-5);
    /* save/load unchanged: the loaded model scores the sparse pool alike */
    size_t size;
    ck_assert_int_eq(hitl_model_save_size(&size, ms), HITL_OK);
    void *buf = malloc(size);
    size_t written;
    ck_assert_int_eq(hitl_model_save(&written, buf, size, ms), HITL_OK);
    hitl_model *ml = NULL;
    ck_assert_int_eq(hitl_model_load(&ml, buf, written), HITL_OK);
    ck_assert_int_eq(hitl_model_predict_pool(c, ml, ps, 0, N), HITL_OK);
    ck_assert_double_eq(max_diff(b, c, N * K), 0);
    /* bad caller CSR is named */
    int32_t bad[3] = { 0, 2, 1 };
    ck_assert_int_eq(hitl_model_predict_csr(c, md, bad, d->indices, d->values, 2),
                     HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "indptr[2] = 1 < indptr[1] = 2"));
    free(buf);
    hitl_model_free(ml);
    hitl_model_free(md);
    hitl_model_free(ms);
    hitl_pool_free(pd);
    hitl_pool_free(ps);
    free(d);
}
END_TEST

/* Equal within float rounding of the distances (or both infinite). */
static int close(double a, double b)
{
    return a == b || fabs(a - b) <= 1e-5 * fmax(1, fabs(a));
}

static void same_query(hitl_strategy_kind kind, const hitl_model *md, const hitl_pool *pd,
                       const hitl_model *ms, const hitl_pool *ps)
{
    hitl_strategy *s = NULL;
    ck_assert_int_eq(hitl_strategy_create(&s, kind), HITL_OK);
    size_t na, nb, ia[20], ib[20];
    double sa[20], sb[20];
    ck_assert_int_eq(hitl_query(&na, ia, NULL, sa, s, md, pd, 20), HITL_OK);
    ck_assert_int_eq(hitl_query(&nb, ib, NULL, sb, s, ms, ps, 20), HITL_OK);
    ck_assert_uint_eq(na, nb);
    for (size_t j = 0; j < na; j++) {
        if (!close(sa[j], sb[j]))
            ck_abort_msg("kind %d pick %zu: score %g dense, %g sparse", (int)kind, j, sa[j],
                         sb[j]);
        /* the same item, unless two scores tie within rounding */
        if (ia[j] != ib[j] && !close(sa[j], j + 1 < na ? sa[j + 1] : sa[j - 1]))
            ck_abort_msg("kind %d pick %zu: item %zu dense, %zu sparse", (int)kind, j, ia[j],
                         ib[j]);
    }
    hitl_strategy_free(s);
}

START_TEST(test_queries_same)
{
    data *d = make_data();
    hitl_pool *pd, *ps;
    make_pools(&pd, &ps, d);
    hitl_model *md = fitted(pd), *ms = fitted(ps);
    hitl_strategy_kind kinds[] = { HITL_STRATEGY_RANDOM, HITL_STRATEGY_LEAST_CONFIDENT,
                                   HITL_STRATEGY_MARGIN, HITL_STRATEGY_ENTROPY,
                                   HITL_STRATEGY_EXPECTED_GRADIENT_LENGTH };
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        same_query(kinds[k], md, pd, ms, ps);
    /* committees of built-in members (bootstrapped) and a borrowed member */
    hitl_committee *cd = NULL, *cs = NULL;
    ck_assert_int_eq(hitl_committee_create(&cd, DIM, K), HITL_OK);
    ck_assert_int_eq(hitl_committee_create(&cs, DIM, K), HITL_OK);
    for (int m = 0; m < 3; m++) {
        ck_assert_int_eq(hitl_committee_add_logreg(cd, 0.5 + m), HITL_OK);
        ck_assert_int_eq(hitl_committee_add_logreg(cs, 0.5 + m), HITL_OK);
    }
    ck_assert_int_eq(hitl_committee_fit(cd, pd), HITL_OK);
    ck_assert_int_eq(hitl_committee_fit(cs, ps), HITL_OK);
    hitl_strategy_kind qbc[] = { HITL_STRATEGY_QBC_VOTE_ENTROPY,
                                 HITL_STRATEGY_QBC_CONSENSUS_ENTROPY, HITL_STRATEGY_QBC_KL,
                                 HITL_STRATEGY_QBC_BALD, HITL_STRATEGY_ENTROPY };
    for (size_t k = 0; k < sizeof qbc / sizeof *qbc; k++) {
        hitl_strategy *s = NULL;
        ck_assert_int_eq(hitl_strategy_create(&s, qbc[k]), HITL_OK);
        size_t na, nb, ia[10], ib[10];
        double sa[10], sb[10];
        ck_assert_int_eq(hitl_query_committee(&na, ia, NULL, sa, s, cd, pd, 10), HITL_OK);
        ck_assert_int_eq(hitl_query_committee(&nb, ib, NULL, sb, s, cs, ps, 10), HITL_OK);
        ck_assert_uint_eq(na, nb);
        for (size_t j = 0; j < na; j++)
            ck_assert_double_le(fabs(sa[j] - sb[j]), 1e-4);
        hitl_strategy_free(s);
    }
    /* routing on pool rows */
    hitl_router *rd = NULL, *rs = NULL;
    ck_assert_int_eq(hitl_router_create(&rd, K), HITL_OK);
    ck_assert_int_eq(hitl_router_create(&rs, K), HITL_OK);
    ck_assert_int_eq(hitl_router_calibrate_pool(rd, md, pd, 0, N), HITL_OK);
    ck_assert_int_eq(hitl_router_calibrate_pool(rs, ms, ps, 0, N), HITL_OK);
    static uint8_t aa[N], ab[N];
    size_t xa, xb;
    ck_assert_int_eq(hitl_router_route_pool(&xa, aa, NULL, NULL, rd, md, pd, 0, N), HITL_OK);
    ck_assert_int_eq(hitl_router_route_pool(&xb, ab, NULL, NULL, rs, ms, ps, 0, N), HITL_OK);
    size_t differ = 0;
    for (size_t i = 0; i < N; i++)
        differ += aa[i] != ab[i];
    ck_assert_uint_le(differ, 2); /* only items at the threshold, within rounding */
    hitl_router_free(rd);
    hitl_router_free(rs);
    hitl_committee_free(cd);
    hitl_committee_free(cs);
    hitl_model_free(md);
    hitl_model_free(ms);
    hitl_pool_free(pd);
    hitl_pool_free(ps);
    free(d);
}
END_TEST

/* A custom model on CSR callbacks: nearest class mean of the features
 * summed by column parity, to prove it sees the right rows. */
typedef struct cm { size_t fits, rows_seen; } cm;
static int cfit(void *u, const int32_t *ip, const int32_t *ix, const float *vx, size_t n,
                size_t dim, const int32_t *y, const float *w)
{
    cm *c = u;
    (void)ix; (void)vx; (void)dim; (void)y; (void)w;
    ck_assert_int_eq(ip[0], 0);
    c->fits++;
    c->rows_seen = n;
    return 0;
}
static int cpredict(void *u, const int32_t *ip, const int32_t *ix, const float *vx, size_t n,
                    size_t dim, float *proba)
{
    (void)u; (void)ix; (void)dim;
    if (ip[0] != 0)
        return 7;
    for (size_t i = 0; i < n; i++) {
        float s = 0;
        for (int32_t p = ip[i]; p < ip[i + 1]; p++)
            s += vx[p];
        for (size_t k = 0; k < K; k++)
            proba[i * K + k] = 1 + (k == 0 ? s * s : 0);
    }
    return 0;
}

static int dpredict(void *u, const float *X, size_t n, size_t stride, size_t dim,
                    float *proba)
{
    (void)u; (void)X; (void)stride; (void)dim;
    for (size_t i = 0; i < n * K; i++)
        proba[i] = 1;
    return 0;
}

/* Distances from the pool's kept norms and sparse products: every
 * distance-based kind picks what it picks on the dense pool, with its scores
 * within float rounding; cold start (nothing labeled) too. */
START_TEST(test_diversity_same)
{
    data *d = make_data();
    hitl_pool *pd, *ps;
    make_pools(&pd, &ps, d);
    hitl_model *md = fitted(pd), *ms = fitted(ps);
    hitl_strategy_kind kinds[] = { HITL_STRATEGY_KCENTER, HITL_STRATEGY_RANKED_BATCH,
                                   HITL_STRATEGY_DENSITY, HITL_STRATEGY_HYBRID,
                                   HITL_STRATEGY_DEFAULT };
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        same_query(kinds[k], md, pd, ms, ps);
    /* the density with a sample of anchors, and k-means++ in the hybrid */
    hitl_strategy *s = NULL;
    ck_assert_int_eq(hitl_strategy_create(&s, HITL_STRATEGY_DENSITY), HITL_OK);
    ck_assert_int_eq(hitl_strategy_set_param(s, HITL_PARAM_DENSITY_ANCHORS, 50), HITL_OK);
    size_t na, nb, ia[20], ib[20];
    double sa[20], sb[20];
    ck_assert_int_eq(hitl_query(&na, ia, NULL, sa, s, md, pd, 20), HITL_OK);
    ck_assert_int_eq(hitl_query(&nb, ib, NULL, sb, s, ms, ps, 20), HITL_OK);
    ck_assert_uint_eq(na, nb);
    for (size_t j = 0; j < na; j++)
        ck_assert(close(sa[j], sb[j]));
    hitl_strategy_free(s);
    hitl_model_free(md);
    hitl_model_free(ms);
    hitl_pool_free(pd);
    hitl_pool_free(ps);
    /* cold start: every kind but RANDOM picks a diverse first batch */
    make_pools(&pd, &ps, d);
    for (size_t i = 0; i < LABELED; i++) {
        size_t at = i * 7 % N;
        ck_assert_int_eq(hitl_pool_set_state(pd, at, HITL_ITEM_UNLABELED), HITL_OK);
        ck_assert_int_eq(hitl_pool_set_state(ps, at, HITL_ITEM_UNLABELED), HITL_OK);
    }
    same_query(HITL_STRATEGY_ENTROPY, NULL, pd, NULL, ps);
    same_query(HITL_STRATEGY_KCENTER, NULL, pd, NULL, ps);
    hitl_pool_free(pd);
    hitl_pool_free(ps);
    free(d);
}
END_TEST

START_TEST(test_custom_csr)
{
    data *d = make_data();
    hitl_pool *pd, *ps;
    make_pools(&pd, &ps, d);
    cm c = { 0, 0 };
    hitl_model *m = NULL;
    ck_assert_int_eq(hitl_model_create_custom_csr(&m, DIM, K, cfit, cpredict, &c), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, ps), HITL_OK);
    ck_assert_uint_eq(c.rows_seen, LABELED);
    static float p[N * K];
    ck_assert_int_eq(hitl_model_predict_pool(p, m, ps, 0, N), HITL_OK);
    for (size_t i = 0; i < N; i++) {
        double s = 0;
        for (int32_t q = d->indptr[i]; q < d->indptr[i + 1]; q++)
            s += d->values[q];
        double want = (1 + s * s) / (K + s * s);
        ck_assert_double_le(fabs(p[i * K] - want), 1e-4);
    }
    /* dense rows are refused, naming the other creator; and the converse */
    ck_assert_int_eq(hitl_model_fit(m, pd), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "hitl_model_create_custom"));
    hitl_model *md = fitted(pd);
    hitl_strategy *s = NULL;
    ck_assert_int_eq(hitl_strategy_create(&s, HITL_STRATEGY_ENTROPY), HITL_OK);
    size_t n, idx[5];
    ck_assert_int_eq(hitl_query(&n, idx, NULL, NULL, s, m, ps, 5), HITL_OK);
    ck_assert_uint_eq(n, 5);
    hitl_model *dense_custom = NULL;
    ck_assert_int_eq(hitl_model_create_custom(&dense_custom, DIM, K, NULL, dpredict, NULL),
                     HITL_OK);
    ck_assert_int_eq(hitl_query(&n, idx, NULL, NULL, s, dense_custom, ps, 5), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "hitl_model_create_custom_csr"));
    hitl_strategy_free(s);
    hitl_model_free(dense_custom);
    hitl_model_free(md);
    hitl_model_free(m);
    hitl_pool_free(pd);
    hitl_pool_free(ps);
    free(d);
}
END_TEST

/* What reads dense rows of a pool: hitl_pool_copy_rows writes a sparse
 * pool's rows dense; cross-fitting (the re-check queue) and the routing
 * error detector refuse a sparse pool, naming it. */
START_TEST(test_dense_readers)
{
    data *d = make_data();
    hitl_pool *pd, *ps;
    make_pools(&pd, &ps, d);
    static float a[20 * DIM], b[20 * DIM];
    ck_assert_int_eq(hitl_pool_copy_rows(a, pd, N / 2 - 10, 20), HITL_OK);
    ck_assert_int_eq(hitl_pool_copy_rows(b, ps, N / 2 - 10, 20), HITL_OK);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    hitl_model *ms = fitted(ps);
    hitl_recheck *rc = NULL;
    ck_assert_int_eq(hitl_recheck_create(&rc), HITL_OK);
    static float proba[N * K];
    ck_assert_int_eq(hitl_recheck_cross_fit(proba, rc, ms, ps), HITL_EINVAL);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "sparse"));
    hitl_recheck_free(rc);
    hitl_model_free(ms);
    hitl_pool_free(pd);
    hitl_pool_free(ps);
    free(d);
}
END_TEST

/* The CSR kernel on every instruction set against a double reference, for
 * several class counts (one panel, two, a ragged last one). */
START_TEST(test_kernel_csr)
{
    data *d = make_data();
    size_t Cs[] = { 1, 3, 16, 17, 40 };
    for (size_t t = 0; t < sizeof Cs / sizeof *Cs; t++) {
        size_t C = Cs[t], ldw = hitl__linear_ldw(C), ld = HITL__ROUND16(N);
        float *w = calloc(DIM * ldw, sizeof *w), *b = calloc(ldw, sizeof *b);
        float *out = malloc(C * ld * sizeof *out);
        for (size_t j = 0; j < DIM; j++)
            for (size_t c = 0; c < C; c++)
                w[j * ldw + c] = (float)((j * 31 + c * 7) % 17) / 8 - 1;
        for (size_t c = 0; c < C; c++)
            b[c] = (float)c / 4;
        hitl__linear L = { DIM, C, ldw, w, b };
        for (int isa = 0; isa <= hitl__isa(); isa++) {
            hitl__linear_csr_isa(out, ld, &L, d->indptr, d->indices, d->values, N, isa);
            for (size_t i = 0; i < N; i++)
                for (size_t c = 0; c < C; c++) {
                    double ref = b[c];
                    for (int32_t p = d->indptr[i]; p < d->indptr[i + 1]; p++)
                        ref += (double)d->values[p] * w[(size_t)d->indices[p] * ldw + c];
                    if (fabs(out[c * ld + i] - ref) > 1e-4)
                        ck_abort_msg("isa %d C %zu row %zu class %zu: %g vs %g", isa, C, i,
                                     c, (double)out[c * ld + i], ref);
                }
        }
        free(w);
        free(b);
        free(out);
    }
    free(d);
}
END_TEST

START_TEST(test_oom_sparse_fit)
{
    oom_install();
    data *d = make_data();
    hitl_pool *pd, *ps;
    make_pools(&pd, &ps, d);
    hitl_model *m = NULL;
    ck_assert_int_eq(hitl_model_create_logreg(&m, DIM, K), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_MAX_ITER, 5), HITL_OK);
    long fail_at = 0;
    for (;; fail_at++) {
        oom_arm(fail_at);
        int st = hitl_model_fit(m, ps);
        oom_arm(-1);
        if (st == HITL_OK)
            break;
        ck_assert_int_eq(st, HITL_ENOMEM);
        double fitted_flag;
        ck_assert_int_eq(hitl_model_get_info(&fitted_flag, m, HITL_INFO_FITTED), HITL_OK);
        ck_assert_double_eq(fitted_flag, 0);
    }
    ck_assert_int_gt(fail_at, 0);
    static float p[N * K];
    for (fail_at = 0;; fail_at++) {
        oom_arm(fail_at);
        int st = hitl_model_predict_pool(p, m, ps, 0, N);
        oom_arm(-1);
        if (st == HITL_OK)
            break;
        ck_assert_int_eq(st, HITL_ENOMEM);
    }
    /* the distance folds and the hybrid's gathered CSR rows */
    hitl_strategy_kind kinds[] = { HITL_STRATEGY_KCENTER, HITL_STRATEGY_HYBRID,
                                   HITL_STRATEGY_DENSITY };
    for (size_t k = 0; k < 3; k++) {
        hitl_strategy *s = NULL;
        ck_assert_int_eq(hitl_strategy_create(&s, kinds[k]), HITL_OK);
        size_t n, idx[8];
        for (fail_at = 0;; fail_at++) {
            oom_arm(fail_at);
            int st = hitl_query(&n, idx, NULL, NULL, s, m, ps, 8);
            oom_arm(-1);
            if (st == HITL_OK)
                break;
            ck_assert_int_eq(st, HITL_ENOMEM);
        }
        ck_assert_int_gt(fail_at, 0);
        hitl_strategy_free(s);
    }
    hitl_model_free(m);
    hitl_pool_free(pd);
    hitl_pool_free(ps);
    free(d);
    oom_uninstall();
}
END_TEST

static Suite *sparse_suite(void)
{
    Suite *s = suite_create("sparse");
    TCase *tc = tcase_create("same");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fit_predict_same);
    tcase_add_test(tc, test_queries_same);
    tcase_add_test(tc, test_diversity_same);
    tcase_add_test(tc, test_custom_csr);
    tcase_add_test(tc, test_kernel_csr);
    tcase_add_test(tc, test_dense_readers);
    tcase_add_test(tc, test_oom_sparse_fit);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(sparse_suite)
