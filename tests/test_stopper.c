/* Stopping criteria: each criterion's stopping round against an
 * independently coded reference on recorded prediction sequences (many
 * parameter settings), a hand-worked sequence, the pool path (update)
 * against the same rounds observed from predictions, the held-out
 * accuracy, every error path (stopper unchanged) and out-of-memory
 * recovery. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EXPECT(cond, ...) \
    do { \
        if (!(cond)) \
            ck_abort_msg(__VA_ARGS__); \
    } while (0)

#define N_CRIT 6

static uint64_t gen_state;
static double gen_unit(void)
{
    return (double)(test_splitmix(&gen_state) >> 11) * 0x1.0p-53;
}

/* ---- recorded rounds ----------------------------------------------------------------- */

typedef struct recorded {
    size_t R, n, K;
    float *P;          /* R tables of n x K */
    uint8_t *active;   /* R x n */
    size_t *labeled;   /* R */
    double *acc;       /* R, NaN = none */
} recorded;

/* Models that settle: logits of a fixed truth, sharper and less noisy each
 * round; items leave the active set as they are labeled; accuracy rises
 * to a plateau with noise (and is missing in some rounds). */
static recorded record(size_t R, size_t n, size_t K, uint64_t seed, double settle)
{
    recorded r = { R, n, K, malloc(R * n * K * sizeof(float)), malloc(R * n),
                   malloc(R * sizeof(size_t)), malloc(R * sizeof(double)) };
    gen_state = seed;
    double *truth = malloc(n * K * sizeof *truth);
    for (size_t i = 0; i < n * K; i++)
        truth[i] = gen_unit() * 2 - 1;
    uint8_t *act = malloc(n);
    memset(act, 1, n);
    size_t labeled = 10;
    for (size_t t = 0; t < R; t++) {
        double sharp = 1 + settle * (double)t, noise = 2.0 / (1 + settle * (double)t * t);
        for (size_t i = 0; i < n; i++) {
            double z[64], mx = -1e300, sum = 0;
            for (size_t c = 0; c < K; c++) {
                z[c] = sharp * truth[i * K + c] + noise * (gen_unit() - 0.5);
                mx = z[c] > mx ? z[c] : mx;
            }
            for (size_t c = 0; c < K; c++)
                sum += (z[c] = exp(z[c] - mx));
            for (size_t c = 0; c < K; c++)
                r.P[(t * n + i) * K + c] = (float)(z[c] / sum);
            if (act[i] && gen_unit() < 0.03) {
                act[i] = 0;
                labeled++;
            }
        }
        labeled += 5;
        memcpy(r.active + t * n, act, n);
        r.labeled[t] = labeled;
        double a = 0.9 - 0.5 * exp(-0.3 * (double)t) + 0.01 * (gen_unit() - 0.5);
        r.acc[t] = gen_unit() < 0.1 ? NAN : a;
    }
    free(truth);
    free(act);
    return r;
}

static void recorded_free(recorded *r)
{
    free(r->P);
    free(r->active);
    free(r->labeled);
    free(r->acc);
}

/* ---- the reference ------------------------------------------------------------------- */

typedef struct settings {
    double kappa, ou, mc, gain;
    size_t window, budget;
} settings;

static size_t argmax(const float *p, size_t K)
{
    size_t b = 0;
    for (size_t c = 1; c < K; c++)
        if (p[c] > p[b])
            b = c;
    return b;
}

static double entropy(const float *p, size_t K)
{
    double h = 0;
    for (size_t c = 0; c < K; c++)
        if (p[c] > 0)
            h -= p[c] * log(p[c]);
    return h;
}

