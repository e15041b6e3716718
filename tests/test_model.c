/* Model: the built-in logistic regression against scikit-learn on real data
 * (tests/fixtures/logreg_sklearn.txt, made by make_logreg_fixture.py), warm
 * starts, sample weights, custom models, parameters, every error path, the
 * serialized format (round trips, every truncation, every bit flip, bad
 * contents behind a valid checksum, files) and out-of-memory recovery.
 * The gradient norm and objective are recomputed here from the coefficients,
 * independently of the library's own report. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIXTURE HITL_SRCDIR "/tests/fixtures/logreg_sklearn.txt"

/* ---- the scikit-learn fixture -------------------------------------------- */

typedef struct fx_case {
    char name[64];
    size_t n, d, K;
    double C;
    int fit_intercept;
    float *X, *w;          /* n x d, n */
    int32_t *y;            /* n */
    double *coef, *icpt;   /* sklearn's K x d and K */
    double *proba;         /* sklearn's predict_proba, n x K */
} fx_case;

static void expect_word(FILE *f, const char *word)
{
    char buf[64];
    ck_assert_int_eq(fscanf(f, "%63s", buf), 1);
    ck_assert_msg(strcmp(buf, word) == 0, "fixture: expected '%s', got '%s'", word, buf);
}

/* Skip '#' comment lines. */
static void skip_comments(FILE *f)
{
    int c;
    while ((c = fgetc(f)) == '#' || c == '\n')
        if (c == '#')
            while ((c = fgetc(f)) != '\n' && c != EOF)
                ;
    ungetc(c, f);
}

static void read_doubles(FILE *f, double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(fscanf(f, "%lf", &v[i]), 1);
}

static void read_floats(FILE *f, float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(fscanf(f, "%f", &v[i]), 1);
}

static size_t load_fixture(fx_case **out)
{
    FILE *f = fopen(FIXTURE, "r");
    ck_assert_msg(f != NULL, "cannot open %s: %s", FIXTURE, strerror(errno));
    size_t n_cases;
    skip_comments(f);
    expect_word(f, "cases");
    ck_assert_int_eq(fscanf(f, "%zu", &n_cases), 1);
    fx_case *cs = calloc(n_cases, sizeof *cs);
    ck_assert_ptr_nonnull(cs);
    for (size_t c = 0; c < n_cases; c++) {
        fx_case *k = &cs[c];
        skip_comments(f);
        ck_assert_int_eq(fscanf(f, " case %63s n %zu dim %zu classes %zu C %lf fit_intercept %d",
                                k->name, &k->n, &k->d, &k->K, &k->C, &k->fit_intercept), 6);
        k->X = malloc(k->n * k->d * sizeof *k->X);
        k->w = malloc(k->n * sizeof *k->w);
        k->y = malloc(k->n * sizeof *k->y);
        k->coef = malloc(k->K * k->d * sizeof *k->coef);
        k->icpt = malloc(k->K * sizeof *k->icpt);
        k->proba = malloc(k->n * k->K * sizeof *k->proba);
        expect_word(f, "X");
        read_floats(f, k->X, k->n * k->d);
        expect_word(f, "y");
        for (size_t i = 0; i < k->n; i++)
            ck_assert_int_eq(fscanf(f, "%" SCNd32, &k->y[i]), 1);
        expect_word(f, "w");
        read_floats(f, k->w, k->n);
        expect_word(f, "coef");
        read_doubles(f, k->coef, k->K * k->d);
        expect_word(f, "intercept");
        read_doubles(f, k->icpt, k->K);
        expect_word(f, "proba");
        read_doubles(f, k->proba, k->n * k->K);
    }
    skip_comments(f);
    expect_word(f, "end");
    fclose(f);
    *out = cs;
    return n_cases;
}

static void free_fixture(fx_case *cs, size_t n)
{
    for (size_t c = 0; c < n; c++) {
        free(cs[c].X);
        free(cs[c].w);
        free(cs[c].y);
        free(cs[c].coef);
        free(cs[c].icpt);
        free(cs[c].proba);
    }
    free(cs);
}

static const fx_case *find_case(const fx_case *cs, size_t n, const char *name)
{
    for (size_t c = 0; c < n; c++)
        if (strcmp(cs[c].name, name) == 0)
            return &cs[c];
    ck_abort_msg("fixture has no case %s", name);
    return NULL;
}

/* ---- helpers ------------------------------------------------------------- */

/* A pool of the case's rows; items first .. first+count-1 labeled with the
 * case's labels and weights (when `weighted`). */
static hitl_pool *case_pool(const fx_case *k, size_t first, size_t count, int weighted)
{
    hitl_pool *p = NULL;
    ck_assert_int_eq(hitl_pool_create(&p, k->d), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p, k->X, k->n, k->d, NULL), HITL_OK);
    for (size_t i = first; i < first + count; i++) {
        ck_assert_int_eq(hitl_pool_set_label(p, i, k->y[i]), HITL_OK);
        if (weighted)
            ck_assert_int_eq(hitl_pool_set_weight(p, i, k->w[i]), HITL_OK);
    }
    return p;
}

static hitl_model *case_model(const fx_case *k)
{
    hitl_model *m = NULL;
    ck_assert_int_eq(hitl_model_create_logreg(&m, k->d, k->K), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_L2, 1.0 / k->C), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_FIT_INTERCEPT, k->fit_intercept),
                     HITL_OK);
    return m;
}

static double info(const hitl_model *m, hitl_info what)
{
    double v = -1;
    ck_assert_int_eq(hitl_model_get_info(&v, m, what), HITL_OK);
    return v;
}

/* The model's W (K x d) and b (K) in one malloc'd block: W then b. */
static double *coef_of(const hitl_model *m, size_t d, size_t K)
{
    double *c = malloc((d + 1) * K * sizeof *c);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(hitl_model_get_coef(c, c + K * d, m), HITL_OK);
    return c;
}

/* Softmax of W x_i + b for rows X (n x d) into P (n x K), in double. */
static void softmax_rows(double *P, const double *Wb, const float *X, size_t n,
                         size_t d, size_t K)
{
    for (size_t i = 0; i < n; i++) {
        double *z = P + i * K, zmax = -INFINITY, sum = 0;
        for (size_t k = 0; k < K; k++) {
            z[k] = Wb[K * d + k];
            for (size_t j = 0; j < d; j++)
                z[k] += Wb[k * d + j] * X[i * d + j];
            zmax = fmax(zmax, z[k]);
        }
        for (size_t k = 0; k < K; k++)
            sum += z[k] = exp(z[k] - zmax);
        for (size_t k = 0; k < K; k++)
            z[k] /= sum;
    }
}

/* -log softmax(W x + b)[y] at Wb for the row x, as log1p(sum_{k != y}
 * exp(z_k - z_y)) in long double: a form other than the library's, accurate
 * to the last bits even when the loss is far below the scores z. */
static double loss_ref(const double *Wb, const float *x, size_t d, size_t K, size_t y)
{
    long double zy = Wb[K * d + y], r = 0;
    for (size_t j = 0; j < d; j++)
        zy += (long double)Wb[y * d + j] * x[j];
    for (size_t k = 0; k < K; k++) {
        long double z = Wb[K * d + k];
        for (size_t j = 0; j < d; j++)
            z += (long double)Wb[k * d + j] * x[j];
        if (k != y)
            r += expl(z - zy);
    }
    return (double)log1pl(r);
}

/* f and ||grad f|| of the documented objective at Wb, over the labeled rows
 * (those with lab[i] >= 0) with weights s (NULL: 1). */
