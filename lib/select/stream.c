/*
 * stream: whether to ask a person about each item as it arrives, within a
 * budget.  The rules (hitl.h, "Stream selection") read an item's confidence
 * c = p1 and margin p1 - p2 and a few numbers of state; only the quantile
 * filter keeps a window of utilities, sorted, so its quantile is a lookup.
 * Decisions are sequential by nature (each changes the state the next one
 * reads), so they run on the calling thread; scoring is what costs, and
 * runs through the model's kernel a block at a time (rows) or through the
 * pool's streaming scorer (pool items).
 *
 * Every public call checks and scores everything first and changes the
 * state only in the last step, decide_all, which cannot fail.
 */
#include "select/select.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEED 9007199254740992.0 /* 2^53 */
#define MAX_WINDOW 65536
#define ROWS_BLOCK 256              /* rows scored at a time by decide_rows */

struct hitl_stream {
    int kind;
    /* parameters */
    double budget, threshold, step, delta, split, tolerance, mellowness;
    size_t window;
    uint64_t seed;
    /* state */
    uint64_t seen, asked;
    double spent;                   /* u_t */
    double theta;                   /* the variable threshold */
    double last;                    /* HITL_STREAM_INFO_THRESHOLD */
    double weight_sum, loss_sum;    /* IWAL's Q and S */
    hitl__rng rng;
    double *ring;                   /* quantile filter: w utilities, oldest at head */
    double *sorted;                 /* the same, ascending */
    size_t count, head;
};

static int known_kind(int kind)
{
    return kind >= HITL_STREAM_RANDOM && kind <= HITL_STREAM_IWAL;
}

static int uses_window(int kind)
{
    return kind == HITL_STREAM_QUANTILE_FILTER;
}

/* ------------------------------------------------------------------------- */
/* The rules                                                                  */
/* ------------------------------------------------------------------------- */

/* A standard normal draw (Box-Muller, the cosine branch); 1 - u keeps the
 * log's argument in (0, 1]. */