/* Cohen's kappa from the confusion matrix of two label vectors. */
static double ref_kappa(const size_t *a, const size_t *b, size_t n, size_t K)
{
    double conf[64][64] = { { 0 } };
    for (size_t i = 0; i < n; i++)
        conf[a[i]][b[i]] += 1.0 / (double)n;
    double po = 0, pe = 0;
    for (size_t c = 0; c < K; c++) {
        double ra = 0, cb = 0;
        po += conf[c][c];
        for (size_t e = 0; e < K; e++) {
            ra += conf[c][e];
            cb += conf[e][c];
        }
        pe += ra * cb;
    }
    return fabs(po - 1) < 1e-12 ? 1.0 : (po - pe) / (1 - pe);
}

/* The first round (1-based) of each criterion, 0 = never. */
static void reference(size_t *first, const recorded *r, const settings *s)
{
    size_t n = r->n, K = r->K;
    size_t *prev = malloc(n * sizeof *prev), *cur = malloc(n * sizeof *cur);
    double *kap = calloc(r->R, sizeof *kap);
    double *accs = malloc(r->R * sizeof *accs);
    size_t n_acc = 0;
    memset(first, 0, N_CRIT * sizeof *first);
    for (size_t t = 0; t < r->R; t++) {
        const float *P = r->P + t * n * K;
        const uint8_t *act = r->active + t * n;
        size_t n_act = 0, changed = 0;
        double sum_h = 0, max_h = 0;
        for (size_t i = 0; i < n; i++) {
            cur[i] = argmax(P + i * K, K);
            if (!act[i])
                continue;
            n_act++;
            double h = entropy(P + i * K, K);
            sum_h += h;
            max_h = fmax(max_h, h);
            changed += t > 0 && cur[i] != prev[i];
        }
        int fire[N_CRIT] = { 0 };
        if (t > 0) {
            kap[t] = ref_kappa(prev, cur, n, K);
            if (t >= s->window) {       /* kappas of rounds t-w+1 .. t (0-based) */
                double m = 0;
                for (size_t j = 0; j < s->window; j++)
                    m += kap[t - j];
                fire[0] = m / (double)s->window >= s->kappa;
            }
            fire[1] = changed == 0;
        }
        fire[2] = (n_act ? sum_h / (double)n_act : 0) <= s->ou;
        fire[3] = max_h <= s->mc;
        fire[4] = s->budget > 0 && r->labeled[t] >= s->budget;
        if (!isnan(r->acc[t])) {
            accs[n_acc++] = r->acc[t];
            if (n_acc > s->window) {
                double best = -1;
                for (size_t j = n_acc - s->window; j < n_acc; j++)
                    best = fmax(best, accs[j]);
                fire[5] = best - accs[n_acc - 1 - s->window] < s->gain;
            }
        }
        for (int c = 0; c < N_CRIT; c++)
            if (fire[c] && !first[c])
                first[c] = t + 1;
        size_t *tmp = prev;
        prev = cur;
        cur = tmp;
    }
    free(prev);
    free(cur);
    free(kap);
    free(accs);
}

/* ---- helpers -------------------------------------------------------------------------- */

static hitl_stopper *new_stopper(size_t K, const settings *s)
{
    hitl_stopper *st = NULL;
    ck_assert_int_eq(hitl_stopper_create(&st, K), HITL_OK);
    if (!s)
        return st;
    ck_assert_int_eq(hitl_stopper_set_param(st, HITL_PARAM_STOP_KAPPA, s->kappa), HITL_OK);
    ck_assert_int_eq(hitl_stopper_set_param(st, HITL_PARAM_STOP_WINDOW, (double)s->window),
                     HITL_OK);
    ck_assert_int_eq(hitl_stopper_set_param(st, HITL_PARAM_STOP_UNCERTAINTY, s->ou), HITL_OK);
    ck_assert_int_eq(hitl_stopper_set_param(st, HITL_PARAM_STOP_CONFIDENCE, s->mc), HITL_OK);
    ck_assert_int_eq(hitl_stopper_set_param(st, HITL_PARAM_STOP_GAIN, s->gain), HITL_OK);
    ck_assert_int_eq(hitl_stopper_set_param(st, HITL_PARAM_STOP_BUDGET, (double)s->budget),
                     HITL_OK);
    return st;
}