static double objective(double *gnorm, const double *Wb, const float *X,
                        const int32_t *lab, const float *s, size_t n, size_t d,
                        size_t K, double l2, int fit_intercept)
{
    double *P = malloc(n * K * sizeof *P), *g = calloc((d + 1) * K, sizeof *g);
    ck_assert(P && g);
    softmax_rows(P, Wb, X, n, d, K);
    double f = 0;
    for (size_t i = 0; i < n; i++) {
        if (lab[i] < 0)
            continue;
        double si = s ? s[i] : 1.0;
        f += si * loss_ref(Wb, X + i * d, d, K, (size_t)lab[i]);
        for (size_t k = 0; k < K; k++) {
            double r = si * (P[i * K + k] - (k == (size_t)lab[i]));
            for (size_t j = 0; j < d; j++)
                g[k * d + j] += r * X[i * d + j];
            g[K * d + k] += r;
        }
    }
    double gg = 0;
    for (size_t t = 0; t < K * d; t++) {
        f += 0.5 * l2 * Wb[t] * Wb[t];
        g[t] += l2 * Wb[t];
    }
    for (size_t t = 0; t < (d + (fit_intercept != 0)) * K; t++)
        gg += g[t] * g[t];
    *gnorm = sqrt(gg);
    free(P);
    free(g);
    return f;
}