static double normal_draw(hitl__rng *r)
{
    double u1 = hitl__rng_unit(r), u2 = hitl__rng_unit(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

/* The variable threshold's rule, c compared with theta * factor. */
static int variable_rule(hitl_stream *s, double c, double factor)
{
    s->last = s->theta;
    if (c < s->theta * factor) {
        s->theta *= 1.0 - s->step;
        return 1;
    }
    s->theta *= 1.0 + s->step;
    return 0;
}

/* The Zliobaite et al. rules, called while the spending is below budget. */
static int budgeted_rule(hitl_stream *s, double c, size_t K)
{
    switch (s->kind) {
    case HITL_STREAM_RANDOM:
        return hitl__rng_unit(&s->rng) < s->budget;
    case HITL_STREAM_FIXED_UNCERTAINTY:
        s->last = s->threshold > 0 ? s->threshold
                                   : 1.0 / (double)K + s->budget * (1.0 - 1.0 / (double)K);
        return c < s->last;
    case HITL_STREAM_VARIABLE_UNCERTAINTY:
        return variable_rule(s, c, 1.0);
    case HITL_STREAM_RANDOMIZED_UNCERTAINTY:
        return variable_rule(s, c, 1.0 + s->delta * normal_draw(&s->rng));
    default: /* SPLIT */
        if (hitl__rng_unit(&s->rng) < s->split)
            return hitl__rng_unit(&s->rng) < s->budget;
        return variable_rule(s, c, 1.0);
    }
}

/* Remove value v from the sorted window (it is there). */
static void sorted_remove(hitl_stream *s, double v)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {               /* first entry >= v */
        size_t mid = lo + (hi - lo) / 2;
        if (s->sorted[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(s->sorted + lo, s->sorted + lo + 1, (s->count - lo - 1) * sizeof *s->sorted);
    s->count--;
}

static void sorted_insert(hitl_stream *s, double v)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {               /* first entry > v */
        size_t mid = lo + (hi - lo) / 2;
        if (s->sorted[mid] <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(s->sorted + lo + 1, s->sorted + lo, (s->count - lo) * sizeof *s->sorted);
    s->sorted[lo] = v;
    s->count++;
}

/* u joins the window, the oldest leaving a full one. */
static void window_push(hitl_stream *s, double u)
{
    if (s->count == s->window) {
        sorted_remove(s, s->ring[s->head]);
        s->ring[s->head] = u;
        s->head = (s->head + 1) % s->window;
    } else {
        s->ring[(s->head + s->count) % s->window] = u;
    }
    sorted_insert(s, u);
}

/* The quantile q of the sorted window, interpolated linearly between order
 * statistics (numpy's default). */
static double window_quantile(const hitl_stream *s, double q)
{
    double h = (double)(s->count - 1) * q;
    size_t lo = (size_t)floor(h);
    if (lo + 1 >= s->count)
        return s->sorted[s->count - 1];
    return s->sorted[lo] + (h - (double)lo) * (s->sorted[lo + 1] - s->sorted[lo]);
}

static int quantile_rule(hitl_stream *s, double c)
{
    double u = 1.0 - c;
    window_push(s, u);
    double theta = window_quantile(s, 1.0 - s->budget);
    double range = s->sorted[s->count - 1] - s->sorted[0];
    double left = s->budget * (double)(s->seen + 1) - (double)s->asked;
    s->last = theta - range * left / s->tolerance;
    return u >= s->last;
}

/* Vowpal Wabbit's coin bias: the probability of asking. */
static double iwal_probability(const hitl_stream *s, double g)
{
    double k = (double)s->seen;
    if (k <= 1)
        return 1.0;
    double L = s->loss_sum / k + sqrt((1.0 + 0.5 * log(k)) / (s->weight_sum + 1e-4));
    L = L < 0 ? 0 : L > 1 ? 1 : L;
    double beta = s->mellowness * (log(k + 1.0) + 1e-4) / (k + 1e-4);
    double r = sqrt(L) + sqrt(L + g);
    if (g <= sqrt(beta) * r + beta)
        return 1.0;
    double q = (r + sqrt(r * r + 4.0 * g)) / (2.0 * g);
    return beta * q * q;
}

/* Decide one item; *w = its weight if asked. */
static int decide_one(hitl_stream *s, double p1, double p2, size_t K, double *w)
{
    int a = 0;
    *w = 1.0;
    if (s->kind == HITL_STREAM_QUANTILE_FILTER) {
        a = quantile_rule(s, p1);
    } else if (s->kind == HITL_STREAM_IWAL) {
        double p = iwal_probability(s, p1 - p2);
        s->last = p;
        a = hitl__rng_unit(&s->rng) < p;
        *w = 1.0 / p;
    } else if (s->spent / (double)s->window < s->budget) {
        a = budgeted_rule(s, p1, K);
    }
    s->spent = s->spent * ((double)s->window - 1.0) / (double)s->window + a;
    s->seen++;
    if (a) {
        s->asked++;
        s->weight_sum += *w;
    }
    return a;
}

/* The two largest of K probabilities at p, stride apart. */
static void top2(double *p1, double *p2, const float *p, size_t K, size_t stride)
{
    double a = p[0], b = -1.0;
    for (size_t c = 1; c < K; c++) {
        double v = p[c * stride];
        if (v > a) {
            b = a;
            a = v;
        } else if (v > b) {
            b = v;
        }
    }
    *p1 = a;
    *p2 = b;
}

/* The last step of every decide call: items in order; cannot fail.  pp holds
 * (p1, p2) pairs, or is NULL for uniform probabilities. */
static size_t decide_all(hitl_stream *s, const double *pp, size_t n, size_t K,
                         uint8_t *ask, float *weight)
{
    size_t asked = 0;
    double uniform = 1.0 / (double)K;
    for (size_t i = 0; i < n; i++) {
        double w;
        int a = pp ? decide_one(s, pp[2 * i], pp[2 * i + 1], K, &w)
                   : decide_one(s, uniform, uniform, K, &w);
        if (ask)
            ask[i] = (uint8_t)a;
        if (weight)
            weight[i] = a ? (float)(w < FLT_MAX ? w : FLT_MAX) : 0.0f;
        asked += (size_t)a;
    }
    return asked;
}

/* ------------------------------------------------------------------------- */
/* Handle, parameters, figures                                                */
/* ------------------------------------------------------------------------- */

static void reset_state(hitl_stream *s)
{
    s->seen = s->asked = 0;
    s->spent = s->last = s->weight_sum = s->loss_sum = 0;
    s->theta = 1.0;
    s->count = s->head = 0;
    hitl__rng_seed(&s->rng, s->seed, 0);
}

/* Window buffers of w entries, or NULLs for kinds that have none. */
static int window_alloc(double **ring, double **sorted, int kind, size_t w)
{
    *ring = *sorted = NULL;
    if (!uses_window(kind))
        return HITL_OK;
    *ring = hitl__malloc(w * sizeof **ring);
    *sorted = hitl__malloc(w * sizeof **sorted);
    if (*ring && *sorted)
        return HITL_OK;
    hitl__free(*ring);
    hitl__free(*sorted);
    return HITL_ENOMEM;
}

static hitl_stream *stream_new(int kind, size_t window)
{
    hitl_stream *s = hitl__calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (window_alloc(&s->ring, &s->sorted, kind, window) != HITL_OK) {
        hitl__free(s);
        return NULL;
    }
    s->kind = kind;
    s->budget = 0.1;
    s->threshold = 0;
    s->step = 0.01;
    s->delta = 1.0;
    s->split = 0.2;
    s->window = window;
    s->tolerance = 50;
    s->mellowness = 8;
    s->seed = 0;
    reset_state(s);
    return s;
}

int hitl_stream_create(hitl_stream **out, hitl_stream_kind kind)
{
    if (!out)
        return hitl__fail(HITL_EINVAL, "out is NULL");
    if (!known_kind((int)kind))
        return hitl__fail(HITL_EINVAL, "unknown stream kind %d", (int)kind);
    hitl_stream *s = stream_new((int)kind, 100);
    if (!s)
        return hitl__fail(HITL_ENOMEM, "out of memory for the stream");
    hitl__handle_acquire();
    *out = s;
    return HITL_OK;
}

void hitl_stream_free(hitl_stream *stream)
{
    if (!stream)
        return;
    hitl__free(stream->ring);
    hitl__free(stream->sorted);
    hitl__free(stream);
    hitl__handle_release();
}

/* NULL if value is valid for param, else why not. */
static const char *param_invalid(hitl_param param, double v)
{
    switch (param) {
    case HITL_PARAM_STREAM_BUDGET:
        return v > 0 && v <= 1 ? NULL : "is not in (0, 1]";
    case HITL_PARAM_STREAM_THRESHOLD:
        return v >= 0 && v <= 1 ? NULL : "is not in [0, 1]";
    case HITL_PARAM_STREAM_STEP:
        return v > 0 && v < 1 ? NULL : "is not in (0, 1)";
    case HITL_PARAM_STREAM_DELTA:
    case HITL_PARAM_STREAM_MELLOWNESS:
        return v > 0 && isfinite(v) ? NULL : "is not finite and > 0";
    case HITL_PARAM_STREAM_SPLIT:
        return v >= 0 && v <= 1 ? NULL : "is not in [0, 1]";
    case HITL_PARAM_STREAM_WINDOW:
        return v >= 1 && v <= MAX_WINDOW && v == floor(v) ? NULL
                                                          : "is not an integer in [1, 65536]";
    case HITL_PARAM_STREAM_TOLERANCE:
        return v >= 1 && isfinite(v) ? NULL : "is not finite and >= 1";
    case HITL_PARAM_STREAM_SEED:
        return v >= 0 && v <= MAX_SEED && v == floor(v) ? NULL
                                                        : "is not an integer in [0, 2^53]";
    default:
        return "is not a stream parameter";
    }
}

static double *param_slot(hitl_stream *s, hitl_param param)
{
    switch (param) {
    case HITL_PARAM_STREAM_BUDGET: return &s->budget;
    case HITL_PARAM_STREAM_THRESHOLD: return &s->threshold;
    case HITL_PARAM_STREAM_STEP: return &s->step;
    case HITL_PARAM_STREAM_DELTA: return &s->delta;
    case HITL_PARAM_STREAM_SPLIT: return &s->split;
    case HITL_PARAM_STREAM_TOLERANCE: return &s->tolerance;
    case HITL_PARAM_STREAM_MELLOWNESS: return &s->mellowness;
    default: return NULL;
    }
}

static int set_window(hitl_stream *s, size_t w)
{
    if (s->seen > 0)
        return hitl__fail_in(HITL_ESTATE, "hitl_stream_set_param",
                             "HITL_PARAM_STREAM_WINDOW cannot change after %llu items",
                             (unsigned long long)s->seen);
    double *ring, *sorted;
    if (window_alloc(&ring, &sorted, s->kind, w) != HITL_OK)
        return hitl__fail_in(HITL_ENOMEM, "hitl_stream_set_param",
                             "out of memory for a window of %zu", w);
    hitl__free(s->ring);
    hitl__free(s->sorted);
    s->ring = ring;
    s->sorted = sorted;
    s->window = w;
    return HITL_OK;
}

int hitl_stream_set_param(hitl_stream *stream, hitl_param param, double value)
{
    if (!stream)
        return hitl__fail(HITL_EINVAL, "stream is NULL");
    const char *why = param_invalid(param, value);
    if (why)
        return hitl__fail(HITL_EINVAL, "parameter %d = %g %s", (int)param, value, why);
    if (param == HITL_PARAM_STREAM_WINDOW)
        return set_window(stream, (size_t)value);
    if (param == HITL_PARAM_STREAM_SEED) {
        stream->seed = (uint64_t)value;
        hitl__rng_seed(&stream->rng, stream->seed, 0);
        return HITL_OK;
    }
    *param_slot(stream, param) = value;
    return HITL_OK;
}

int hitl_stream_get_param(double *value, const hitl_stream *stream, hitl_param param)
{
    if (!value || !stream)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !value ? "value" : "stream");
    if (param == HITL_PARAM_STREAM_WINDOW)
        *value = (double)stream->window;
    else if (param == HITL_PARAM_STREAM_SEED)
        *value = (double)stream->seed;
    else if (param_slot((hitl_stream *)stream, param))
        *value = *param_slot((hitl_stream *)stream, param);
    else
        return hitl__fail(HITL_EINVAL, "parameter %d is not a stream parameter", (int)param);
    return HITL_OK;
}

int hitl_stream_get_info(double *value, const hitl_stream *s, hitl_stream_info info)
{
    if (!value || !s)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !value ? "value" : "stream");
    switch (info) {
    case HITL_STREAM_INFO_SEEN: *value = (double)s->seen; break;
    case HITL_STREAM_INFO_ASKED: *value = (double)s->asked; break;
    case HITL_STREAM_INFO_RATE:
        *value = s->seen ? (double)s->asked / (double)s->seen : 0;
        break;
    case HITL_STREAM_INFO_SPENDING: *value = s->spent / (double)s->window; break;
    case HITL_STREAM_INFO_THRESHOLD: *value = s->last; break;
    case HITL_STREAM_INFO_WEIGHT_SUM: *value = s->weight_sum; break;
    default:
        return hitl__fail(HITL_EINVAL, "unknown stream info %d", (int)info);
    }
    return HITL_OK;
}

int hitl_stream_add_loss(hitl_stream *stream, double loss, double weight)
{
    if (!stream)
        return hitl__fail(HITL_EINVAL, "stream is NULL");
    if (!(loss >= 0 && loss <= 1))
        return hitl__fail(HITL_EINVAL, "loss %g is not in [0, 1]", loss);
    if (!(weight > 0 && isfinite(weight)))
        return hitl__fail(HITL_EINVAL, "weight %g is not finite and > 0", weight);
    stream->loss_sum += loss * weight;
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* Deciding                                                                   */
/* ------------------------------------------------------------------------- */

static int check_proba(const float *proba, size_t n, size_t K, const char *fn)
{
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < K; c++) {
            float v = proba[i * K + c];
            if (!isfinite(v))
                return hitl__fail_in(HITL_ENUMERIC, fn, "proba[%zu][%zu] is %s", i, c,
                                     isnan(v) ? "NaN" : "Inf");
            if (v < 0 || v > 1)
                return hitl__fail_in(HITL_EINVAL, fn, "proba[%zu][%zu] = %g is not in [0, 1]",
                                     i, c, (double)v);
        }
    return HITL_OK;
}

int hitl_stream_decide(size_t *n_asked, uint8_t *ask, float *weight, hitl_stream *stream,
                       const float *proba, size_t n, size_t n_classes)
{
    if (!stream)
        return hitl__fail(HITL_EINVAL, "stream is NULL");
    if (n_classes < 2 || n_classes > 65536)
        return hitl__fail(HITL_EINVAL, "n_classes %zu is not in [2, 65536]", n_classes);
    if (n > 0 && (!proba || !ask))
        return hitl__fail(HITL_EINVAL, "%s is NULL", !proba ? "proba" : "ask");
    int st = hitl__check_rows(__func__, n, n_classes, n_classes, sizeof(float));
    if (st == HITL_OK)
        st = check_proba(proba, n, n_classes, __func__);
    if (st != HITL_OK)
        return st;
    size_t asked = 0;
    for (size_t i = 0; i < n; i++) {
        double p1, p2, w;
        top2(&p1, &p2, proba + i * n_classes, n_classes, 1);
        int a = decide_one(stream, p1, p2, n_classes, &w);
        ask[i] = (uint8_t)a;
        if (weight)
            weight[i] = a ? (float)(w < FLT_MAX ? w : FLT_MAX) : 0.0f;
        asked += (size_t)a;
    }
    if (n_asked)
        *n_asked = asked;
    return HITL_OK;
}

static int check_rows_finite(const float *X, size_t n, size_t stride, size_t d,
                             const char *fn)
{
    for (size_t i = 0; i < n; i++) {
        const float *x = X + i * stride;
        float acc = 0;
        for (size_t j = 0; j < d; j++)
            acc += x[j] * 0.0f;      /* NaN iff some x[j] is NaN or Inf */
        if (acc == acc)
            continue;
        for (size_t j = 0; j < d; j++)
            if (!isfinite(x[j]))
                return hitl__fail_in(HITL_ENUMERIC, fn, "X[%zu][%zu] is %s", i, j,
                                     isnan(x[j]) ? "NaN" : "Inf");
    }
    return HITL_OK;
}

/* pp[2i], pp[2i+1] = p1, p2 of the n columns of a class-major block. */
static void top2_block(double *pp, const float *P, size_t ld, size_t n, size_t K)
{
    for (size_t i = 0; i < n; i++)
        top2(&pp[2 * i], &pp[2 * i + 1], P + i, K, ld);
}

/* p1, p2 of n caller rows scored on this thread; buf holds a block. */
static int score_rows(double *pp, float *buf, const hitl_model *m, const float *X, size_t n,
                      size_t stride, const char *fn)
{
    size_t K = m->n_classes;
    hitl__linear lin = { .d = m->dim, .C = K, .ldw = hitl__linear_ldw(K),
                         .w = m->w, .b = m->b };
    for (size_t i0 = 0; i0 < n; i0 += ROWS_BLOCK) {
        size_t nb = n - i0 < ROWS_BLOCK ? n - i0 : ROWS_BLOCK;
        const float *x = X + i0 * stride;
        if (m->kind == HITL__MODEL_LOGREG) {
            size_t ld = HITL__ROUND16(nb);
            hitl__linear_block(buf, ld, &lin, x, nb, stride);
            size_t bad = hitl__softmax_cm(buf, ld, nb, K);
            if (bad)
                return hitl__fail_in(HITL_ENUMERIC, fn,
                                     "row %zu: logits overflow float32 (features too large)",
                                     i0 + bad - 1);
            top2_block(pp + 2 * i0, buf, ld, nb, K);
        } else {
            int st = hitl_model_predict(buf, m, x, nb, stride);
            if (st != HITL_OK)
                return st;
            for (size_t i = 0; i < nb; i++)
                top2(&pp[2 * (i0 + i)], &pp[2 * (i0 + i) + 1], buf + i * K, K, 1);
        }
    }
    return HITL_OK;
}

int hitl_stream_decide_rows(size_t *n_asked, uint8_t *ask, float *weight,
                            hitl_stream *stream, const hitl_model *model, const float *X,
                            size_t n, size_t stride)
{
    if (!stream || !model)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !stream ? "stream" : "model");
    if (n > 0 && (!X || !ask))
        return hitl__fail(HITL_EINVAL, "%s is NULL", !X ? "X" : "ask");
    if (stride < model->dim)
        return hitl__fail(HITL_EINVAL, "stride %zu < dim %zu", stride, model->dim);
    int st = hitl__check_rows(__func__, n, stride, model->dim, sizeof(float));
    if (st == HITL_OK)
        st = check_rows_finite(X, n, stride, model->dim, __func__);
    if (st != HITL_OK || n == 0) {
        if (st == HITL_OK && n_asked)
            *n_asked = 0;
        return st;
    }
    size_t K = model->n_classes, asked;
    if (!model->fitted) {
        asked = decide_all(stream, NULL, n, K, ask, weight);
    } else {
        double *pp = hitl__malloc(2 * n * sizeof *pp);
        float *buf = hitl__malloc(HITL__ROUND16(ROWS_BLOCK) * K * sizeof *buf);
        st = pp && buf ? score_rows(pp, buf, model, X, n, stride, __func__)
                       : hitl__fail(HITL_ENOMEM, "out of memory for %zu items' scores", n);
        if (st == HITL_OK)
            asked = decide_all(stream, pp, n, K, ask, weight);
        hitl__free(pp);
        hitl__free(buf);
        if (st != HITL_OK)
            return st;
    }
    if (n_asked)
        *n_asked = asked;
    return HITL_OK;
}

/* The pool's scorer writes each block's p1, p2 at their items' places. */
typedef struct pairs {
    double *pp;
    size_t base;
} pairs;

static int pairs_block(void *state, size_t first, size_t n, const float *proba, size_t K)
{
    pairs *o = state;
    top2_block(o->pp + 2 * (first - o->base), proba, HITL__ROUND16(n), n, K);
    return HITL_OK;
}

static int score_pool(double *pp, const hitl_model *m, const hitl_pool *pool, size_t first,
                      size_t n, const char *fn)
{
    pairs o = { pp, first };
    size_t w = hitl__score_workers(m, pool);
    void **states = hitl__malloc(w * sizeof *states);
    if (!states)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu workers", w);
    for (size_t i = 0; i < w; i++)
        states[i] = &o;
    int st = hitl__score_run(m, pool, first, n, HITL__LAYOUT_CLASSES, pairs_block, states, fn);
    hitl__free(states);
    return st;
}

int hitl_stream_decide_pool(size_t *n_asked, uint8_t *ask, hitl_stream *stream,
                            const hitl_model *model, hitl_pool *pool, size_t first, size_t n)
{
    if (!stream || !model || !pool)
        return hitl__fail(HITL_EINVAL, "%s is NULL",
                          !stream ? "stream" : !model ? "model" : "pool");
    if (pool->dim != model->dim)
        return hitl__fail(HITL_EINVAL, "pool dim %zu differs from model dim %zu", pool->dim,
                          model->dim);
    if (first > pool->n || n > pool->n - first)
        return hitl__fail(HITL_EINVAL, "items [%zu, %zu + %zu) leave the pool of %zu", first,
                          first, n, pool->n);
    size_t K = model->n_classes;
    double *pp = model->fitted && n ? hitl__malloc(2 * n * sizeof *pp) : NULL;
    float *weight = n ? hitl__malloc(n * sizeof *weight) : NULL;
    uint8_t *a = n ? hitl__malloc(n) : NULL;
    int st = HITL_OK;
    if (n && (!weight || !a || (model->fitted && !pp)))
        st = hitl__fail(HITL_ENOMEM, "out of memory for %zu items' decisions", n);
    else if (model->fitted && n)
        st = score_pool(pp, model, pool, first, n, __func__);
    if (st == HITL_OK) {
        size_t asked = decide_all(stream, pp, n, K, a, weight);
        for (size_t i = 0; i < n; i++) {
            if (a[i])
                pool->weight[first + i] = weight[i];
            if (ask)
                ask[i] = a[i];
        }
        if (n_asked)
            *n_asked = asked;
    }
    hitl__free(pp);
    hitl__free(weight);
    hitl__free(a);
    return st;
}

/* ------------------------------------------------------------------------- */
/* Save and load                                                              */
/* ------------------------------------------------------------------------- */

#define FMT_MAGIC "HITLSTRM"
#define FMT_VERSION 1u
#define FMT_N_REAL 7   /* budget .. mellowness, in param_slot's order */
/* magic, version, kind; 7 f64 params, window, seed; seen, asked; spent,
 * theta, last, weight_sum, loss_sum; rng; count */
#define FMT_HEADER (8 + 4 + 4 + FMT_N_REAL * 8 + 8 + 8 + 16 + 5 * 8 + 8 + 8)
#define FMT_TRAILER 4

static const hitl_param real_params[FMT_N_REAL] = {
    HITL_PARAM_STREAM_BUDGET, HITL_PARAM_STREAM_THRESHOLD, HITL_PARAM_STREAM_STEP,
    HITL_PARAM_STREAM_DELTA, HITL_PARAM_STREAM_SPLIT, HITL_PARAM_STREAM_TOLERANCE,
    HITL_PARAM_STREAM_MELLOWNESS
};

static size_t record_size(const hitl_stream *s)
{
    return FMT_HEADER + s->count * 8 + FMT_TRAILER;
}

static void encode(unsigned char *buf, const hitl_stream *s)
{
    unsigned char *p = buf;
    memcpy(p, FMT_MAGIC, 8);
    p = hitl__put_le(p + 8, FMT_VERSION, 4);
    p = hitl__put_le(p, (uint64_t)s->kind, 4);
    for (int i = 0; i < FMT_N_REAL; i++)
        p = hitl__put_f64(p, *param_slot((hitl_stream *)s, real_params[i]));
    p = hitl__put_le(p, s->window, 8);
    p = hitl__put_le(p, s->seed, 8);
    p = hitl__put_le(p, s->seen, 8);
    p = hitl__put_le(p, s->asked, 8);
    p = hitl__put_f64(p, s->spent);
    p = hitl__put_f64(p, s->theta);
    p = hitl__put_f64(p, s->last);
    p = hitl__put_f64(p, s->weight_sum);
    p = hitl__put_f64(p, s->loss_sum);
    p = hitl__put_le(p, s->rng.s, 8);
    p = hitl__put_le(p, s->count, 8);
    for (size_t i = 0; i < s->count; i++)   /* oldest first */
        p = hitl__put_f64(p, s->ring[(s->head + i) % s->window]);
    hitl__put_le(p, hitl__crc32(buf, (size_t)(p - buf)), 4);
}

int hitl_stream_save_size(size_t *size, const hitl_stream *stream)
{
    if (!size || !stream)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !size ? "size" : "stream");
    *size = record_size(stream);
    return HITL_OK;
}

int hitl_stream_save(size_t *written, void *buf, size_t capacity, const hitl_stream *stream)
{
    if (!written || !buf || !stream)
        return hitl__fail(HITL_EINVAL, "%s is NULL",
                          !written ? "written" : !buf ? "buf" : "stream");
    size_t need = record_size(stream);
    if (capacity < need)
        return hitl__fail(HITL_EINVAL, "capacity %zu is below the %zu bytes needed", capacity,
                          need);
    encode(buf, stream);
    *written = need;
    return HITL_OK;
}

#define BAD(...) hitl__fail_in(HITL_EFORMAT, "hitl_stream_load", __VA_ARGS__)

/* Framing: magic, version, kind, window and count (which fix the length),
 * the length, then the checksum, before any value is trusted. */
static int parse_frame(const unsigned char *buf, size_t size, int *kind, size_t *window,
                       size_t *count)
{
    if (size < FMT_HEADER + FMT_TRAILER)
        return BAD("truncated: %zu bytes, a stream record has at least %u", size,
                   FMT_HEADER + FMT_TRAILER);
    if (memcmp(buf, FMT_MAGIC, 8) != 0)
        return BAD("bad magic: not a libhitl stream");
    const unsigned char *p = buf + 8;
    uint32_t version = (uint32_t)hitl__get_le(&p, 4), k = (uint32_t)hitl__get_le(&p, 4);
    if (version != FMT_VERSION)
        return BAD("unsupported format version %u (this library reads %u)",
                   (unsigned)version, FMT_VERSION);
    if (!known_kind((int)k))
        return BAD("unknown stream kind %u", (unsigned)k);
    p = buf + 16 + FMT_N_REAL * 8;
    uint64_t w = hitl__get_le(&p, 8);
    p = buf + FMT_HEADER - 8;
    uint64_t c = hitl__get_le(&p, 8);
    if (w < 1 || w > MAX_WINDOW || c > (uses_window((int)k) ? w : 0))
        return BAD("window %llu with %llu utilities is out of range", (unsigned long long)w,
                   (unsigned long long)c);
    size_t expect = FMT_HEADER + (size_t)c * 8 + FMT_TRAILER;
    if (size != expect)
        return BAD("length is %zu bytes, the header implies %zu (%s)", size, expect,
                   size < expect ? "truncated" : "trailing bytes");
    const unsigned char *end = buf + size - FMT_TRAILER;
    uint32_t stored = (uint32_t)hitl__get_le(&end, 4), crc = hitl__crc32(buf, size - 4);
    if (crc != stored)
        return BAD("checksum mismatch (stored %08x, computed %08x): the data is corrupt",
                   (unsigned)stored, (unsigned)crc);
    *kind = (int)k;
    *window = (size_t)w;
    *count = (size_t)c;
    return HITL_OK;
}

/* Fill s from a framed record; checks every value. */
static int read_fields(hitl_stream *s, const unsigned char *buf)
{
    const unsigned char *p = buf + 16;
    for (int i = 0; i < FMT_N_REAL; i++) {
        double v = hitl__get_f64(&p);
        if (param_invalid(real_params[i], v))
            return BAD("parameter %d = %g %s", (int)real_params[i], v,
                       param_invalid(real_params[i], v));
        *param_slot(s, real_params[i]) = v;
    }
    p += 8;   /* the window, already read */
    s->seed = hitl__get_le(&p, 8);
    if (s->seed > (uint64_t)MAX_SEED)
        return BAD("seed %llu is above 2^53", (unsigned long long)s->seed);
    s->seen = hitl__get_le(&p, 8);
    s->asked = hitl__get_le(&p, 8);
    s->spent = hitl__get_f64(&p);
    s->theta = hitl__get_f64(&p);
    s->last = hitl__get_f64(&p);
    s->weight_sum = hitl__get_f64(&p);
    s->loss_sum = hitl__get_f64(&p);
    s->rng.s = hitl__get_le(&p, 8);
    p += 8;   /* the count, already read */
    if (s->asked > s->seen || !(s->spent >= 0 && s->spent <= (double)s->window) ||
        !(s->theta > 0 && isfinite(s->theta)) || !isfinite(s->last) ||
        !(s->weight_sum >= 0 && isfinite(s->weight_sum)) ||
        !(s->loss_sum >= 0 && isfinite(s->loss_sum)))
        return BAD("state out of range");
    for (size_t i = 0; i < s->count; i++) {
        double u = hitl__get_f64(&p);
        if (!(u >= 0 && u <= 1))
            return BAD("utility %zu = %g is not in [0, 1]", i, u);
        s->ring[i] = u;
        s->sorted[i] = u;
    }
    return HITL_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int hitl_stream_load(hitl_stream **out, const void *buf, size_t size)
{
    if (!out || !buf)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !out ? "out" : "buf");
    int kind = 0;
    size_t window = 0, count = 0;
    int st = parse_frame(buf, size, &kind, &window, &count);
    if (st != HITL_OK)
        return st;
    hitl_stream *s = stream_new(kind, window);
    if (!s)
        return hitl__fail(HITL_ENOMEM, "out of memory for the stream");
    s->count = count;
    st = read_fields(s, buf);
    if (st != HITL_OK) {
        hitl__free(s->ring);
        hitl__free(s->sorted);
        hitl__free(s);
        return st;
    }
    if (s->sorted)
        qsort(s->sorted, count, sizeof *s->sorted, cmp_double);
    hitl__handle_acquire();
    *out = s;
    return HITL_OK;
}

#undef BAD