static size_t fired_round(const hitl_stopper *s, int c)
{
    size_t r;
    ck_assert_int_eq(hitl_stopper_fired(&r, s, (hitl_stop_criterion)c), HITL_OK);
    return r;
}

static double info(const hitl_stopper *s, hitl_stopper_info i)
{
    double v;
    ck_assert_int_eq(hitl_stopper_get_info(&v, s, i), HITL_OK);
    return v;
}

static void observe_all(hitl_stopper *st, const recorded *r)
{
    for (size_t t = 0; t < r->R; t++) {
        unsigned mask;
        ck_assert_int_eq(hitl_stopper_observe(&mask, st, r->P + t * r->n * r->K,
                                              r->active + t * r->n, r->n, r->labeled[t],
                                              r->acc[t]),
                         HITL_OK);
        for (int c = 1; c <= N_CRIT; c++) {
            size_t f = fired_round(st, c);
            EXPECT(((mask >> (c - 1)) & 1) == (f != 0 && f <= t + 1),
                   "round %zu: mask %x vs criterion %d's round %zu", t + 1, mask, c, f);
        }
    }
}

/* ---- tests ------------------------------------------------------------------------------ */

START_TEST(criteria_match_reference)
{
    const settings grid[] = {
        { 0.99, 0.01, 0.001, 0.005, 3, 0 },
        { 0.95, 0.05, 0.01, 0.01, 2, 400 },
        { 0.9, 0.2, 0.1, 0.02, 1, 300 },
        { 0.999, 0.1, 0.05, 0.001, 5, 1000 },
        { 0.8, 0.3, 0.3, 0.05, 4, 150 },
    };
    const size_t Ks[] = { 2, 3, 7 };
    size_t total_fired = 0;
    for (size_t ki = 0; ki < 3; ki++)
        for (size_t seed = 1; seed <= 4; seed++) {
            recorded r = record(60, 150, Ks[ki], seed * 31 + ki, 0.1 * (double)seed);
            for (size_t g = 0; g < sizeof grid / sizeof grid[0]; g++) {
                size_t want[N_CRIT];
                reference(want, &r, &grid[g]);
                hitl_stopper *st = new_stopper(Ks[ki], &grid[g]);
                observe_all(st, &r);
                for (int c = 0; c < N_CRIT; c++) {
                    EXPECT(fired_round(st, c + 1) == want[c],
                           "K %zu seed %zu grid %zu criterion %d: library round %zu, "
                           "reference %zu", Ks[ki], seed, g, c + 1, fired_round(st, c + 1),
                           want[c]);
                    total_fired += want[c] != 0;
                }
                ck_assert(info(st, HITL_STOPPER_INFO_ROUNDS) == 60);
                hitl_stopper_free(st);
            }
            recorded_free(&r);
        }
    /* the sequences exercise the criteria: most fire somewhere, not all */
    ck_assert_msg(total_fired > 3 * 4 * 5 * 2 && total_fired < 3 * 4 * 5 * 6,
                  "%zu criteria fired", total_fired);
}
END_TEST

/* Three items, two classes, by hand.  Labels per round:
 *   round 1: 0 1 0   round 2: 0 1 1   round 3: 0 1 1   round 4: 0 1 1
 * kappa_2 = 0.4 (po 2/3, pe 5/9... see below), kappa_3 = kappa_4 = 1. */