static double max_abs_diff(const double *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

/* The library's float32 probabilities of the first n pool rows, through
 * both hitl_model_predict and hitl_model_predict_pool (which must agree). */
static float *predicted(const hitl_model *m, const hitl_pool *p, size_t n, size_t K)
{
    size_t d;
    ck_assert_int_eq(hitl_pool_dim(&d, p), HITL_OK);
    float *P = malloc(n * K * sizeof *P), *Q = malloc(n * K * sizeof *Q);
    float *X = malloc(n * d * sizeof *X);
    ck_assert(P && Q && X);
    for (size_t i = 0; i < n; i++) {
        const float *row;
        ck_assert_int_eq(hitl_pool_row(&row, p, i), HITL_OK);
        memcpy(X + i * d, row, d * sizeof *X);
    }
    ck_assert_int_eq(hitl_model_predict(P, m, X, n, d), HITL_OK);
    ck_assert_int_eq(hitl_model_predict_pool(Q, m, p, 0, n), HITL_OK);
    ck_assert(memcmp(P, Q, n * K * sizeof *P) == 0);
    free(Q);
    free(X);
    return P;
}

static int msg_has(const char *needle)
{
    return strstr(hitl_error_message(), needle) != NULL;
}

#define ASSERT_MSG_HAS(needle) \
    ck_assert_msg(msg_has(needle), "message '%s' lacks '%s'", hitl_error_message(), needle)

/* ---- against scikit-learn ------------------------------------------------ */

START_TEST(test_matches_sklearn)
{
    fx_case *cs;
    size_t nc = load_fixture(&cs);
    ck_assert_uint_ge(nc, 3);
    for (size_t c = 0; c < nc; c++) {
        const fx_case *k = &cs[c];
        hitl_pool *p = case_pool(k, 0, k->n, 1);
        hitl_model *m = case_model(k);
        ck_assert_int_eq(hitl_model_fit(m, p), HITL_OK);
        double *Wb = coef_of(m, k->d, k->K);
        if (!k->fit_intercept)
            for (size_t t = 0; t < k->K; t++)
                ck_assert(Wb[k->K * k->d + t] == 0.0);

        /* the gradient norm, recomputed here, and the library's report */
        double gnorm, f = objective(&gnorm, Wb, k->X, k->y, k->w, k->n, k->d, k->K,
                                    1.0 / k->C, k->fit_intercept);
        ck_assert_msg(gnorm < 1e-5, "%s: ||grad f|| = %g", k->name, gnorm);
        ck_assert_double_lt(info(m, HITL_INFO_GRAD_NORM), 1e-5);
        ck_assert_double_le(info(m, HITL_INFO_GRAD_NORM), 1e-6); /* the default TOL */
        ck_assert_double_lt(fabs(info(m, HITL_INFO_OBJECTIVE) - f), 1e-9 * f);
        ck_assert_double_eq(info(m, HITL_INFO_N_TRAIN), (double)k->n);
        ck_assert_double_eq(info(m, HITL_INFO_FITTED), 1);

        /* probabilities against sklearn's predict_proba */
        double *P = malloc(k->n * k->K * sizeof *P);
        softmax_rows(P, Wb, k->X, k->n, k->d, k->K);
        double dp = max_abs_diff(P, k->proba, k->n * k->K);
        ck_assert_msg(dp < 1e-4, "%s: max |p - sklearn| = %g", k->name, dp);
        /* and the library's own float32 scoring of the fitted model */
        float *Pf = predicted(m, p, k->n, k->K);
        double dpf = 0, dself = 0;
        for (size_t t = 0; t < k->n * k->K; t++) {
            dpf = fmax(dpf, fabs(Pf[t] - k->proba[t]));
            dself = fmax(dself, fabs(Pf[t] - P[t]));
        }
        ck_assert_msg(dpf < 1e-4, "%s: max |predict - sklearn| = %g", k->name, dpf);
        ck_assert_msg(dself < 1e-5, "%s: max |predict - exact| = %g", k->name, dself);
        free(Pf);

        double sk_gnorm;
        double *sk = malloc((k->d + 1) * k->K * sizeof *sk);
        memcpy(sk, k->coef, k->K * k->d * sizeof *sk);
        memcpy(sk + k->K * k->d, k->icpt, k->K * sizeof *sk);
        double sk_f = objective(&sk_gnorm, sk, k->X, k->y, k->w, k->n, k->d, k->K,
                                1.0 / k->C, k->fit_intercept);
        ck_assert_double_le(f, sk_f); /* at least as good an optimum */
        printf("# %-18s n %3zu d %2zu K %2zu: ||grad f|| %.2e (sklearn %.2e), "
               "f %.10g (sklearn %+.1e), iterations %g, max |p - sklearn| %.2e "
               "(hitl_model_predict %.2e)\n",
               k->name, k->n, k->d, k->K, gnorm, sk_gnorm, f, sk_f - f,
               info(m, HITL_INFO_ITERATIONS), dp, dpf);
        free(sk);
        free(P);
        free(Wb);
        hitl_model_free(m);
        hitl_pool_free(p);
    }
    free_fixture(cs, nc);
}
END_TEST

/* The same fixture as CSR rows (its zeros dropped: about half of the
 * digits' pixels) in a sparse pool: the sparse fit reaches scikit-learn's
 * solution too, and predict_csr gives its probabilities. */
START_TEST(test_sparse_matches_sklearn)
{
    fx_case *cs;
    size_t nc = load_fixture(&cs);
    for (size_t c = 0; c < nc; c++) {
        const fx_case *k = &cs[c];
        int32_t *ip = malloc((k->n + 1) * sizeof *ip);
        int32_t *ix = malloc(k->n * k->d * sizeof *ix);
        float *vx = malloc(k->n * k->d * sizeof *vx);
        ck_assert(ip && ix && vx);
        size_t nnz = 0;
        ip[0] = 0;
        for (size_t i = 0; i < k->n; i++) {
            for (size_t j = 0; j < k->d; j++)
                if (k->X[i * k->d + j] != 0.0f) {
                    ix[nnz] = (int32_t)j;
                    vx[nnz++] = k->X[i * k->d + j];
                }
            ip[i + 1] = (int32_t)nnz;
        }
        hitl_pool *p = NULL;
        ck_assert_int_eq(hitl_pool_create_sparse(&p, k->d), HITL_OK);
        ck_assert_int_eq(hitl_pool_add_csr(p, ip, ix, vx, k->n, NULL), HITL_OK);
        for (size_t i = 0; i < k->n; i++) {
            ck_assert_int_eq(hitl_pool_set_label(p, i, k->y[i]), HITL_OK);
            ck_assert_int_eq(hitl_pool_set_weight(p, i, k->w[i]), HITL_OK);
        }
        hitl_model *m = case_model(k);
        ck_assert_int_eq(hitl_model_fit(m, p), HITL_OK);
        double *Wb = coef_of(m, k->d, k->K);
        double gnorm;
        objective(&gnorm, Wb, k->X, k->y, k->w, k->n, k->d, k->K, 1.0 / k->C,
                  k->fit_intercept);
        ck_assert_msg(gnorm < 1e-5, "%s (sparse): ||grad f|| = %g", k->name, gnorm);
        float *Pf = malloc(k->n * k->K * sizeof *Pf);
        ck_assert_ptr_nonnull(Pf);
        ck_assert_int_eq(hitl_model_predict_csr(Pf, m, ip, ix, vx, k->n), HITL_OK);
        double dp = 0;
        for (size_t t = 0; t < k->n * k->K; t++)
            dp = fmax(dp, fabs(Pf[t] - k->proba[t]));
        ck_assert_msg(dp < 1e-4, "%s (sparse): max |p - sklearn| = %g", k->name, dp);
        printf("# %-18s sparse, %zu of %zu values non-zero: max |p - sklearn| %.2e\n",
               k->name, nnz, k->n * k->d, dp);
        free(Pf);
        free(Wb);
        hitl_model_free(m);
        hitl_pool_free(p);
        free(ip);
        free(ix);
        free(vx);
    }
    free_fixture(cs, nc);
}
END_TEST

/* A refit after more labels starts from the previous solution and needs
 * fewer iterations than a cold fit to the same optimum; a refit on unchanged
 * labels needs none. */
START_TEST(test_warm_start)
{
    fx_case *cs;
    size_t nc = load_fixture(&cs);
    const fx_case *k = find_case(cs, nc, "digits");
    hitl_pool *p = case_pool(k, 0, k->n - 20, 0);
    hitl_model *warm = case_model(k), *cold = case_model(k);
    ck_assert_int_eq(hitl_model_fit(warm, p), HITL_OK);
    double *before = coef_of(warm, k->d, k->K);
    ck_assert_int_eq(hitl_model_fit(warm, p), HITL_OK);
    ck_assert_double_eq(info(warm, HITL_INFO_ITERATIONS), 0);
    double *same = coef_of(warm, k->d, k->K);
    ck_assert(memcmp(before, same, (k->d + 1) * k->K * sizeof *same) == 0);

    for (size_t i = k->n - 20; i < k->n; i++)
        ck_assert_int_eq(hitl_pool_set_label(p, i, k->y[i]), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(warm, p), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(cold, HITL_PARAM_WARM_START, 0), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(cold, p), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(cold, p), HITL_OK); /* WARM_START 0: cold again */
    double it_warm = info(warm, HITL_INFO_ITERATIONS), it_cold = info(cold, HITL_INFO_ITERATIONS);
    ck_assert_msg(it_warm < it_cold, "warm %g iterations, cold %g", it_warm, it_cold);
    ck_assert_double_lt(info(warm, HITL_INFO_GRAD_NORM), 1e-6);
    ck_assert_double_lt(info(cold, HITL_INFO_GRAD_NORM), 1e-6);
    double *a = coef_of(warm, k->d, k->K), *b = coef_of(cold, k->d, k->K);
    ck_assert_double_lt(max_abs_diff(a, b, (k->d + 1) * k->K), 1e-5);
    printf("# digits, %zu then %zu labels: refit iterations warm %g, cold %g\n",
           k->n - 20, k->n, it_warm, it_cold);
    free(before);
    free(same);
    free(a);
    free(b);
    hitl_model_free(warm);
    hitl_model_free(cold);
    hitl_pool_free(p);
    free_fixture(cs, nc);
}
END_TEST

/* Weight 2 on an item is the same problem as that item twice with weight 1;
 * SKIPPED and UNLABELED items are ignored. */
START_TEST(test_weights_duplicate)
{
    fx_case *cs;
    size_t nc = load_fixture(&cs);
    const fx_case *k = find_case(cs, nc, "wine_weighted");
    size_t n = k->n, d = k->d;
    /* pool A: every item, items i % 3 == 0 with weight 2, one skipped and
     * one unlabeled item; pool B: the labeled items with those duplicated */
    hitl_pool *pa = case_pool(k, 0, n, 0), *pb = NULL;
    ck_assert_int_eq(hitl_pool_create(&pb, d), HITL_OK);
    for (size_t i = 0; i < n; i++) {
        if (i == 5 || i == 7)
            continue;
        size_t copies = i % 3 == 0 ? 2 : 1;
        for (size_t c = 0; c < copies; c++) {
            size_t at;
            ck_assert_int_eq(hitl_pool_size(&at, pb), HITL_OK);
            ck_assert_int_eq(hitl_pool_add(pb, k->X + i * d, 1, d, NULL), HITL_OK);
            ck_assert_int_eq(hitl_pool_set_label(pb, at, k->y[i]), HITL_OK);
        }
        if (i % 3 == 0)
            ck_assert_int_eq(hitl_pool_set_weight(pa, i, 2.0f), HITL_OK);
    }
    ck_assert_int_eq(hitl_pool_set_state(pa, 5, HITL_ITEM_SKIPPED), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_state(pa, 7, HITL_ITEM_UNLABELED), HITL_OK);
    hitl_pool *pu = case_pool(k, 0, n, 0); /* unweighted, for contrast */

    hitl_model *ma = case_model(k), *mb = case_model(k), *mu = case_model(k);
    for (int t = 0; t < 3; t++) {
        hitl_model *m = t == 0 ? ma : t == 1 ? mb : mu;
        ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_TOL, 1e-9), HITL_OK);
        ck_assert_int_eq(hitl_model_fit(m, t == 0 ? pa : t == 1 ? pb : pu), HITL_OK);
    }
    size_t nb;
    ck_assert_int_eq(hitl_pool_size(&nb, pb), HITL_OK);
    ck_assert_double_eq(info(ma, HITL_INFO_N_TRAIN), (double)(n - 2));
    ck_assert_double_eq(info(mb, HITL_INFO_N_TRAIN), (double)nb);
    double *a = coef_of(ma, d, k->K), *b = coef_of(mb, d, k->K), *u = coef_of(mu, d, k->K);
    ck_assert_double_lt(max_abs_diff(a, b, (d + 1) * k->K), 1e-6);
    ck_assert_double_gt(max_abs_diff(a, u, (d + 1) * k->K), 1e-2);
    ck_assert_double_lt(fabs(info(ma, HITL_INFO_OBJECTIVE) - info(mb, HITL_INFO_OBJECTIVE)),
                        1e-8 * info(mb, HITL_INFO_OBJECTIVE));
    free(a);
    free(b);
    free(u);
    hitl_model_free(ma);
    hitl_model_free(mb);
    hitl_model_free(mu);
    hitl_pool_free(pa);
    hitl_pool_free(pb);
    hitl_pool_free(pu);
    free_fixture(cs, nc);
}
END_TEST

/* MAX_ITER caps the fit; not reaching TOL is no error, and the reported
 * gradient norm is the true one. */