START_TEST(hand_worked)
{
    const float P[4][6] = {
        { 0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f },
        { 0.95f, 0.05f, 0.1f, 0.9f, 0.4f, 0.6f },
        { 0.99f, 0.01f, 0.05f, 0.95f, 0.3f, 0.7f },
        { 0.999f, 0.001f, 0.01f, 0.99f, 0.2f, 0.8f },
    };
    const double acc[4] = { 0.5, 0.7, 0.702, 0.701 };
    hitl_stopper *st = new_stopper(2, NULL);
    ck_assert_int_eq(hitl_stopper_set_param(st, HITL_PARAM_STOP_WINDOW, 2), HITL_OK);
    ck_assert_int_eq(hitl_stopper_set_param(st, HITL_PARAM_STOP_KAPPA, 0.99), HITL_OK);
    ck_assert_int_eq(hitl_stopper_set_param(st, HITL_PARAM_STOP_BUDGET, 12), HITL_OK);
    ck_assert_int_eq(hitl_stopper_set_param(st, HITL_PARAM_STOP_UNCERTAINTY, 0.3), HITL_OK);
    for (int t = 0; t < 4; t++)
        ck_assert_int_eq(hitl_stopper_observe(NULL, st, P[t], NULL, 3, 5 + 3 * (size_t)t,
                                              acc[t]),
                         HITL_OK);
    /* round 2: a = (0,1,0), b = (0,1,1): po = 2/3, marginals a (2,1), b (1,2),
     * pe = (2*1 + 1*2)/9 = 4/9, kappa = (2/3 - 4/9)/(5/9) = 0.4 */
    ck_assert_uint_eq(fired_round(st, HITL_STOP_STABILIZING_PREDICTIONS), 4); /* (1+1)/2 */
    ck_assert_uint_eq(fired_round(st, HITL_STOP_CLASSIFICATION_CHANGE), 3);
    /* mean entropy: round 3 = (H(.99)+H(.95)+H(.7))/3 = (0.056+0.199+0.611)/3 = 0.289 */
    ck_assert_uint_eq(fired_round(st, HITL_STOP_OVERALL_UNCERTAINTY), 3);
    ck_assert_uint_eq(fired_round(st, HITL_STOP_MAX_CONFIDENCE), 0);
    ck_assert_uint_eq(fired_round(st, HITL_STOP_BUDGET), 4);         /* 14 >= 12 */
    /* accuracy: round 3: max(0.7, 0.702) - 0.5 = 0.202; round 4: max(.702,.701) - .7 */
    ck_assert_uint_eq(fired_round(st, HITL_STOP_PERFORMANCE), 4);
    ck_assert(fabs(info(st, HITL_STOPPER_INFO_KAPPA) - 1) < 1e-12);
    ck_assert(fabs(info(st, HITL_STOPPER_INFO_MEAN_KAPPA) - 1) < 1e-12);
    ck_assert(info(st, HITL_STOPPER_INFO_CHANGED) == 0);
    ck_assert(info(st, HITL_STOPPER_INFO_ACCURACY) == 0.701);
    hitl_stopper_free(st);

    st = new_stopper(2, NULL);
    ck_assert_int_eq(hitl_stopper_observe(NULL, st, P[0], NULL, 3, 0, NAN), HITL_OK);
    ck_assert_int_eq(hitl_stopper_observe(NULL, st, P[1], NULL, 3, 0, NAN), HITL_OK);
    ck_assert(fabs(info(st, HITL_STOPPER_INFO_KAPPA) - 0.4) < 1e-12);
    ck_assert(isnan(info(st, HITL_STOPPER_INFO_MEAN_KAPPA)));
    ck_assert(info(st, HITL_STOPPER_INFO_CHANGED) == 1);
    hitl_stopper_free(st);
}
END_TEST

/* A real loop: update on the pool equals observe fed with the same
 * predictions of the stop set (all unlabeled items at round 1, in pool
 * order, when the set size exceeds them). */
START_TEST(update_matches_observe)
{
    const size_t n = 400, d = 5, K = 3, hn = 100;
    float *X = malloc((n + hn) * d * sizeof *X);
    int32_t *y = malloc((n + hn) * sizeof *y);
    gen_state = 5;
    for (size_t i = 0; i < n + hn; i++) {
        for (size_t j = 0; j < d; j++)
            X[i * d + j] = (float)(gen_unit() * 2 - 1);
        y[i] = (X[i * d] > 0.2f) + (X[i * d + 1] > 0.3f);
        if (gen_unit() < 0.1)
            y[i] = (int32_t)(gen_unit() * 3);
    }
    hitl_pool *pool = NULL;
    hitl_model *m = NULL;
    ck_assert_int_eq(hitl_pool_create(&pool, d), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(pool, X, n, d, NULL), HITL_OK);
    ck_assert_int_eq(hitl_model_create_logreg(&m, d, K), HITL_OK);
    hitl_stopper *a = new_stopper(K, NULL), *b = new_stopper(K, NULL);
    ck_assert_int_eq(hitl_stopper_set_heldout(a, X + n * d, y + n, hn, d), HITL_OK);
    for (size_t i = 0; i < 12; i++)
        ck_assert_int_eq(hitl_pool_set_label(pool, i * 30, y[i * 30]), HITL_OK);
    size_t unl;
    ck_assert_int_eq(hitl_pool_count(&unl, pool, HITL_ITEM_UNLABELED), HITL_OK);
    size_t *idx = malloc(unl * sizeof *idx), k = 0;
    for (size_t i = 0; i < n; i++) {
        hitl_item_state s;
        ck_assert_int_eq(hitl_pool_item(NULL, &s, NULL, pool, i), HITL_OK);
        if (s == HITL_ITEM_UNLABELED)
            idx[k++] = i;
    }
    float *P = malloc(n * K * sizeof *P), *Ps = malloc(unl * K * sizeof *Ps);
    float *Ph = malloc(hn * K * sizeof *Ph);
    uint8_t *act = malloc(unl);
    for (int round = 0; round < 25; round++) {
        ck_assert_int_eq(hitl_model_fit(m, pool), HITL_OK);
        unsigned fa, fb;
        ck_assert_int_eq(hitl_stopper_update(&fa, a, m, pool), HITL_OK);
        ck_assert_int_eq(hitl_model_predict_pool(P, m, pool, 0, n), HITL_OK);
        ck_assert_int_eq(hitl_model_predict(Ph, m, X + n * d, hn, d), HITL_OK);
        size_t right = 0;
        for (size_t i = 0; i < hn; i++)
            right += (int32_t)argmax(Ph + i * K, K) == y[n + i];
        for (size_t j = 0; j < unl; j++) {
            hitl_item_state s;
            ck_assert_int_eq(hitl_pool_item(NULL, &s, NULL, pool, idx[j]), HITL_OK);
            act[j] = s == HITL_ITEM_UNLABELED;
            memcpy(Ps + j * K, P + idx[j] * K, K * sizeof *P);
        }
        size_t lab;
        ck_assert_int_eq(hitl_pool_count(&lab, pool, HITL_ITEM_LABELED), HITL_OK);
        ck_assert_int_eq(hitl_stopper_observe(&fb, b, Ps, act, unl, lab,
                                              (double)right / (double)hn), HITL_OK);
        ck_assert_uint_eq(fa, fb);
        for (int i = 1; i <= 9; i++)
            ck_assert_msg(info(a, (hitl_stopper_info)i) == info(b, (hitl_stopper_info)i) ||
                          (isnan(info(a, (hitl_stopper_info)i)) &&
                           isnan(info(b, (hitl_stopper_info)i))), "info %d", i);
        for (size_t j = 0; j < 15; j++)   /* label some more */
            ck_assert_int_eq(hitl_pool_set_label(pool, (round * 15 + j) * 7 % n,
                                                 y[(round * 15 + j) * 7 % n]), HITL_OK);
    }
    ck_assert(info(a, HITL_STOPPER_INFO_STOP_SET) == (double)unl);
    ck_assert_uint_eq(fired_round(a, HITL_STOP_PERFORMANCE) > 0, 1);
    free(X);
    free(y);
    free(idx);
    free(P);
    free(Ps);
    free(Ph);
    free(act);
    hitl_stopper_free(a);
    hitl_stopper_free(b);
    hitl_model_free(m);
    hitl_pool_free(pool);
}
END_TEST