START_TEST(test_max_iter)
{
    fx_case *cs;
    size_t nc = load_fixture(&cs);
    const fx_case *k = find_case(cs, nc, "digits");
    hitl_pool *p = case_pool(k, 0, k->n, 0);
    hitl_model *m = case_model(k);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_MAX_ITER, 3), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_OK);
    ck_assert_double_eq(info(m, HITL_INFO_ITERATIONS), 3);
    double *Wb = coef_of(m, k->d, k->K), gnorm;
    double f = objective(&gnorm, Wb, k->X, k->y, NULL, k->n, k->d, k->K, 1.0 / k->C, 1);
    ck_assert_double_gt(gnorm, 1e-3);
    ck_assert_double_lt(fabs(info(m, HITL_INFO_GRAD_NORM) - gnorm), 1e-9 * gnorm);
    ck_assert_double_lt(fabs(info(m, HITL_INFO_OBJECTIVE) - f), 1e-9 * f);
    free(Wb);
    hitl_model_free(m);
    hitl_pool_free(p);
    free_fixture(cs, nc);
}
END_TEST

/* Two classes without a penalty on data that are not separable, and a class
 * with no labeled item: the fit still reaches TOL.  Absurd feature scales
 * never put NaN or Inf into a model. */
START_TEST(test_edge_problems)
{
    const float X[] = {0, 0, 1, 0, 0, 1, 1, 1, 0.5f, 0.25f, 0.75f, 0.5f};
    const int32_t y[] = {0, 1, 1, 0, 0, 1};
    hitl_pool *p = NULL;
    ck_assert_int_eq(hitl_pool_create(&p, 2), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p, X, 6, 2, NULL), HITL_OK);
    for (size_t i = 0; i < 6; i++)
        ck_assert_int_eq(hitl_pool_set_label(p, i, y[i]), HITL_OK);
    hitl_model *m = NULL;
    ck_assert_int_eq(hitl_model_create_logreg(&m, 2, 2), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_L2, 0), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_OK);
    ck_assert_double_le(info(m, HITL_INFO_GRAD_NORM), 1e-6);
    hitl_model_free(m);

    /* 4 classes, classes 2 and 3 never seen: their scores go down, finitely */
    ck_assert_int_eq(hitl_model_create_logreg(&m, 2, 4), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_OK);
    ck_assert_double_le(info(m, HITL_INFO_GRAD_NORM), 1e-6);
    double W[8], b[4];
    ck_assert_int_eq(hitl_model_get_coef(W, b, m), HITL_OK);
    ck_assert_double_lt(b[2], b[0]);
    ck_assert_double_lt(b[3], b[1]);
    ck_assert_int_eq(hitl_model_get_coef(NULL, NULL, m), HITL_OK);
    hitl_model_free(m);
    hitl_pool_free(p);

    /* features near FLT_MAX and no penalty: the fit ends without NaN/Inf in
     * the model (OK with an honest, large gradient norm, or HITL_ENUMERIC) */
    const float big[] = {3e38f, -3e38f, 1e-38f, 2e38f, -1e30f, 5e37f, 0, 3.4e38f};
    ck_assert_int_eq(hitl_pool_create(&p, 2), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p, big, 4, 2, NULL), HITL_OK);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(hitl_pool_set_label(p, i, (int32_t)(i % 2)), HITL_OK);
    ck_assert_int_eq(hitl_model_create_logreg(&m, 2, 2), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_L2, 0), HITL_OK);
    int st = hitl_model_fit(m, p);
    ck_assert(st == HITL_OK || st == HITL_ENUMERIC);
    if (st == HITL_OK) {
        ck_assert_int_eq(hitl_model_get_coef(W, b, m), HITL_OK);
        for (size_t t = 0; t < 4; t++)
            ck_assert(isfinite(W[t]));
        ck_assert(isfinite(info(m, HITL_INFO_GRAD_NORM)));
        ck_assert(isfinite(info(m, HITL_INFO_OBJECTIVE)));
    } else {
        ck_assert_double_eq(info(m, HITL_INFO_FITTED), 0);
    }
    hitl_model_free(m);
    hitl_pool_free(p);
}
END_TEST

/* The reported objective is f at the returned solution to double precision
 * even when the data are nearly separable and the penalty tiny, so that f is
 * orders of magnitude below the scores: each item's loss must not be formed
 * as a difference of scores that cancels. */
START_TEST(test_objective_precision)
{
    enum { N = 100 };
    float X[N];
    int32_t lab[N];
    for (size_t i = 0; i < N; i++) {
        X[i] = (i % 2 ? 1.0f : -1.0f) * (1.0f + (float)i / N);
        lab[i] = (int32_t)(i % 2);
    }
    hitl_pool *p = NULL;
    ck_assert_int_eq(hitl_pool_create(&p, 1), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p, X, N, 1, NULL), HITL_OK);
    for (size_t i = 0; i < N; i++)
        ck_assert_int_eq(hitl_pool_set_label(p, i, lab[i]), HITL_OK);
    for (double l2 = 1e-2; l2 >= 1e-8; l2 /= 100) {
        hitl_model *m = NULL;
        ck_assert_int_eq(hitl_model_create_logreg(&m, 1, 2), HITL_OK);
        ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_L2, l2), HITL_OK);
        ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_FIT_INTERCEPT, 0), HITL_OK);
        ck_assert_int_eq(hitl_model_fit(m, p), HITL_OK);
        double *Wb = coef_of(m, 1, 2), gnorm;
        double f = objective(&gnorm, Wb, X, lab, NULL, N, 1, 2, l2, 0);
        double got = info(m, HITL_INFO_OBJECTIVE);
        ck_assert_msg(fabs(got - f) <= 1e-12 * f,
                      "lambda %g: objective %.17g, exact %.17g (relative error %.2g)",
                      l2, got, f, (got - f) / f);
        ck_assert_double_le(gnorm, 1e-6);
        free(Wb);
        hitl_model_free(m);
    }
    hitl_pool_free(p);
}
END_TEST

/* ---- parameters, creation, info ------------------------------------------ */

START_TEST(test_params)
{
    hitl_model *m = NULL;
    ck_assert_int_eq(hitl_model_create_logreg(&m, 3, 4), HITL_OK);
    static const struct { hitl_param p; double def, good, bad[5]; int n_bad; } t[] = {
        {HITL_PARAM_L2, 1.0, 0.0, {-1e-9, NAN, INFINITY}, 3},
        {HITL_PARAM_FIT_INTERCEPT, 1, 0, {0.5, 2, -1, NAN}, 4},
        {HITL_PARAM_TOL, 1e-6, 1e-12, {0, -1, NAN, INFINITY}, 4},
        {HITL_PARAM_MAX_ITER, 1000, 1, {0, 1.5, -3, 9007199254740994.0, NAN}, 5},
        {HITL_PARAM_WARM_START, 1, 0, {0.25, 3, NAN}, 3},
        {HITL_PARAM_THREADS, 0, 1024, {-1, 2.5, 1025, INFINITY, NAN}, 5},
        {HITL_PARAM_BLOCK_ROWS, 2048, 16, {15, 16.5, 16777217, -16, NAN}, 5},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        double v;
        ck_assert_int_eq(hitl_model_get_param(&v, m, t[i].p), HITL_OK);
        ck_assert_double_eq(v, t[i].def);
        ck_assert_int_eq(hitl_model_set_param(m, t[i].p, t[i].good), HITL_OK);
        for (int j = 0; j < t[i].n_bad; j++) {
            hitl_error_clear();
            ck_assert_int_eq(hitl_model_set_param(m, t[i].p, t[i].bad[j]), HITL_EINVAL);
            char num[16];
            snprintf(num, sizeof num, "%d", (int)t[i].p);
            ASSERT_MSG_HAS(num);
            ck_assert_int_eq(hitl_model_get_param(&v, m, t[i].p), HITL_OK);
            ck_assert_double_eq(v, t[i].good); /* unchanged */
        }
    }
    double v;
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_MAX_ITER, 9007199254740992.0), HITL_OK);
    ck_assert_int_eq(hitl_model_get_param(&v, m, HITL_PARAM_MAX_ITER), HITL_OK);
    ck_assert_double_eq(v, 9007199254740992.0);
    /* another handle kind's parameter, unknown parameters, NULLs */
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_SEED, 1), HITL_EINVAL);
    ASSERT_MSG_HAS("another handle kind");
    ck_assert_int_eq(hitl_model_get_param(&v, m, HITL_PARAM_SEED), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_set_param(m, (hitl_param)107, 1), HITL_EINVAL);
    ASSERT_MSG_HAS("unknown model parameter 107");
    ck_assert_int_eq(hitl_model_get_param(&v, m, (hitl_param)99), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_set_param(m, (hitl_param)-5, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_set_param(NULL, HITL_PARAM_L2, 1), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_get_param(NULL, m, HITL_PARAM_L2), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_get_param(&v, NULL, HITL_PARAM_L2), HITL_EINVAL);
    hitl_model_free(m);
}
END_TEST

static int dummy_predict(void *user, const float *X, size_t n, size_t stride,
                         size_t dim, float *proba)
{
    (void)user; (void)X; (void)stride; (void)dim;
    for (size_t i = 0; i < 3 * n; i++)
        proba[i] = 1;
    return 0;
}

START_TEST(test_create_and_info)
{
    hitl_model *m = (hitl_model *)&m; /* a sentinel that must stay put */
    hitl_model *sentinel = m;
    ck_assert_int_eq(hitl_model_create_logreg(NULL, 3, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_create_logreg(&m, 0, 2), HITL_EINVAL);
    ASSERT_MSG_HAS("dim");
    ck_assert_int_eq(hitl_model_create_logreg(&m, 3, 1), HITL_EINVAL);
    ASSERT_MSG_HAS("n_classes 1");
    ck_assert_int_eq(hitl_model_create_logreg(&m, 3, 65537), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_create_logreg(&m, SIZE_MAX, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_create_logreg(&m, 100000, 65536), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_create_custom(NULL, 3, 3, NULL, dummy_predict, NULL),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_model_create_custom(&m, 3, 3, NULL, NULL, NULL), HITL_EINVAL);
    ASSERT_MSG_HAS("predict");
    ck_assert_int_eq(hitl_model_create_custom(&m, 0, 3, NULL, dummy_predict, NULL),
                     HITL_EINVAL);
    ck_assert_int_eq(hitl_model_create_custom(&m, 3, 65537, NULL, dummy_predict, NULL),
                     HITL_EINVAL);
    ck_assert_ptr_eq(m, sentinel);

    ck_assert_int_eq(hitl_model_create_logreg(&m, 3, 65536), HITL_OK);
    ck_assert_double_eq(info(m, HITL_INFO_DIM), 3);
    ck_assert_double_eq(info(m, HITL_INFO_N_CLASSES), 65536);
    ck_assert_double_eq(info(m, HITL_INFO_FITTED), 0);
    ck_assert_double_eq(info(m, HITL_INFO_GRAD_NORM), 0);
    ck_assert_double_eq(info(m, HITL_INFO_ITERATIONS), 0);
    ck_assert_double_eq(info(m, HITL_INFO_N_TRAIN), 0);
    double v, W[3];
    ck_assert_int_eq(hitl_model_get_info(&v, m, (hitl_info)0), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_get_info(&v, m, (hitl_info)8), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_get_info(NULL, m, HITL_INFO_DIM), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_get_info(&v, NULL, HITL_INFO_DIM), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_get_coef(W, NULL, m), HITL_ESTATE);
    ck_assert_int_eq(hitl_model_get_coef(W, NULL, NULL), HITL_EINVAL);
    hitl_model_free(m);
    hitl_model_free(NULL);
}
END_TEST

/* ---- fit errors ---------------------------------------------------------- */

START_TEST(test_fit_errors)
{
    const float X[] = {0, 1, 1, 0, 1, 1, 0, 0};
    hitl_pool *p = NULL, *p3 = NULL;
    ck_assert_int_eq(hitl_pool_create(&p, 2), HITL_OK);
    ck_assert_int_eq(hitl_pool_create(&p3, 3), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p, X, 4, 2, NULL), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p3, X, 2, 3, NULL), HITL_OK);
    hitl_model *m = NULL;
    ck_assert_int_eq(hitl_model_create_logreg(&m, 2, 3), HITL_OK);

    ck_assert_int_eq(hitl_model_fit(NULL, p), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_fit(m, NULL), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_fit(m, p3), HITL_EINVAL);
    ASSERT_MSG_HAS("dim 3");
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_ESTATE);
    ASSERT_MSG_HAS("no labeled item");
    ck_assert_int_eq(hitl_pool_set_label(p, 0, 2), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_state(p, 0, HITL_ITEM_SKIPPED), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_ESTATE); /* skipped items do not count */
    ck_assert_double_eq(info(m, HITL_INFO_FITTED), 0);

    ck_assert_int_eq(hitl_pool_set_label(p, 0, 0), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_label(p, 1, 1), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_label(p, 2, 2), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_OK);
    double before[9], after[9], it = info(m, HITL_INFO_ITERATIONS);
    ck_assert_int_eq(hitl_model_get_coef(before, before + 6, m), HITL_OK);

    ck_assert_int_eq(hitl_pool_set_label(p, 3, 3), HITL_OK); /* 3 >= n_classes */
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_EINVAL);
    ASSERT_MSG_HAS("item 3");
    ASSERT_MSG_HAS("label 3");
    ck_assert_int_eq(hitl_model_get_coef(after, after + 6, m), HITL_OK);
    ck_assert(memcmp(before, after, sizeof before) == 0); /* previous fit kept */
    ck_assert_double_eq(info(m, HITL_INFO_ITERATIONS), it);
    ck_assert_double_eq(info(m, HITL_INFO_N_TRAIN), 3);
    ck_assert_double_eq(info(m, HITL_INFO_FITTED), 1);
    hitl_model_free(m);
    hitl_pool_free(p);
    hitl_pool_free(p3);
}
END_TEST

/* ---- custom models ------------------------------------------------------- */

typedef struct seen {
    int calls, fail;
    size_t n, dim;
    float X[16];
    int32_t y[8];
    float w[8];
} seen;

static int record_fit(void *user, const float *X, size_t n, size_t dim,
                      const int32_t *y, const float *w)
{
    seen *s = user;
    s->calls++;
    if (s->fail)
        return s->fail;
    s->n = n;
    s->dim = dim;
    memcpy(s->X, X, n * dim * sizeof *X);
    memcpy(s->y, y, n * sizeof *y);
    memcpy(s->w, w, n * sizeof *w);
    return 0;
}