/* A stop set smaller than the unlabeled items: drawn once, then fixed,
 * and the same for the same seed. */
START_TEST(stop_set_drawn_once)
{
    const size_t n = 3000, d = 3;
    float *X = malloc(n * d * sizeof *X);
    gen_state = 9;
    for (size_t i = 0; i < n * d; i++)
        X[i] = (float)gen_unit();
    hitl_pool *pool = NULL;
    hitl_model *m = NULL;
    ck_assert_int_eq(hitl_pool_create(&pool, d), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(pool, X, n, d, NULL), HITL_OK);
    for (size_t i = 0; i < 20; i++)
        ck_assert_int_eq(hitl_pool_set_label(pool, i, (int32_t)(i % 2)), HITL_OK);
    ck_assert_int_eq(hitl_model_create_logreg(&m, d, 2), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, pool), HITL_OK);
    hitl_stopper *a = new_stopper(2, NULL), *b = new_stopper(2, NULL);
    ck_assert_int_eq(hitl_stopper_update(NULL, a, m, pool), HITL_OK);
    ck_assert(info(a, HITL_STOPPER_INFO_STOP_SET) == 1000);
    ck_assert_int_eq(hitl_stopper_set_param(a, HITL_PARAM_STOP_SET_SIZE, 10), HITL_ESTATE);
    ck_assert_int_eq(hitl_stopper_set_param(a, HITL_PARAM_STOP_SEED, 1), HITL_ESTATE);
    ck_assert_int_eq(hitl_stopper_set_param(a, HITL_PARAM_STOP_WINDOW, 2), HITL_ESTATE);
    ck_assert_int_eq(hitl_stopper_update(NULL, b, m, pool), HITL_OK);   /* same seed */
    ck_assert(info(a, HITL_STOPPER_INFO_UNCERTAINTY) == info(b, HITL_STOPPER_INFO_UNCERTAINTY));
    ck_assert_int_eq(hitl_pool_add(pool, X, 100, d, NULL), HITL_OK);    /* the pool grows */
    ck_assert_int_eq(hitl_stopper_update(NULL, a, m, pool), HITL_OK);
    ck_assert(info(a, HITL_STOPPER_INFO_KAPPA) == 1);   /* same model, same set */
    ck_assert(info(a, HITL_STOPPER_INFO_UNCERTAINTY) == info(b, HITL_STOPPER_INFO_UNCERTAINTY));
    ck_assert(info(a, HITL_STOPPER_INFO_STOP_SET) == 1000);
    hitl_stopper_free(a);
    hitl_stopper_free(b);
    hitl_model_free(m);
    hitl_pool_free(pool);
    free(X);
}
END_TEST