START_TEST(test_custom)
{
    const float X[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    hitl_pool *p = NULL;
    ck_assert_int_eq(hitl_pool_create(&p, 2), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p, X, 5, 2, NULL), HITL_OK);
    seen s = {0};
    hitl_model *m = NULL;
    ck_assert_int_eq(hitl_model_create_custom(&m, 2, 3, record_fit, dummy_predict, &s), HITL_OK);
    ck_assert_double_eq(info(m, HITL_INFO_FITTED), 0);
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_ESTATE);
    ck_assert_int_eq(s.calls, 0);

    /* items 1, 3 and 4 labeled (4 with weight 0.5), item 2 skipped */
    ck_assert_int_eq(hitl_pool_set_label(p, 1, 2), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_label(p, 2, 1), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_state(p, 2, HITL_ITEM_SKIPPED), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_label(p, 3, 0), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_label(p, 4, 1), HITL_OK);
    ck_assert_int_eq(hitl_pool_set_weight(p, 4, 0.5f), HITL_OK);

    s.fail = -7; /* a failing callback leaves the model as it was */
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_ECALLBACK);
    ASSERT_MSG_HAS("-7");
    ck_assert_int_eq(s.calls, 1);
    ck_assert_double_eq(info(m, HITL_INFO_FITTED), 0);
    ck_assert_double_eq(info(m, HITL_INFO_N_TRAIN), 0);

    s.fail = 0;
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_OK);
    ck_assert_uint_eq(s.n, 3);
    ck_assert_uint_eq(s.dim, 2);
    const float wantX[] = {2, 3, 6, 7, 8, 9};
    const int32_t wanty[] = {2, 0, 1};
    const float wantw[] = {1, 1, 0.5f};
    ck_assert(memcmp(s.X, wantX, sizeof wantX) == 0);
    ck_assert(memcmp(s.y, wanty, sizeof wanty) == 0);
    ck_assert(memcmp(s.w, wantw, sizeof wantw) == 0);
    ck_assert_double_eq(info(m, HITL_INFO_FITTED), 1);
    ck_assert_double_eq(info(m, HITL_INFO_N_TRAIN), 3);
    ck_assert_double_eq(info(m, HITL_INFO_GRAD_NORM), 0);
    ck_assert_double_eq(info(m, HITL_INFO_OBJECTIVE), 0);
    ck_assert_double_eq(info(m, HITL_INFO_ITERATIONS), 0);

    ck_assert_int_eq(hitl_pool_set_label(p, 0, 1), HITL_OK);
    s.fail = 1; /* a fitted model stays fitted with its old figures */
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_ECALLBACK);
    ck_assert_double_eq(info(m, HITL_INFO_FITTED), 1);
    ck_assert_double_eq(info(m, HITL_INFO_N_TRAIN), 3);
    ck_assert_int_eq(hitl_pool_set_label(p, 0, 3), HITL_OK); /* label >= 3 */
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_EINVAL);
    ck_assert_int_eq(s.calls, 3);

    /* optimizer parameters are accepted; no coefficients; cannot be saved */
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_L2, 5), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, 1), HITL_OK);
    double W[6], v;
    ck_assert_int_eq(hitl_model_get_param(&v, m, HITL_PARAM_THREADS), HITL_OK);
    ck_assert_double_eq(v, 1);
    ck_assert_int_eq(hitl_model_get_coef(W, NULL, m), HITL_EINVAL);
    size_t size;
    unsigned char buf[256];
    ck_assert_int_eq(hitl_model_save_size(&size, m), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_save(&size, buf, sizeof buf, m), HITL_EINVAL);
    ASSERT_MSG_HAS("custom");
    ck_assert_int_eq(hitl_model_save_file(m, "/tmp/never-written.model"), HITL_EINVAL);
    hitl_model_free(m);

    /* fit NULL: trained elsewhere, fitted from the start; fit only validates */
    ck_assert_int_eq(hitl_model_create_custom(&m, 2, 3, NULL, dummy_predict, NULL), HITL_OK);
    ck_assert_double_eq(info(m, HITL_INFO_FITTED), 1);
    ck_assert_int_eq(hitl_pool_set_label(p, 0, 1), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_OK);
    ck_assert_double_eq(info(m, HITL_INFO_N_TRAIN), 0);
    hitl_model_free(m);
    hitl_pool_free(p);
}
END_TEST

/* ---- serialization ------------------------------------------------------- */

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void reseal(unsigned char *buf, size_t size)
{
    put_le(buf + size - 4, ref_crc32(buf, size - 4), 4);
}

/* A fitted digits model with every parameter away from its default. */
static hitl_model *fitted_digits(const fx_case *k)
{
    hitl_pool *p = case_pool(k, 0, 100, 0);
    hitl_model *m = case_model(k);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_L2, 0.37), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_TOL, 1e-7), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_MAX_ITER, 777), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_WARM_START, 0), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_THREADS, 3), HITL_OK);
    ck_assert_int_eq(hitl_model_set_param(m, HITL_PARAM_BLOCK_ROWS, 4096), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_OK);
    hitl_pool_free(p);
    return m;
}

static unsigned char *saved(size_t *size, const hitl_model *m)
{
    ck_assert_int_eq(hitl_model_save_size(size, m), HITL_OK);
    unsigned char *buf = malloc(*size);
    size_t written = 0;
    ck_assert_int_eq(hitl_model_save(&written, buf, *size, m), HITL_OK);
    ck_assert_uint_eq(written, *size);
    return buf;
}

static void assert_same_model(const hitl_model *a, const hitl_model *b)
{
    for (int i = HITL_INFO_FITTED; i <= HITL_INFO_N_CLASSES; i++) {
        double x = info(a, (hitl_info)i), y = info(b, (hitl_info)i);
        ck_assert(memcmp(&x, &y, sizeof x) == 0);
    }
    for (int p = HITL_PARAM_L2; p <= HITL_PARAM_BLOCK_ROWS; p++) {
        double x, y;
        ck_assert_int_eq(hitl_model_get_param(&x, a, (hitl_param)p), HITL_OK);
        ck_assert_int_eq(hitl_model_get_param(&y, b, (hitl_param)p), HITL_OK);
        ck_assert(memcmp(&x, &y, sizeof x) == 0);
    }
}

START_TEST(test_roundtrip)
{
    fx_case *cs;
    size_t nc = load_fixture(&cs);
    const fx_case *k = find_case(cs, nc, "digits");
    hitl_model *m = fitted_digits(k), *u = case_model(k);
    for (int t = 0; t < 2; t++) {
        hitl_model *orig = t == 0 ? m : u, *back = NULL;
        size_t size, size2;
        unsigned char *a = saved(&size, orig);
        ck_assert_uint_eq(size, 128 + (t == 0 ? (k->d + 1) * k->K * 8 : 0));
        /* the documented layout */
        ck_assert(memcmp(a, "HITLMODL", 8) == 0);
        ck_assert_uint_eq(get_le(a + 8, 4), 1);
        ck_assert_uint_eq(get_le(a + 12, 4), 1);
        ck_assert_uint_eq(get_le(a + 16, 8), k->d);
        ck_assert_uint_eq(get_le(a + 24, 8), k->K);
        ck_assert_uint_eq(ref_crc32((const unsigned char *)"123456789", 9),
                          0xcbf43926u); /* the reference's standard check value */
        ck_assert_uint_eq(get_le(a + size - 4, 4), ref_crc32(a, size - 4));

        ck_assert_int_eq(hitl_model_load(&back, a, size), HITL_OK);
        assert_same_model(orig, back);
        unsigned char *b = saved(&size2, back);
        ck_assert_uint_eq(size2, size);
        ck_assert(memcmp(a, b, size) == 0);
        if (t == 0) {
            double *c1 = coef_of(orig, k->d, k->K), *c2 = coef_of(back, k->d, k->K);
            ck_assert(memcmp(c1, c2, (k->d + 1) * k->K * sizeof *c1) == 0);
            free(c1);
            free(c2);
            hitl_pool *all = case_pool(k, 0, 0, 0);
            float *p1 = predicted(orig, all, k->n, k->K), *p2 = predicted(back, all, k->n, k->K);
            ck_assert(memcmp(p1, p2, k->n * k->K * sizeof *p1) == 0);
            free(p1);
            free(p2);
            hitl_pool_free(all);
        } else {
            double W[640];
            ck_assert_int_eq(hitl_model_get_coef(W, NULL, back), HITL_ESTATE);
        }
        /* a loaded model refits: warm from its coefficients when fitted */
        hitl_pool *p = case_pool(k, 0, 120, 0);
        ck_assert_int_eq(hitl_model_set_param(back, HITL_PARAM_WARM_START, 1), HITL_OK);
        ck_assert_int_eq(hitl_model_fit(back, p), HITL_OK);
        double tol;
        ck_assert_int_eq(hitl_model_get_param(&tol, back, HITL_PARAM_TOL), HITL_OK);
        ck_assert_double_le(info(back, HITL_INFO_GRAD_NORM), tol);
        hitl_pool_free(p);

        /* capacity too small, NULLs */
        size_t w = 12345;
        ck_assert_int_eq(hitl_model_save(&w, b, size - 1, orig), HITL_EINVAL);
        ASSERT_MSG_HAS("capacity");
        ck_assert_uint_eq(w, 12345);
        ck_assert_int_eq(hitl_model_save(NULL, b, size, orig), HITL_EINVAL);
        ck_assert_int_eq(hitl_model_save(&w, NULL, size, orig), HITL_EINVAL);
        ck_assert_int_eq(hitl_model_save(&w, b, size, NULL), HITL_EINVAL);
        ck_assert_int_eq(hitl_model_save_size(NULL, orig), HITL_EINVAL);
        ck_assert_int_eq(hitl_model_save_size(&w, NULL), HITL_EINVAL);
        ck_assert_int_eq(hitl_model_load(NULL, a, size), HITL_EINVAL);
        hitl_model *x = NULL;
        ck_assert_int_eq(hitl_model_load(&x, NULL, size), HITL_EINVAL);
        free(a);
        free(b);
        hitl_model_free(back);
    }
    hitl_model_free(m);
    hitl_model_free(u);
    free_fixture(cs, nc);
}
END_TEST

/* Every truncation and every single-bit flip of a saved fitted model (the
 * wine one: 464 bytes, so the 3712 flips stay quick under valgrind). */
START_TEST(test_truncation_and_bit_flips)
{
    fx_case *cs;
    size_t nc = load_fixture(&cs);
    const fx_case *k = find_case(cs, nc, "wine_weighted");
    hitl_pool *p = case_pool(k, 0, k->n, 1);
    hitl_model *m = case_model(k);
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_OK);
    hitl_pool_free(p);
    size_t size;
    unsigned char *a = saved(&size, m);
    unsigned char *b = malloc(size + 1);
    hitl_model *x = NULL;
    for (size_t len = 0; len < size; len++) {
        memcpy(b, a, len);
        ck_assert_msg(hitl_model_load(&x, b, len) == HITL_EFORMAT, "length %zu", len);
        ck_assert_ptr_null(x);
    }
    memcpy(b, a, size);
    b[size] = 0;
    ck_assert_int_eq(hitl_model_load(&x, b, size + 1), HITL_EFORMAT);
    ASSERT_MSG_HAS("trailing");
    for (size_t bit = 0; bit < 8 * size; bit++) {
        b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        ck_assert_msg(hitl_model_load(&x, b, size) == HITL_EFORMAT, "bit %zu", bit);
        b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    ck_assert_ptr_null(x);
    ck_assert_int_eq(hitl_model_load(&x, b, size), HITL_OK); /* b is intact again */
    hitl_model_free(x);
    free(a);
    free(b);
    hitl_model_free(m);
    free_fixture(cs, nc);
}
END_TEST