START_TEST(errors_leave_stopper_unchanged)
{
    hitl_stopper *s = NULL;
    ck_assert_int_eq(hitl_stopper_create(NULL, 2), HITL_EINVAL);
    ck_assert_int_eq(hitl_stopper_create(&s, 1), HITL_EINVAL);
    hitl_stopper_free(NULL);
    s = new_stopper(2, NULL);
    const struct { hitl_param p; double v; } bad[] = {
        { HITL_PARAM_STOP_SET_SIZE, 0 }, { HITL_PARAM_STOP_SET_SIZE, 1.5 },
        { HITL_PARAM_STOP_KAPPA, 1.1 }, { HITL_PARAM_STOP_KAPPA, NAN },
        { HITL_PARAM_STOP_WINDOW, 0 }, { HITL_PARAM_STOP_UNCERTAINTY, -1 },
        { HITL_PARAM_STOP_CONFIDENCE, INFINITY }, { HITL_PARAM_STOP_BUDGET, -1 },
        { HITL_PARAM_STOP_GAIN, NAN }, { HITL_PARAM_STOP_SEED, 0.5 },
        { HITL_PARAM_STREAM_BUDGET, 0.1 }
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(hitl_stopper_set_param(s, bad[i].p, bad[i].v), HITL_EINVAL);
    double v;
    ck_assert_int_eq(hitl_stopper_get_param(&v, s, HITL_PARAM_STOP_SET_SIZE), HITL_OK);
    ck_assert(v == 1000);
    ck_assert_int_eq(hitl_stopper_get_param(&v, s, HITL_PARAM_STOP_KAPPA), HITL_OK);
    ck_assert(v == 0.99);
    ck_assert_int_eq(hitl_stopper_get_param(&v, s, HITL_PARAM_STOP_WINDOW), HITL_OK);
    ck_assert(v == 3);
    ck_assert_int_eq(hitl_stopper_get_param(&v, s, HITL_PARAM_L2), HITL_EINVAL);
    size_t r;
    ck_assert_int_eq(hitl_stopper_fired(&r, s, 7), HITL_EINVAL);
    ck_assert_int_eq(hitl_stopper_get_info(&v, s, 0), HITL_EINVAL);

    float P[] = { 0.5f, 0.5f, 1.0f, 0.0f, 0.2f, NAN };
    ck_assert_int_eq(hitl_stopper_observe(NULL, s, P, NULL, 3, 0, NAN), HITL_ENUMERIC);
    P[5] = -0.5f;
    ck_assert_int_eq(hitl_stopper_observe(NULL, s, P, NULL, 3, 0, NAN), HITL_EINVAL);
    P[5] = 0.8f;
    ck_assert_int_eq(hitl_stopper_observe(NULL, s, P, NULL, 3, 0, 1.5), HITL_EINVAL);
    ck_assert_int_eq(hitl_stopper_observe(NULL, s, P, NULL, 0, 0, NAN), HITL_EINVAL);
    ck_assert(info(s, HITL_STOPPER_INFO_ROUNDS) == 0);
    ck_assert_int_eq(hitl_stopper_observe(NULL, s, P, NULL, 3, 0, NAN), HITL_OK);
    ck_assert_int_eq(hitl_stopper_observe(NULL, s, P, NULL, 2, 0, NAN), HITL_EINVAL);
    ck_assert(info(s, HITL_STOPPER_INFO_ROUNDS) == 1);
    float X[4] = { 0, 1, 2, 3 };
    int32_t y[2] = { 0, 2 };
    ck_assert_int_eq(hitl_stopper_set_heldout(s, X, y, 2, 2), HITL_ESTATE);
    hitl_stopper *t = new_stopper(2, NULL);
    ck_assert_int_eq(hitl_stopper_set_heldout(t, X, y, 2, 2), HITL_EINVAL);
    y[1] = 1;
    X[3] = NAN;
    ck_assert_int_eq(hitl_stopper_set_heldout(t, X, y, 2, 2), HITL_ENUMERIC);
    X[3] = 3;
    ck_assert_int_eq(hitl_stopper_set_heldout(t, X, y, 2, 2), HITL_OK);

    hitl_pool *pool = NULL;
    hitl_model *m = NULL, *m3 = NULL;
    ck_assert_int_eq(hitl_pool_create(&pool, 3), HITL_OK);
    ck_assert_int_eq(hitl_model_create_logreg(&m, 3, 2), HITL_OK);
    ck_assert_int_eq(hitl_model_create_logreg(&m3, 3, 3), HITL_OK);
    ck_assert_int_eq(hitl_stopper_update(NULL, t, m, pool), HITL_EINVAL);  /* empty, dims */
    hitl_stopper *u = new_stopper(2, NULL);
    ck_assert_int_eq(hitl_stopper_update(NULL, u, m, pool), HITL_EINVAL);  /* empty */
    float rows[6] = { 0, 0, 0, 1, 1, 1 };
    ck_assert_int_eq(hitl_pool_add(pool, rows, 2, 3, NULL), HITL_OK);
    ck_assert_int_eq(hitl_stopper_update(NULL, u, m, pool), HITL_ESTATE);  /* unfitted */
    ck_assert_int_eq(hitl_stopper_update(NULL, u, m3, pool), HITL_EINVAL); /* classes */
    ck_assert_int_eq(hitl_stopper_update(NULL, s, m, pool), HITL_EINVAL);  /* observed */
    ck_assert(info(u, HITL_STOPPER_INFO_ROUNDS) == 0);
    ck_assert(info(u, HITL_STOPPER_INFO_STOP_SET) == 0);
    hitl_stopper_free(s);
    hitl_stopper_free(t);
    hitl_stopper_free(u);
    hitl_model_free(m);
    hitl_model_free(m3);
    hitl_pool_free(pool);
}
END_TEST

START_TEST(out_of_memory)
{
    oom_install();
    const size_t n = 200, d = 4;
    float *X = malloc(n * d * sizeof *X);
    int32_t y[50];
    gen_state = 3;
    for (size_t i = 0; i < n * d; i++)
        X[i] = (float)gen_unit();
    for (size_t i = 0; i < 50; i++)
        y[i] = (int32_t)(i % 2);
    hitl_pool *pool = NULL;
    hitl_model *m = NULL;
    ck_assert_int_eq(hitl_pool_create(&pool, d), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(pool, X, n, d, NULL), HITL_OK);
    for (size_t i = 0; i < 10; i++)
        ck_assert_int_eq(hitl_pool_set_label(pool, i, (int32_t)(i % 2)), HITL_OK);
    ck_assert_int_eq(hitl_model_create_logreg(&m, d, 2), HITL_OK);
    ck_assert_int_eq(hitl_model_fit(m, pool), HITL_OK);
    hitl_stopper *s = NULL;
    int st = HITL_ENOMEM;
    for (long f = 0; st == HITL_ENOMEM; f++) {
        oom_arm(f);
        st = hitl_stopper_create(&s, 2);
    }
    ck_assert_int_eq(st, HITL_OK);
    st = HITL_ENOMEM;
    for (long f = 0; st == HITL_ENOMEM; f++) {
        oom_arm(f);
        st = hitl_stopper_set_heldout(s, X, y, 50, d);
    }
    ck_assert_int_eq(st, HITL_OK);
    for (int round = 0; round < 6; round++) {
        st = HITL_ENOMEM;
        for (long f = 0; st == HITL_ENOMEM; f++) {
            oom_arm(f);
            st = hitl_stopper_update(NULL, s, m, pool);
            if (st == HITL_ENOMEM)
                ck_assert(info(s, HITL_STOPPER_INFO_ROUNDS) == round);
        }
        ck_assert_int_eq(st, HITL_OK);
    }
    oom_arm(-1);
    hitl_stopper_free(s);
    hitl_model_free(m);
    hitl_pool_free(pool);
    free(X);
    oom_uninstall();
}
END_TEST

static Suite *stopper_suite(void)
{
    Suite *s = suite_create("stopper");
    TCase *t = tcase_create("criteria");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, criteria_match_reference);
    tcase_add_test(t, hand_worked);
    tcase_add_test(t, update_matches_observe);
    tcase_add_test(t, stop_set_drawn_once);
    suite_add_tcase(s, t);
    t = tcase_create("api");
    tcase_add_test(t, errors_leave_stopper_unchanged);
    tcase_add_test(t, out_of_memory);
    suite_add_tcase(s, t);
    return s;
}

HITL_TEST_MAIN(stopper_suite)