/* Contents the checksum vouches for must still make sense. */
START_TEST(test_bad_contents)
{
    fx_case *cs;
    size_t nc = load_fixture(&cs);
    hitl_model *m = fitted_digits(find_case(cs, nc, "digits"));
    size_t size;
    unsigned char *a = saved(&size, m), *b = malloc(size);
    static const struct { size_t at; int bytes; uint64_t v; const char *why; } t[] = {
        {0, 1, 'X', "magic"},
        {8, 4, 2, "version 2"},
        {12, 4, 2, "kind 2"},
        {16, 8, 0, "dim is 0"},
        {24, 8, 1, "n_classes 1"},
        {24, 8, 65537, "n_classes 65537"},
        {16, 8, UINT64_C(1) << 40, "exceeds"},
        {32, 8, UINT64_C(0xbff0000000000000), "parameter 100"},           /* l2 = -1 */
        {40, 8, UINT64_C(0x3fe0000000000000), "parameter 101"},           /* 0.5 */
        {48, 8, 0, "parameter 102"},                                      /* tol 0 */
        {56, 8, UINT64_C(0x3ff8000000000000), "parameter 103"},           /* 1.5 */
        {72, 8, UINT64_C(0x7ff8000000000000), "parameter 105"},           /* NaN */
        {80, 8, UINT64_C(0x4020000000000000), "parameter 106"},           /* 8 */
        {88, 4, 2, "fitted flag 2"},
        {92, 8, UINT64_C(0x7ff0000000000000), "grad norm"},               /* Inf */
        {100, 8, UINT64_C(0xbff0000000000000), "objective"},              /* -1 */
        {124 + 8 * 17, 8, UINT64_C(0x7ff8000000000001), "coefficient 17"}, /* NaN */
        {124, 8, UINT64_C(0xfff0000000000000), "coefficient 0"},          /* -Inf */
        /* -0 loads as +0 and would save back other bytes */
        {40, 8, UINT64_C(0x8000000000000000), "parameter 101 is -0"},
        /* finite, but no float32 weight holds 1e300 */
        {124 + 8 * 3, 8, UINT64_C(0x7e37e43c8800759c), "beyond float32"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        memcpy(b, a, size);
        put_le(b + t[i].at, t[i].v, t[i].bytes);
        reseal(b, size);
        hitl_model *x = NULL;
        ck_assert_int_eq(hitl_model_load(&x, b, size), HITL_EFORMAT);
        ck_assert_ptr_null(x);
        ASSERT_MSG_HAS(t[i].why);
    }
    memcpy(b, a, size);
    b[200] ^= 1; /* no reseal */
    hitl_model *x = NULL;
    ck_assert_int_eq(hitl_model_load(&x, b, size), HITL_EFORMAT);
    ASSERT_MSG_HAS("checksum");
    /* an unfitted record with a fitted model's length is rejected on length */
    memcpy(b, a, size);
    put_le(b + 88, 0, 4);
    reseal(b, size);
    ck_assert_int_eq(hitl_model_load(&x, b, size), HITL_EFORMAT);
    ASSERT_MSG_HAS("length");
    free(a);
    free(b);
    hitl_model_free(m);
    free_fixture(cs, nc);
}
END_TEST

static unsigned char *slurp(size_t *size, const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char *buf = malloc(1 << 20);
    *size = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static size_t dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

START_TEST(test_files)
{
    fx_case *cs;
    size_t nc = load_fixture(&cs);
    const fx_case *k = find_case(cs, nc, "digits");
    hitl_model *m = fitted_digits(k), *u = case_model(k), *x = NULL;
    char dir[] = "/tmp/hitl-test-model-XXXXXX", path[128], junk[160];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.model", dir);

    /* save over an older file; load; same bytes as the buffer form */
    ck_assert_int_eq(hitl_model_save_file(u, path), HITL_OK);
    ck_assert_int_eq(hitl_model_save_file(m, path), HITL_OK);
    ck_assert_uint_eq(dir_entries(dir), 1); /* no temporary left behind */
    size_t size, fsize;
    unsigned char *a = saved(&size, m), *f = slurp(&fsize, path);
    ck_assert_uint_eq(fsize, size);
    ck_assert(memcmp(a, f, size) == 0);
    ck_assert_int_eq(hitl_model_load_file(&x, path), HITL_OK);
    assert_same_model(m, x);
    hitl_model_free(x);
    x = NULL;

    /* I/O errors name the path and the system's reason */
    snprintf(junk, sizeof junk, "%s/no/such/dir/m.model", dir);
    ck_assert_int_eq(hitl_model_save_file(m, junk), HITL_EIO);
    ASSERT_MSG_HAS("No such file or directory");
    ASSERT_MSG_HAS(dir);
    ck_assert_int_eq(hitl_model_save_file(m, dir), HITL_EIO); /* rename onto a dir */
    ck_assert_uint_eq(dir_entries(dir), 1);
    ck_assert_int_eq(hitl_model_load_file(&x, junk), HITL_EIO);
    ASSERT_MSG_HAS("No such file or directory");
    ck_assert_int_eq(hitl_model_load_file(&x, dir), HITL_EIO);
    ck_assert_ptr_null(x);
    ck_assert_int_eq(hitl_model_save_file(m, NULL), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_save_file(NULL, path), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_load_file(NULL, path), HITL_EINVAL);
    ck_assert_int_eq(hitl_model_load_file(&x, NULL), HITL_EINVAL);

    /* a truncated or empty file is a format error */
    ck_assert_int_eq(truncate(path, (off_t)size - 1), 0);
    ck_assert_int_eq(hitl_model_load_file(&x, path), HITL_EFORMAT);
    ck_assert_int_eq(truncate(path, 0), 0);
    ck_assert_int_eq(hitl_model_load_file(&x, path), HITL_EFORMAT);
    ASSERT_MSG_HAS("truncated");
    ck_assert_ptr_null(x);

    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    free(a);
    free(f);
    hitl_model_free(m);
    hitl_model_free(u);
    free_fixture(cs, nc);
}
END_TEST

/* ---- out of memory ------------------------------------------------------- */

/* Run `call` with allocation 0, 1, 2, ... failing until it succeeds (n
 * counts the failures); every failure must be HITL_ENOMEM and pass the
 * checks given as the last argument. */
#define UNTIL_NO_OOM(n, call, ...)               \
    for ((n) = 0;; (n)++) {                      \
        oom_arm(n);                              \
        int st_ = (call);                        \
        oom_arm(-1);                             \
        if (st_ == HITL_OK)                      \
            break;                               \
        ck_assert_int_eq(st_, HITL_ENOMEM);      \
        __VA_ARGS__                              \
    }

static void assert_coef_eq(const hitl_model *m, const double *want, size_t n)
{
    double *c = malloc(n * sizeof *c);
    ck_assert_int_eq(hitl_model_get_coef(c, c + n - 2, m), HITL_OK); /* d 2, K 2 */
    ck_assert(memcmp(c, want, n * sizeof *c) == 0);
    free(c);
}

START_TEST(test_out_of_memory)
{
    oom_install();
    const float X[] = {0, 0, 1, 0, 0, 1, 1, 1, 0.5f, 0.25f, 0.75f, 0.5f};
    const int32_t y[] = {0, 1, 1, 0, 0, 1};
    hitl_pool *p = NULL;
    ck_assert_int_eq(hitl_pool_create(&p, 2), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p, X, 6, 2, NULL), HITL_OK);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(hitl_pool_set_label(p, i, y[i]), HITL_OK);

    hitl_model *m = NULL, *x = NULL;
    long n;
    UNTIL_NO_OOM(n, hitl_model_create_logreg(&m, 2, 2), {
        ck_assert_ptr_null(m);
    });
    ck_assert_int_eq(hitl_model_fit(m, p), HITL_OK);
    double W0[6], it0 = info(m, HITL_INFO_ITERATIONS);
    ck_assert_int_eq(hitl_model_get_coef(W0, W0 + 4, m), HITL_OK);
    float P0[12], P1[12];
    ck_assert_int_eq(hitl_model_predict(P0, m, X, 6, 2), HITL_OK);

    for (size_t i = 4; i < 6; i++)
        ck_assert_int_eq(hitl_pool_set_label(p, i, y[i]), HITL_OK);
    UNTIL_NO_OOM(n, hitl_model_fit(m, p), {
        assert_coef_eq(m, W0, 6); /* the previous fit stays and predicts */
        ck_assert_int_eq(hitl_model_predict(P1, m, X, 6, 2), HITL_OK);
        ck_assert(memcmp(P0, P1, sizeof P0) == 0);
        ck_assert_double_eq(info(m, HITL_INFO_ITERATIONS), it0);
        ck_assert_double_eq(info(m, HITL_INFO_N_TRAIN), 4);
    });
    ck_assert_int_gt(n, 0);
    ck_assert_double_eq(info(m, HITL_INFO_N_TRAIN), 6);

    size_t size;
    unsigned char buf[512];
    ck_assert_int_eq(hitl_model_save_size(&size, m), HITL_OK);
    ck_assert_int_eq(hitl_model_save(&size, buf, sizeof buf, m), HITL_OK);
    UNTIL_NO_OOM(n, hitl_model_load(&x, buf, size), {
        ck_assert_ptr_null(x);
    });
    ck_assert_int_gt(n, 1);
    assert_same_model(m, x);
    ck_assert_int_eq(hitl_model_predict(P0, m, X, 6, 2), HITL_OK);
    ck_assert_int_eq(hitl_model_predict(P1, x, X, 6, 2), HITL_OK);
    ck_assert(memcmp(P0, P1, sizeof P0) == 0);
    hitl_model_free(x);
    x = NULL;

    char dir[] = "/tmp/hitl-test-oom-XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.model", dir);
    UNTIL_NO_OOM(n, hitl_model_save_file(m, path), {
        ck_assert_uint_eq(dir_entries(dir), 0);
    });
    UNTIL_NO_OOM(n, hitl_model_load_file(&x, path), {
        ck_assert_ptr_null(x);
    });
    assert_same_model(m, x);
    hitl_model_free(x);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);

    /* a custom model's fit: ENOMEM before the callback runs */
    seen s = {0};
    hitl_model *c = NULL;
    ck_assert_int_eq(hitl_model_create_custom(&c, 2, 2, record_fit, dummy_predict, &s), HITL_OK);
    UNTIL_NO_OOM(n, hitl_model_fit(c, p), {
        ck_assert_int_eq(s.calls, 0);
        ck_assert_double_eq(info(c, HITL_INFO_FITTED), 0);
    });
    ck_assert_int_eq(s.calls, 1);
    hitl_model_free(c);
    hitl_model_free(m);
    hitl_pool_free(p);
    oom_uninstall();
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("logreg");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_matches_sklearn);
    tcase_add_test(tc, test_sparse_matches_sklearn);
    tcase_add_test(tc, test_warm_start);
    tcase_add_test(tc, test_weights_duplicate);
    tcase_add_test(tc, test_max_iter);
    tcase_add_test(tc, test_edge_problems);
    tcase_add_test(tc, test_objective_precision);
    suite_add_tcase(s, tc);
    tc = tcase_create("api");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_params);
    tcase_add_test(tc, test_create_and_info);
    tcase_add_test(tc, test_fit_errors);
    tcase_add_test(tc, test_custom);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    tc = tcase_create("serialization");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_truncation_and_bit_flips);
    tcase_add_test(tc, test_bad_contents);
    tcase_add_test(tc, test_files);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(model_suite)
