/* Routing (human on the loop): an item's score (the model's temperature-
 * scaled confidence, its cost-scaled expected cost, or the learned
 * detector's probability that the model is right) decides whether it is
 * accepted automatically or goes to a person: by a threshold calibrated to a
 * target precision, or within a reviewer capacity or a cost budget.  The
 * rules and figures are stated in include/hitl.h. */
#include "route/route.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BINS 1000
#define T_MIN 0.01          /* temperature search interval */
#define T_MAX 100.0
#define GATHER_ROWS 256     /* labeled pool rows predicted per call */
#define MAX_ITEMS 9007199254740992.0   /* 2^53: "no limit" of a count */

/* Figures of the last labeled set (see hitl_router_info). */
typedef struct report {
    size_t n, n_accepted, n_errors, n_errors_accepted;
    double precision_lower, nll_raw, nll, ece_raw, ece;
    int target_met;
    size_t fit_iterations;
    double cost, cost_accepted, expected_accepted, needed;
    int point_estimate, declined, detector_used;
    double t_fitted, ece_fitted;
} report;

struct hitl_router {
    size_t n_classes;
    double threshold, temperature, target, level;
    size_t ece_bins;
    int mode, score, decision, fallback, guard;
    double capacity, capacity_items, budget;
    size_t det_min, det_folds, det_neighbours;
    double det_events;
    double *costs;          /* k x k, NULL: 0 on the diagonal, 1 elsewhere */
    double cost_max;        /* the largest entry (1 for 0/1) */
    hitl__detector *det;    /* NULL until fitted on enough items */
    const hitl_committee *committee;   /* borrowed, for the detector */
    size_t det_items, det_wrong;
    int has_report;
    report rep;
};

/* ---- one probability row --------------------------------------------------- */

/* log p with 0 read as the smallest positive float, so that a probability
 * that underflowed keeps a finite (very negative) log. */
static double safe_log(float p)
{
    return log(p > 0 ? (double)p : (double)FLT_TRUE_MIN);
}

/* Predicted class (first maximum) of a row. */
static int32_t row_argmax(const float *p, size_t k)
{
    size_t best = 0;
    for (size_t c = 1; c < k; c++)
        if (p[c] > p[best])
            best = c;
    return (int32_t)best;
}

/* With q = softmax(beta log p): the top-class confidence q_max and, if
 * y >= 0, -log q_y.  q_c = (p_c/p_max)^beta / sum_j (p_j/p_max)^beta, so
 * q_max = 1 / sum_j (p_j/p_max)^beta; beta == 1 avoids the logs. */
static double row_conf(double *nll, const float *p, size_t k, int32_t top,
                       double beta, int32_t y)
{
    double lmax = safe_log(p[top]), z = 0;
    if (beta == 1.0) {
        double pmax = p[top] > 0 ? p[top] : FLT_TRUE_MIN;
        for (size_t c = 0; c < k; c++)
            z += (p[c] > 0 ? p[c] : FLT_TRUE_MIN) / pmax;
    } else {
        for (size_t c = 0; c < k; c++)
            z += exp(beta * (safe_log(p[c]) - lmax));
    }
    if (nll && y >= 0)
        *nll = log(z) - beta * (safe_log(p[y]) - lmax);
    return 1.0 / z;
}

static double router_beta(const hitl_router *r)
{
    return r->temperature == 1.0 ? 1.0 : 1.0 / r->temperature;
}


/* ---- one item's decision ------------------------------------------------------- */

typedef struct decision {
    int32_t label;
    double score;   /* higher is safer to accept, in [0, 1] */
    double cost;    /* expected cost of accepting label */
} decision;

static int detector_on(const hitl_router *r)
{
    return r->score == HITL_ROUTE_SCORE_DETECTOR && r->det != NULL;
}

/* q (k doubles) = the tempered probabilities of a row. */
static void tempered(double *q, const float *p, size_t k, double beta)
{
    double lmax = safe_log(p[row_argmax(p, k)]), z = 0;
    for (size_t c = 0; c < k; c++)
        z += q[c] = exp(beta * (safe_log(p[c]) - lmax));
    for (size_t c = 0; c < k; c++)
        q[c] /= z;
}

/* The label, score and expected cost of a row (q: k doubles of scratch).
 * The common case, 0/1 costs and the most probable class, needs no q: its
 * expected cost is 1 - conf. */
static decision decide(const hitl_router *r, const float *p, double beta,
                       double *q)
{
    size_t k = r->n_classes;
    int32_t top = row_argmax(p, k);
    double conf = row_conf(NULL, p, k, top, beta, -1);
    decision d = { top, conf, 1 - conf };
    if (r->costs || r->decision == HITL_ROUTE_DECIDE_COST) {
        tempered(q, p, k, beta);
        if (r->decision == HITL_ROUTE_DECIDE_COST)
            d.label = (int32_t)hitl__costs_decide(&d.cost, r->costs, k, q);
        else
            d.cost = hitl__costs_expected(r->costs, k, q, (size_t)top);
        if (d.label != top)
            d.score = q[d.label];
    }
    if (r->score == HITL_ROUTE_SCORE_COST)
        d.score = r->cost_max > 0 ? 1 - d.cost / r->cost_max : 1;
    if (d.score < 0)
        d.score = 0;
    return d;
}

/* The detector's score replaces d's when it is on: 1 - P(wrong). */
static void detect(decision *d, const hitl_router *r, const float *p,
                   const float *x, const float *cons, const uint64_t *id,
                   double *scratch)
{
    double wrong;
    hitl__detector_score(&wrong, r->det, p, x, cons, id != NULL, id ? *id : 0,
                         scratch);
    d->score = 1 - wrong;
}

/* Scratch of one worker: q, then the detector's. */
static double *scratch_new(const hitl_router *r)
{
    size_t m = r->n_classes + (r->det ? hitl__detector_scratch(r->det) : 0);
    return hitl__calloc(m, sizeof(double));
}

/* ---- the batch rule: which items of a batch are accepted --------------------- */

typedef struct ranked {
    double key;
    size_t i;
} ranked;

static int ranked_cmp(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->key != b->key)
        return (a->key > b->key) - (a->key < b->key);
    return (a->i > b->i) - (a->i < b->i);
}

/* accept[i] for n items with scores and expected costs, by the router's
 * mode; v is scratch of n entries (allocated beforehand, so that deciding
 * cannot fail once outputs are written).  Returns the number accepted. */
static size_t select_batch(uint8_t *accept, const hitl_router *r,
                           const double *score, const double *cost, size_t n,
                           ranked *v)
{
    size_t taken = 0;
    if (r->mode == HITL_ROUTE_PRECISION) {
        for (size_t i = 0; i < n; i++)
            taken += accept[i] = score[i] >= r->threshold;
        return taken;
    }
    int capacity = r->mode == HITL_ROUTE_CAPACITY;
    for (size_t i = 0; i < n; i++)
        v[i] = (ranked){ capacity ? score[i] : cost[i], i };
    qsort(v, n, sizeof *v, ranked_cmp);
    if (capacity) {
        /* Below the threshold, riskiest (lowest score) first, until the
         * capacity is spent; the rest is accepted. */
        double share = floor(r->capacity * (double)n + 1e-9);
        double cap = share < r->capacity_items ? share : r->capacity_items;
        size_t reviewed = 0;
        for (size_t j = 0; j < n; j++) {
            int review = v[j].key < r->threshold && (double)reviewed < cap;
            reviewed += review;
            accept[v[j].i] = (uint8_t)!review;
        }
        taken = n - reviewed;
    } else {
        /* Cheapest first while the mean expected cost stays <= budget; the
         * running mean of an ascending sequence never falls, so this is the
         * longest such prefix. */
        double sum = 0;
        for (size_t j = 0; j < n; j++) {
            sum += v[j].key;
            int yes = sum <= r->budget * (double)(j + 1);
            taken += yes;
            accept[v[j].i] = (uint8_t)yes;
        }
    }
    return taken;
}

/* ---- a labeled set: per-item decisions and correctness, NLL, ECE ------------- */

typedef struct labeled {
    size_t n;
    double *conf;       /* the routing score */
    double *cost;       /* expected cost of accepting */
    double *paid;       /* realised cost C[y][label] */
    uint8_t *correct;   /* predicted label == true label */
    size_t n_errors;
    double nll_raw, nll;
    double ece_raw, ece;
} labeled;

static void labeled_free(labeled *s)
{
    hitl__free(s->conf);
    hitl__free(s->cost);
    hitl__free(s->paid);
    hitl__free(s->correct);
}

/* ECE = sum_b (n_b / n) |acc_b - conf_b|, bin b = min(floor(conf B), B-1). */
static double ece_of(const double *bins, size_t n_bins, size_t n)
{
    double e = 0;
    for (size_t b = 0; b < n_bins; b++) {
        const double *s = bins + 3 * b;   /* count, sum conf, sum correct */
        if (s[0] > 0)
            e += fabs(s[2] - s[1]);       /* n_b |acc_b - conf_b| */
    }
    return e / (double)n;
}

static void bin_add(double *bins, size_t n_bins, double conf, int ok)
{
    size_t b = (size_t)(conf * (double)n_bins);
    double *s = bins + 3 * (b < n_bins ? b : n_bins - 1);
    s[0] += 1;
    s[1] += conf;
    s[2] += ok;
}

/* Where the rows of a labeled set came from: the pool items index[i], for
 * the detector's features; NULL for the array forms. */
typedef struct origin {
    const hitl_pool *pool;
    const size_t *index;
    const float *cons;     /* committee consensus of items first.., or NULL */
    size_t first;
} origin;

static int labeled_alloc(labeled *s, const char *fn, size_t n, double **bins,
                         size_t nb, double **q, const hitl_router *r)
{
    *s = (labeled){ .n = n };
    s->conf = hitl__calloc(n, sizeof *s->conf);
    s->cost = hitl__calloc(n, sizeof *s->cost);
    s->paid = hitl__calloc(n, sizeof *s->paid);
    s->correct = hitl__calloc(n, sizeof *s->correct);
    *bins = hitl__calloc(6 * nb, sizeof **bins);
    *q = scratch_new(r);
    if (s->conf && s->cost && s->paid && s->correct && *bins && *q)
        return HITL_OK;
    labeled_free(s);
    hitl__free(*bins);
    hitl__free(*q);
    return hitl__fail_in(HITL_ENOMEM, fn, "no memory for %zu items", n);
}

/* Evaluate n validated rows with true labels under the router's
 * temperature (NLL and ECE always of the tempered confidence). */
static int labeled_eval(labeled *s, const char *fn, const hitl_router *r,
                        const float *proba, const int32_t *labels, size_t n,
                        const origin *from)
{
    size_t k = r->n_classes, nb = r->ece_bins;
    double beta = router_beta(r), *bins, *q;
    int rc = labeled_alloc(s, fn, n, &bins, nb, &q, r);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const float *p = proba + i * k;
        int32_t top = row_argmax(p, k);
        double l_raw = 0, l = 0;
        double c_raw = row_conf(&l_raw, p, k, top, 1.0, labels[i]);
        double c = beta == 1.0 ? c_raw : row_conf(&l, p, k, top, beta, labels[i]);
        if (beta == 1.0)
            l = l_raw;
        decision d = decide(r, p, beta, q);
        if (detector_on(r)) {
            size_t at = from->index[i];
            detect(&d, r, p, hitl__pool_row(from->pool, at),
                   from->cons ? from->cons + (at - from->first) * k : NULL,
                   &from->pool->ids[at], q + k);
        }
        int ok = d.label == labels[i];
        s->conf[i] = d.score;
        s->cost[i] = d.cost;
        s->paid[i] = r->costs ? r->costs[labels[i] * k + (size_t)d.label] : !ok;
        s->correct[i] = (uint8_t)ok;
        s->n_errors += !ok;
        s->nll_raw += l_raw;
        s->nll += l;
        bin_add(bins, nb, c_raw, top == labels[i]);
        bin_add(bins + 3 * nb, nb, c, top == labels[i]);
    }
    s->nll_raw /= (double)n;
    s->nll /= (double)n;
    s->ece_raw = ece_of(bins, nb, n);
    s->ece = ece_of(bins + 3 * nb, nb, n);
    hitl__free(bins);
    hitl__free(q);
    return HITL_OK;
}

/* The report of a labeled set under the router's rule. */
static int report_of(report *rep, const char *fn, const hitl_router *r,
                     const labeled *s)
{
    *rep = (report){ .n = s->n, .n_errors = s->n_errors, .nll_raw = s->nll_raw,
                     .nll = s->nll, .ece_raw = s->ece_raw, .ece = s->ece,
                     .detector_used = detector_on(r) };
    uint8_t *accept = hitl__calloc(s->n, sizeof *accept);
    ranked *v = hitl__calloc(s->n, sizeof *v);
    if (!accept || !v) {
        hitl__free(accept);
        hitl__free(v);
        return hitl__fail_in(HITL_ENOMEM, fn, "no memory for %zu items", s->n);
    }
    select_batch(accept, r, s->conf, s->cost, s->n, v);
    hitl__free(v);
    for (size_t i = 0; i < s->n; i++) {
        rep->cost += s->paid[i];
        if (accept[i]) {
            rep->n_accepted++;
            rep->n_errors_accepted += !s->correct[i];
            rep->cost_accepted += s->paid[i];
            rep->expected_accepted += s->cost[i];
        }
    }
    hitl__free(accept);
    size_t good = rep->n_accepted - rep->n_errors_accepted;
    rep->precision_lower = hitl__cp_lower(good, rep->n_accepted, r->level);
    rep->target_met = hitl__cp_meets(good, rep->n_accepted, r->target, r->level);
    rep->needed = hitl__cp_needed(good, rep->n_accepted, r->target, r->level);
    return HITL_OK;
}

/* ---- handle -------------------------------------------------------------------- */

int hitl_router_create(hitl_router **out, size_t n_classes)
{
    if (!out)
        return hitl__fail(HITL_EINVAL, "out is NULL");
    int rc = hitl__check_classes(__func__, n_classes);
    if (rc)
        return rc;
    hitl_router *r = hitl__calloc(1, sizeof *r);
    if (!r)
        return hitl__fail(HITL_ENOMEM, "no memory for a router");
    *r = (hitl_router){ .n_classes = n_classes, .threshold = INFINITY,
                        .temperature = 1.0, .target = 0.99, .level = 0.95,
                        .ece_bins = 15, .guard = 1, .capacity = 1,
                        .capacity_items = MAX_ITEMS, .budget = 0.01,
                        .det_min = 200, .det_folds = 5, .det_neighbours = 10,
                        .det_events = 10,
                        .cost_max = 1 };
    hitl__handle_acquire();
    *out = r;
    return HITL_OK;
}

void hitl_router_free(hitl_router *router)
{
    if (!router)
        return;
    hitl__free(router->costs);
    hitl__detector_free(router->det);
    hitl__free(router);
    hitl__handle_release();
}

/* value must be an integer in [lo, hi]. */
static int int_in(const char *what, double value, double lo, double hi)
{
    if (!(value >= lo && value <= hi) || value != floor(value))
        return hitl__fail_in(HITL_EINVAL, "hitl_router_set_param",
                             "%s %g is not an integer in [%g, %g]", what,
                             value, lo, hi);
    return HITL_OK;
}

/* The integer and enum parameters: their field and range. */
static int set_int(hitl_router *r, hitl_param param, double value)
{
    static const struct { hitl_param p; const char *name; double lo, hi; } tab[] = {
        { HITL_PARAM_ROUTE_ECE_BINS, "ECE bins", 1, MAX_BINS },
        { HITL_PARAM_ROUTE_MODE, "mode", 0, 2 },
        { HITL_PARAM_ROUTE_SCORE, "score", 0, 2 },
        { HITL_PARAM_ROUTE_DECISION, "decision", 0, 1 },
        { HITL_PARAM_ROUTE_FALLBACK, "fallback", 0, 1 },
        { HITL_PARAM_ROUTE_TEMPERATURE_GUARD, "temperature guard", 0, 1 },
        { HITL_PARAM_ROUTE_CAPACITY_ITEMS, "capacity items", 0, MAX_ITEMS },
        { HITL_PARAM_ROUTE_DETECTOR_MIN, "detector minimum", 2, MAX_ITEMS },
        { HITL_PARAM_ROUTE_DETECTOR_FOLDS, "detector folds", 2, 20 },
        { HITL_PARAM_ROUTE_DETECTOR_NEIGHBOURS, "detector neighbours", 1, 100 },
        { HITL_PARAM_ROUTE_DETECTOR_EVENTS, "detector errors per feature", 0, 1000 },
    };
    for (size_t t = 0; t < sizeof tab / sizeof tab[0]; t++) {
        if (tab[t].p != param)
            continue;
        int rc = int_in(tab[t].name, value, tab[t].lo, tab[t].hi);
        if (rc)
            return rc;
        switch (param) {
        case HITL_PARAM_ROUTE_ECE_BINS: r->ece_bins = (size_t)value; break;
        case HITL_PARAM_ROUTE_MODE: r->mode = (int)value; break;
        case HITL_PARAM_ROUTE_SCORE: r->score = (int)value; break;
        case HITL_PARAM_ROUTE_DECISION: r->decision = (int)value; break;
        case HITL_PARAM_ROUTE_FALLBACK: r->fallback = (int)value; break;
        case HITL_PARAM_ROUTE_TEMPERATURE_GUARD: r->guard = (int)value; break;
        case HITL_PARAM_ROUTE_CAPACITY_ITEMS: r->capacity_items = value; break;
        case HITL_PARAM_ROUTE_DETECTOR_MIN: r->det_min = (size_t)value; break;
        case HITL_PARAM_ROUTE_DETECTOR_FOLDS: r->det_folds = (size_t)value; break;
        case HITL_PARAM_ROUTE_DETECTOR_EVENTS: r->det_events = value; break;
        default: r->det_neighbours = (size_t)value; break;
        }
        return HITL_OK;
    }
    return hitl__fail_in(HITL_EINVAL, "hitl_router_set_param",
                         "parameter %d is not a router parameter", (int)param);
}

int hitl_router_set_param(hitl_router *router, hitl_param param, double value)
{
    if (!router)
        return hitl__fail(HITL_EINVAL, "router is NULL");
    if (isnan(value))
        return hitl__fail(HITL_EINVAL, "value is NaN");
    switch (param) {
    case HITL_PARAM_ROUTE_THRESHOLD:
        if (value < 0)
            return hitl__fail(HITL_EINVAL, "threshold %g is < 0", value);
        router->threshold = value;
        return HITL_OK;
    case HITL_PARAM_ROUTE_TARGET:
        if (!(value > 0 && value <= 1))
            return hitl__fail(HITL_EINVAL, "target precision %g is not in (0, 1]",
                              value);
        router->target = value;
        return HITL_OK;
    case HITL_PARAM_ROUTE_LEVEL:
        if (!(value >= 0 && value < 1))
            return hitl__fail(HITL_EINVAL, "level %g is not in [0, 1)", value);
        router->level = value;
        return HITL_OK;
    case HITL_PARAM_ROUTE_TEMPERATURE:
        if (!(value > 0 && isfinite(value)))
            return hitl__fail(HITL_EINVAL, "temperature %g is not finite and > 0",
                              value);
        router->temperature = value;
        return HITL_OK;
    case HITL_PARAM_ROUTE_CAPACITY:
        if (!(value >= 0 && value <= 1))
            return hitl__fail(HITL_EINVAL, "capacity %g is not a share of the "
                              "items in [0, 1] (%g%%)", value, 100 * value);
        router->capacity = value;
        return HITL_OK;
    case HITL_PARAM_ROUTE_COST_BUDGET:
        if (!(value >= 0 && isfinite(value)))
            return hitl__fail(HITL_EINVAL, "cost budget %g is not finite and "
                              ">= 0", value);
        router->budget = value;
        return HITL_OK;
    default:
        return set_int(router, param, value);
    }
}

int hitl_router_get_param(double *value, const hitl_router *router,
                          hitl_param param)
{
    if (!value || !router)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !value ? "value" : "router");
    const hitl_router *r = router;
    switch (param) {
    case HITL_PARAM_ROUTE_THRESHOLD:   *value = r->threshold; break;
    case HITL_PARAM_ROUTE_TARGET:      *value = r->target; break;
    case HITL_PARAM_ROUTE_LEVEL:       *value = r->level; break;
    case HITL_PARAM_ROUTE_TEMPERATURE: *value = r->temperature; break;
    case HITL_PARAM_ROUTE_ECE_BINS:    *value = (double)r->ece_bins; break;
    case HITL_PARAM_ROUTE_MODE:        *value = r->mode; break;
    case HITL_PARAM_ROUTE_CAPACITY:    *value = r->capacity; break;
    case HITL_PARAM_ROUTE_CAPACITY_ITEMS: *value = r->capacity_items; break;
    case HITL_PARAM_ROUTE_COST_BUDGET: *value = r->budget; break;
    case HITL_PARAM_ROUTE_SCORE:       *value = r->score; break;
    case HITL_PARAM_ROUTE_DECISION:    *value = r->decision; break;
    case HITL_PARAM_ROUTE_FALLBACK:    *value = r->fallback; break;
    case HITL_PARAM_ROUTE_TEMPERATURE_GUARD: *value = r->guard; break;
    case HITL_PARAM_ROUTE_DETECTOR_MIN: *value = (double)r->det_min; break;
    case HITL_PARAM_ROUTE_DETECTOR_FOLDS: *value = (double)r->det_folds; break;
    case HITL_PARAM_ROUTE_DETECTOR_NEIGHBOURS:
        *value = (double)r->det_neighbours;
        break;
    case HITL_PARAM_ROUTE_DETECTOR_EVENTS: *value = r->det_events; break;
    default:
        return hitl__fail(HITL_EINVAL, "parameter %d is not a router parameter",
                          (int)param);
    }
    return HITL_OK;
}

/* Figures that exist without a labeled set. */
static int info_detector(double *value, const hitl_router *r,
                         hitl_router_info info)
{
    switch (info) {
    case HITL_ROUTER_INFO_DETECTOR_ITEMS: *value = (double)r->det_items; break;
    case HITL_ROUTER_INFO_DETECTOR_ERRORS: *value = (double)r->det_wrong; break;
    default: *value = r->det != NULL; break;
    }
    return HITL_OK;
}

static double share(double part, double whole)
{
    return whole > 0 ? part / whole : 1.0;
}

int hitl_router_get_info(double *value, const hitl_router *router,
                         hitl_router_info info)
{
    if (!value || !router)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !value ? "value" : "router");
    if (info < HITL_ROUTER_INFO_N || info > HITL_ROUTER_INFO_DETECTOR_ERRORS)
        return hitl__fail(HITL_EINVAL, "unknown router info %d", (int)info);
    if (info >= HITL_ROUTER_INFO_DETECTOR_ACTIVE)
        return info_detector(value, router, info);
    if (!router->has_report)
        return hitl__fail(HITL_ESTATE, "no labeled set yet: call "
                          "hitl_router_calibrate, _evaluate or _fit_temperature");
    const report *p = &router->rep;
    size_t good = p->n_accepted - p->n_errors_accepted;
    switch (info) {
    case HITL_ROUTER_INFO_N:            *value = (double)p->n; break;
    case HITL_ROUTER_INFO_N_ACCEPTED:   *value = (double)p->n_accepted; break;
    case HITL_ROUTER_INFO_N_ERRORS:     *value = (double)p->n_errors; break;
    case HITL_ROUTER_INFO_N_ERRORS_ACCEPTED:
        *value = (double)p->n_errors_accepted;
        break;
    case HITL_ROUTER_INFO_REVIEW_RATE:
        *value = (double)(p->n - p->n_accepted) / (double)p->n;
        break;
    case HITL_ROUTER_INFO_ERRORS_CAUGHT:
        *value = share((double)(p->n_errors - p->n_errors_accepted),
                       (double)p->n_errors);
        break;
    case HITL_ROUTER_INFO_PRECISION:
        *value = share((double)good, (double)p->n_accepted);
        break;
    case HITL_ROUTER_INFO_PRECISION_LOWER: *value = p->precision_lower; break;
    case HITL_ROUTER_INFO_ACCURACY:
        *value = (double)(p->n - p->n_errors) / (double)p->n;
        break;
    case HITL_ROUTER_INFO_TARGET_MET:   *value = p->target_met; break;
    case HITL_ROUTER_INFO_NLL_RAW:      *value = p->nll_raw; break;
    case HITL_ROUTER_INFO_NLL:          *value = p->nll; break;
    case HITL_ROUTER_INFO_ECE_RAW:      *value = p->ece_raw; break;
    case HITL_ROUTER_INFO_ECE:          *value = p->ece; break;
    case HITL_ROUTER_INFO_FIT_ITERATIONS:
        *value = (double)p->fit_iterations;
        break;
    case HITL_ROUTER_INFO_NEEDED:       *value = p->needed; break;
    case HITL_ROUTER_INFO_POINT_ESTIMATE: *value = p->point_estimate; break;
    case HITL_ROUTER_INFO_TEMPERATURE_FITTED: *value = p->t_fitted; break;
    case HITL_ROUTER_INFO_ECE_FITTED:   *value = p->ece_fitted; break;
    case HITL_ROUTER_INFO_TEMPERATURE_DECLINED: *value = p->declined; break;
    case HITL_ROUTER_INFO_COST:         *value = p->cost; break;
    case HITL_ROUTER_INFO_COST_ACCEPTED: *value = p->cost_accepted; break;
    case HITL_ROUTER_INFO_COST_CAUGHT:
        *value = share(p->cost - p->cost_accepted, p->cost);
        break;
    case HITL_ROUTER_INFO_EXPECTED_COST_ACCEPTED:
        *value = p->n_accepted ? p->expected_accepted / (double)p->n_accepted : 0;
        break;
    default:   /* HITL_ROUTER_INFO_DETECTOR_USED */
        *value = p->detector_used;
        break;
    }
    return HITL_OK;
}

int hitl_router_set_costs(hitl_router *router, const double *costs,
                          size_t rows, size_t cols)
{
    if (!router)
        return hitl__fail(HITL_EINVAL, "router is NULL");
    if (!costs) {
        hitl__free(router->costs);
        router->costs = NULL;
        router->cost_max = 1;
        return HITL_OK;
    }
    size_t k = router->n_classes;
    int rc = hitl__costs_check(__func__, costs, rows, cols, k);
    if (rc)
        return rc;
    double *c = hitl__malloc(k * k * sizeof *c);
    if (!c)
        return hitl__fail(HITL_ENOMEM, "no memory for %zu x %zu costs", k, k);
    memcpy(c, costs, k * k * sizeof *c);
    double mx = 0;
    for (size_t i = 0; i < k * k; i++)
        mx = c[i] > mx ? c[i] : mx;
    hitl__free(router->costs);
    router->costs = c;
    router->cost_max = mx;
    return HITL_OK;
}

int hitl_router_set_committee(hitl_router *router,
                              const hitl_committee *committee)
{
    if (!router)
        return hitl__fail(HITL_EINVAL, "router is NULL");
    if (committee && hitl__committee_classes(committee) != router->n_classes)
        return hitl__fail(HITL_EINVAL, "committee has %zu classes, router %zu",
                          hitl__committee_classes(committee), router->n_classes);
    router->committee = committee;
    return HITL_OK;
}

int hitl_router_get_costs(double *costs, const hitl_router *router)
{
    if (!costs || !router)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !costs ? "costs" : "router");
    size_t k = router->n_classes;
    for (size_t y = 0; y < k; y++)
        for (size_t c = 0; c < k; c++)
            costs[y * k + c] = router->costs ? router->costs[y * k + c] : y != c;
    return HITL_OK;
}

/* ---- the three uses of a labeled set ------------------------------------------ */

enum { DO_EVALUATE, DO_CALIBRATE, DO_FIT_TEMPERATURE };

static int check_set(const char *fn, const hitl_router *r, const float *proba,
                     const int32_t *labels, size_t n)
{
    if (!r || !proba || !labels)
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL",
                             !r ? "router" : !proba ? "proba" : "labels");
    if (n == 0)
        return hitl__fail_in(HITL_EINVAL, fn, "n is 0: no labeled items");
    int rc = hitl__check_rows(fn, n, r->n_classes, r->n_classes, sizeof(float));
    if (rc)
        return rc;
    rc = hitl__check_labels(fn, "labels", labels, n, r->n_classes);
    return rc ? rc : hitl__check_proba(fn, proba, n, r->n_classes);
}

/* The array forms have no feature rows, which the detector needs. */
static int check_rows_known(const char *fn, const hitl_router *r,
                            const origin *from)
{
    if (detector_on(r) && !from)
        return hitl__fail_in(HITL_EINVAL, fn, "the detector score needs the "
                             "items' feature rows: use the _pool form, or "
                             "another HITL_PARAM_ROUTE_SCORE");
    return HITL_OK;
}

/* What calibration found at one level: the smallest observed score whose
 * accepted items meet the target (+inf when none does), and the fewest more
 * correct accepted items any observed threshold would need. */
typedef struct found {
    double threshold, needed;
} found;

/* Thresholds are scanned highest first; ties enter together.  Only a
 * prefix whose next item is an error (or the whole set) can need the
 * fewest more items among those with its count of errors. */
static found scan(const ranked *v, const uint8_t *correct, size_t n,
                  double target, double level)
{
    found f = { INFINITY, hitl__cp_needed(0, 0, target, level) };
    size_t k = 0, good = 0;
    while (k < n) {
        double c = v[k].key;
        while (k < n && v[k].key == c)
            good += correct[v[k++].i];
        if (hitl__cp_meets(good, k, target, level)) {
            f.threshold = -c;
            f.needed = 0;
        } else if (f.needed > 0 && (k == n || !correct[v[k].i])) {
            double m = hitl__cp_needed(good, k, target, level);
            f.needed = m < f.needed ? m : f.needed;
        }
    }
    return f;
}

/* Calibrate next: the certified threshold, else (with the fallback) the
 * point-estimate one. */
static int choose_threshold(hitl_router *next, const char *fn, const labeled *s)
{
    ranked *v = hitl__calloc(s->n, sizeof *v);
    if (!v)
        return hitl__fail_in(HITL_ENOMEM, fn, "no memory for %zu items", s->n);
    for (size_t i = 0; i < s->n; i++)   /* highest score first */
        v[i] = (ranked){ -s->conf[i], i };
    qsort(v, s->n, sizeof *v, ranked_cmp);
    found f = scan(v, s->correct, s->n, next->target, next->level);
    next->rep.needed = f.needed;
    next->rep.point_estimate = 0;
    next->threshold = f.threshold;
    if (isinf(f.threshold) && next->fallback && next->level > 0) {
        found point = scan(v, s->correct, s->n, next->target, 0);
        next->threshold = point.threshold;
        next->rep.point_estimate = !isinf(point.threshold);
    }
    hitl__free(v);
    return HITL_OK;
}

/* Fit beta = 1/T minimising f(beta) = sum_i [log sum_c exp(beta d_ic) -
 * beta d_iy], d_ic = log p_ic - log p_i,max.  f is convex in beta (a sum of
 * log-sum-exps of linear functions minus a linear term), with
 * f'(beta) = sum_i (E_q[d_i] - d_iy) and f''(beta) = sum_i Var_q[d_i],
 * q = softmax(beta d_i).  Safeguarded Newton on f' = 0 inside a bracket that
 * starts as [1/T_MAX, 1/T_MIN] and shrinks with the sign of f'; a Newton
 * step that leaves the bracket is replaced by its geometric midpoint.  Stops
 * when |f'(beta)| <= 1e-9 n, or the bracket is narrower than 1e-12 beta, or
 * after 100 steps.  The minimiser at an end of the interval is returned as
 * that end. */
typedef struct deriv {
    double g, h;
} deriv;

static deriv temp_deriv(const float *proba, const int32_t *labels, size_t n,
                        size_t k, double beta, double *w)
{
    deriv d = { 0, 0 };
    double *q = w + k;
    for (size_t i = 0; i < n; i++) {
        const float *p = proba + i * k;
        double lmax = safe_log(p[row_argmax(p, k)]), z = 0, e = 0, v = 0;
        for (size_t c = 0; c < k; c++) {
            w[c] = safe_log(p[c]) - lmax;        /* d_ic <= 0 */
            q[c] = exp(beta * w[c]);
            z += q[c];
            e += q[c] * w[c];
        }
        e /= z;
        for (size_t c = 0; c < k; c++)
            v += q[c] * (w[c] - e) * (w[c] - e);
        d.g += e - w[labels[i]];
        d.h += v / z;
    }
    return d;
}

static int fit_beta(double *beta, size_t *evals, const char *fn,
                    const float *proba, const int32_t *labels, size_t n,
                    size_t k)
{
    double *w = hitl__calloc(k, 2 * sizeof *w);
    if (!w)
        return hitl__fail_in(HITL_ENOMEM, fn, "no memory for %zu classes", k);
    double lo = 1 / T_MAX, hi = 1 / T_MIN, tol = 1e-9 * (double)n, b = 1.0;
    int rc = HITL_OK;
    *evals = 1;
    if (temp_deriv(proba, labels, n, k, lo, w).g >= 0)
        b = lo;
    else if (++*evals, temp_deriv(proba, labels, n, k, hi, w).g <= 0)
        b = hi;
    else
        for (int step = 0; step < 100; step++) {
            deriv d = temp_deriv(proba, labels, n, k, b, w);
            ++*evals;
            if (!isfinite(d.g) || !isfinite(d.h)) {
                rc = hitl__fail_in(HITL_ENUMERIC, fn,
                                   "NLL derivative is not finite at T = %g",
                                   1 / b);
                break;
            }
            if (fabs(d.g) <= tol)
                break;
            if (d.g > 0)
                hi = b;
            else
                lo = b;
            if (hi - lo <= 1e-12 * b)
                break;
            double next = d.h > 0 ? b - d.g / d.h : NAN;
            b = next > lo && next < hi ? next : sqrt(lo * hi);
        }
    *beta = b;
    hitl__free(w);
    return rc;
}

/* Fit T on a labeled set; with the guard, a T whose ECE on this very set
 * is worse than T = 1's is declined (T stays 1), and the report says so. */
static int fit_temperature(hitl_router *next, size_t *iters, const char *fn,
                           const float *proba, const int32_t *labels, size_t n,
                           const origin *from)
{
    double beta = 1.0;
    int rc = fit_beta(&beta, iters, fn, proba, labels, n, next->n_classes);
    if (rc)
        return rc;
    next->temperature = 1 / beta;
    labeled s;
    if ((rc = labeled_eval(&s, fn, next, proba, labels, n, from)))
        return rc;
    next->rep.t_fitted = next->temperature;
    next->rep.ece_fitted = s.ece;
    next->rep.declined = next->guard && s.ece > s.ece_raw;
    if (next->rep.declined)
        next->temperature = 1.0;
    labeled_free(&s);
    return HITL_OK;
}

/* Validate, then evaluate / calibrate / fit on one labeled set; the router
 * changes only when everything succeeded. */
static int use_set(hitl_router *r, const char *fn, int what,
                   const float *proba, const int32_t *labels, size_t n,
                   const origin *from)
{
    int rc = check_set(fn, r, proba, labels, n);
    if (!rc)
        rc = check_rows_known(fn, r, from);
    if (rc)
        return rc;
    hitl_router next = *r;
    next.rep = (report){ .t_fitted = r->temperature };
    size_t iters = 0;
    if (what == DO_FIT_TEMPERATURE &&
        (rc = fit_temperature(&next, &iters, fn, proba, labels, n, from)))
        return rc;
    labeled s;
    if ((rc = labeled_eval(&s, fn, &next, proba, labels, n, from)))
        return rc;
    if (what != DO_FIT_TEMPERATURE)
        next.rep.ece_fitted = s.ece;
    if (what == DO_CALIBRATE)
        rc = choose_threshold(&next, fn, &s);
    report extra = next.rep;
    if (rc == HITL_OK)
        rc = report_of(&next.rep, fn, &next, &s);
    if (rc == HITL_OK) {
        next.rep.fit_iterations = iters;
        next.rep.t_fitted = extra.t_fitted;
        next.rep.ece_fitted = extra.ece_fitted;
        next.rep.declined = extra.declined;
        if (what == DO_CALIBRATE) {
            next.rep.needed = extra.needed;
            next.rep.point_estimate = extra.point_estimate;
        }
        next.has_report = 1;
        *r = next;
    }
    labeled_free(&s);
    return rc;
}

int hitl_router_evaluate(hitl_router *router, const float *proba,
                         const int32_t *labels, size_t n)
{
    return use_set(router, __func__, DO_EVALUATE, proba, labels, n, NULL);
}

int hitl_router_calibrate(hitl_router *router, const float *proba,
                          const int32_t *labels, size_t n)
{
    return use_set(router, __func__, DO_CALIBRATE, proba, labels, n, NULL);
}

int hitl_router_fit_temperature(hitl_router *router, const float *proba,
                                const int32_t *labels, size_t n)
{
    return use_set(router, __func__, DO_FIT_TEMPERATURE, proba, labels, n, NULL);
}

/* ---- routing ------------------------------------------------------------------- */

/* Where a batch's decisions go: any output may be NULL; score and cost
 * (doubles) are kept for the batch modes, else accept is decided here. */
typedef struct sink {
    uint8_t *accept;
    int32_t *label;
    float *confidence;
    double *score, *cost;
} sink;

/* Decide n validated rows (pool items first.. when from is set); outputs
 * start at the given pointers.  Returns the number accepted by the
 * threshold (meaningful in precision mode). */
static size_t route_rows(const hitl_router *r, const float *proba, size_t n,
                         const hitl_pool *pool, size_t first, const float *cons,
                         const sink *o, double *q)
{
    size_t k = r->n_classes, taken = 0;
    double beta = router_beta(r);
    for (size_t i = 0; i < n; i++) {
        const float *p = proba + i * k;
        decision d = decide(r, p, beta, q);
        if (detector_on(r))
            detect(&d, r, p, hitl__pool_row(pool, first + i),
                   cons ? cons + i * k : NULL, &pool->ids[first + i], q + k);
        int yes = d.score >= r->threshold;
        taken += yes;
        if (o->accept)
            o->accept[i] = (uint8_t)yes;
        if (o->label)
            o->label[i] = d.label;
        if (o->confidence)
            o->confidence[i] = (float)d.score;
        if (o->score) {
            o->score[i] = d.score;
            o->cost[i] = d.cost;
        }
    }
    return taken;
}

/* A batch: the scores and costs of every item, then select_batch. */
typedef struct batch {
    double *score, *cost;
    uint8_t *accept;
    ranked *v;
} batch;

static void batch_free(batch *b, uint8_t *accept)
{
    hitl__free(b->score);
    hitl__free(b->cost);
    hitl__free(b->v);
    if (b->accept != accept)
        hitl__free(b->accept);
}

static int batch_new(batch *b, const char *fn, const hitl_router *r, size_t n,
                     uint8_t *accept)
{
    *b = (batch){ NULL, NULL, accept, NULL };
    if (r->mode == HITL_ROUTE_PRECISION)
        return HITL_OK;
    size_t m = n ? n : 1;
    b->score = hitl__calloc(m, sizeof *b->score);
    b->cost = hitl__calloc(m, sizeof *b->cost);
    b->v = hitl__calloc(m, sizeof *b->v);
    if (!accept)
        b->accept = hitl__calloc(m, 1);
    if (b->score && b->cost && b->v && b->accept)
        return HITL_OK;
    batch_free(b, accept);
    return hitl__fail_in(HITL_ENOMEM, fn, "no memory for a batch of %zu items", n);
}

/* Apply the batch rule (if any) to n decided items (0 after a failure);
 * returns the number accepted. */
static size_t batch_end(batch *b, const hitl_router *r, size_t n, size_t taken,
                        uint8_t *accept)
{
    if (b->score)
        taken = select_batch(b->accept, r, b->score, b->cost, n, b->v);
    batch_free(b, accept);
    return taken;
}

int hitl_router_route(size_t *n_accepted, uint8_t *accept, int32_t *label,
                      float *confidence, const hitl_router *router,
                      const float *proba, size_t n)
{
    if (!router || (!proba && n > 0))
        return hitl__fail(HITL_EINVAL, "%s is NULL", !router ? "router" : "proba");
    int rc = hitl__check_rows(__func__, n, router->n_classes, router->n_classes,
                              sizeof(float));
    if (rc == HITL_OK)
        rc = hitl__check_proba(__func__, proba, n, router->n_classes);
    if (rc == HITL_OK)
        rc = check_rows_known(__func__, router, NULL);
    if (rc)
        return rc;
    batch b;
    double *q = scratch_new(router);
    if (!q)
        return hitl__fail(HITL_ENOMEM, "no memory for %zu classes",
                          router->n_classes);
    if ((rc = batch_new(&b, __func__, router, n, accept))) {
        hitl__free(q);
        return rc;
    }
    sink o = { b.accept, label, confidence, b.score, b.cost };
    size_t taken = route_rows(router, proba, n, NULL, 0, NULL, &o, q);
    taken = batch_end(&b, router, n, taken, accept);
    hitl__free(q);
    if (n_accepted)
        *n_accepted = taken;
    return HITL_OK;
}

/* ---- model + pool forms ---------------------------------------------------------- */

static int check_model_pool(const char *fn, const hitl_router *r,
                            const hitl_model *m, const hitl_pool *pool,
                            size_t first, size_t n)
{
    if (!r || !m || !pool)
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL",
                             !r ? "router" : !m ? "model" : "pool");
    if (m->n_classes != r->n_classes)
        return hitl__fail_in(HITL_EINVAL, fn, "model has %zu classes, router %zu",
                             m->n_classes, r->n_classes);
    if (m->dim != pool->dim)
        return hitl__fail_in(HITL_EINVAL, fn, "model dim %zu != pool dim %zu",
                             m->dim, pool->dim);
    if (pool->sparse && r->score == HITL_ROUTE_SCORE_DETECTOR)
        return hitl__fail_in(HITL_EINVAL, fn, "the error detector (HITL_ROUTE_SCORE_DETECTOR) "
                             "reads dense rows; this pool is sparse");
    if (first > pool->n || n > pool->n - first)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "items [%zu, %zu + %zu) leave the pool of %zu",
                             first, first, n, pool->n);
    return HITL_OK;
}

/* The LABELED items of [first, first+n): their probabilities, labels and
 * pool indices. */
typedef struct gathered {
    float *proba;
    int32_t *labels;
    size_t *index;
    size_t count;
} gathered;

static void gathered_free(gathered *g)
{
    hitl__free(g->proba);
    hitl__free(g->labels);
    hitl__free(g->index);
}

/* Rows are gathered GATHER_ROWS at a time and predicted with
 * hitl_model_predict, so custom models work too. */
static int gather_labeled(gathered *g, const char *fn, const hitl_router *r,
                          const hitl_model *m, const hitl_pool *pool,
                          size_t first, size_t n)
{
    *g = (gathered){ 0 };
    int rc = check_model_pool(fn, r, m, pool, first, n);
    if (rc)
        return rc;
    size_t k = r->n_classes, dim = pool->dim, nl = 0;
    for (size_t i = first; i < first + n; i++)
        if (pool->state[i] == HITL_ITEM_LABELED) {
            if (pool->label[i] < 0 || (size_t)pool->label[i] >= k)
                return hitl__fail_in(HITL_EINVAL, fn,
                                     "item %zu has label %" PRId32 ", not in [0, %zu)",
                                     i, pool->label[i], k);
            nl++;
        }
    if (nl == 0)
        return hitl__fail_in(HITL_ESTATE, fn,
                             "no LABELED item in [%zu, %zu)", first, first + n);
    size_t cells;
    if (hitl__mul_size(&cells, nl, k) || cells > SIZE_MAX / sizeof(float))
        return hitl__fail_in(HITL_ENOMEM, fn, "%zu x %zu probabilities do not fit",
                             nl, k);
    g->proba = hitl__malloc(cells * sizeof *g->proba);
    g->labels = hitl__malloc(nl * sizeof *g->labels);
    g->index = hitl__malloc(nl * sizeof *g->index);
    /* Sparse rows are predicted an item at a time from the pool (gathering
     * them as dense rows could take dim x GATHER_ROWS floats of 2^24 dims). */
    float *x = pool->sparse ? NULL : hitl__calloc(GATHER_ROWS, dim * sizeof *x);
    if (!g->proba || !g->labels || !g->index || (!x && !pool->sparse)) {
        rc = hitl__fail_in(HITL_ENOMEM, fn, "no memory for %zu labeled items", nl);
        goto out;
    }
    size_t done = 0, in_block = 0;
    for (size_t i = first; pool->sparse && i < first + n && rc == HITL_OK; i++)
        if (pool->state[i] == HITL_ITEM_LABELED) {
            rc = hitl_model_predict_pool(g->proba + done * k, m, pool, i, 1);
            g->index[done] = i;
            g->labels[done++] = pool->label[i];
        }
    for (size_t i = first; !pool->sparse && i < first + n && rc == HITL_OK; i++) {
        if (pool->state[i] == HITL_ITEM_LABELED) {
            memcpy(x + in_block * dim, hitl__pool_row(pool, i), dim * sizeof *x);
            g->index[done + in_block] = i;
            g->labels[done + in_block++] = pool->label[i];
        }
        if (in_block == GATHER_ROWS || (in_block > 0 && i + 1 == first + n)) {
            rc = hitl_model_predict(g->proba + done * k, m, x, in_block, dim);
            done += in_block;
            in_block = 0;
        }
    }
    g->count = nl;
out:
    hitl__free(x);
    if (rc)
        gathered_free(g);
    return rc;
}

/* The committee's consensus for items [first, first+n) (n x k floats),
 * when the detector needs it (or, with `fitting`, when the router has a
 * committee); NULL otherwise. */
static int consensus(float **out, const char *fn, const hitl_router *r,
                     const hitl_pool *pool, size_t first, size_t n, int fitting)
{
    *out = NULL;
    int need = fitting ? r->committee != NULL
                       : detector_on(r) && hitl__detector_committee(r->det);
    if (!need || n == 0)
        return HITL_OK;
    if (!r->committee)
        return hitl__fail_in(HITL_EINVAL, fn, "the detector was fitted with a "
                             "committee's doubt: set one with "
                             "hitl_router_set_committee");
    size_t cells;
    if (hitl__mul_size(&cells, n, r->n_classes) || cells > SIZE_MAX / sizeof(float))
        return hitl__fail_in(HITL_ENOMEM, fn, "%zu x %zu consensus values do "
                             "not fit", n, r->n_classes);
    float *c = hitl__malloc(cells * sizeof *c);
    if (!c)
        return hitl__fail_in(HITL_ENOMEM, fn, "no memory for the committee's "
                             "consensus of %zu items", n);
    int rc = hitl_committee_predict_pool(c, r->committee, pool, first, n);
    if (rc) {
        hitl__free(c);
        return rc;
    }
    *out = c;
    return HITL_OK;
}

static int use_pool(hitl_router *r, const char *fn, int what,
                    const hitl_model *m, const hitl_pool *pool, size_t first,
                    size_t n)
{
    gathered g;
    int rc = gather_labeled(&g, fn, r, m, pool, first, n);
    if (rc)
        return rc;
    origin from = { pool, g.index, NULL, first };
    rc = consensus((float **)&from.cons, fn, r, pool, first, n, 0);
    if (rc == HITL_OK)
        rc = use_set(r, fn, what, g.proba, g.labels, g.count, &from);
    hitl__free((void *)from.cons);
    gathered_free(&g);
    return rc;
}

int hitl_router_evaluate_pool(hitl_router *router, const hitl_model *model,
                              const hitl_pool *pool, size_t first, size_t n)
{
    return use_pool(router, __func__, DO_EVALUATE, model, pool, first, n);
}

int hitl_router_calibrate_pool(hitl_router *router, const hitl_model *model,
                               const hitl_pool *pool, size_t first, size_t n)
{
    return use_pool(router, __func__, DO_CALIBRATE, model, pool, first, n);
}

int hitl_router_fit_temperature_pool(hitl_router *router,
                                     const hitl_model *model,
                                     const hitl_pool *pool, size_t first,
                                     size_t n)
{
    return use_pool(router, __func__, DO_FIT_TEMPERATURE, model, pool, first, n);
}

int hitl_router_fit_detector(hitl_router *router, const hitl_model *model,
                             const hitl_pool *pool, size_t first, size_t n)
{
    gathered g;
    int rc = gather_labeled(&g, __func__, router, model, pool, first, n);
    if (rc)
        return rc;
    hitl__detector *d = NULL;
    size_t wrong = 0;
    for (size_t i = 0; i < g.count; i++)
        wrong += row_argmax(g.proba + i * router->n_classes,
                            router->n_classes) != g.labels[i];
    /* Logistic regression needs some errors per feature (DETECTOR_EVENTS):
     * the class indicators only with enough of them, no detector with too
     * few even for the base features (the score falls back to the
     * confidence), nor with fewer errors or correct items than folds. */
    size_t k = router->n_classes;
    double epv = router->det_events;
    int com = router->committee != NULL;
    int one_hot = (double)wrong >= epv * (double)hitl__detector_features(k, 1, com);
    float *cons = NULL;
    if (g.count >= router->det_min && wrong >= router->det_folds &&
        g.count - wrong >= router->det_folds &&
        (double)wrong >= epv * (double)hitl__detector_features(k, 0, com)) {
        rc = consensus(&cons, __func__, router, pool, first, n, 1);
        for (size_t i = 0; cons && i < g.count; i++)   /* the labeled rows */
            memmove(cons + i * k, cons + (g.index[i] - first) * k,
                    k * sizeof *cons);
        if (rc == HITL_OK)
            rc = hitl__detector_fit(&d, __func__, k, pool, g.proba, g.index,
                                    g.count, first, n, router->det_folds,
                                    router->det_neighbours, one_hot, cons);
    }
    hitl__free(cons);
    if (rc == HITL_OK) {
        hitl__detector_free(router->det);
        router->det = d;
        router->det_items = g.count;
        router->det_wrong = wrong;
    }
    gathered_free(&g);
    return rc;
}

/* Consumer of the streaming scorer: route one block of the pool. */
typedef struct route_job {
    const hitl_router *r;
    const hitl_pool *pool;
    const float *cons;     /* consensus of items first.., or NULL */
    size_t first;          /* pool index of output position 0 */
    sink out;
    double *q;             /* scratch */
    size_t taken;          /* per worker */
} route_job;

static int route_block(void *state, size_t first, size_t n,
                       const float *proba, size_t n_classes)
{
    (void)n_classes;
    route_job *j = state;
    size_t at = first - j->first;
    const sink *o = &j->out;
    sink here = { o->accept ? o->accept + at : NULL,
                  o->label ? o->label + at : NULL,
                  o->confidence ? o->confidence + at : NULL,
                  o->score ? o->score + at : NULL,
                  o->cost ? o->cost + at : NULL };
    const float *cons = j->cons ? j->cons + at * j->r->n_classes : NULL;
    j->taken += route_rows(j->r, proba, n, j->pool, first, cons, &here, j->q);
    return HITL_OK;
}

static int jobs_new(route_job **jobs, void ***states, size_t workers,
                    const hitl_router *r)
{
    *jobs = hitl__calloc(workers, sizeof **jobs);
    *states = hitl__calloc(workers, sizeof **states);
    int ok = *jobs && *states;
    for (size_t w = 0; ok && w < workers; w++) {
        (*jobs)[w].q = scratch_new(r);
        (*states)[w] = &(*jobs)[w];
        ok = (*jobs)[w].q != NULL;
    }
    return ok ? HITL_OK : HITL_ENOMEM;
}

static void jobs_free(route_job *jobs, void **states, size_t workers)
{
    for (size_t w = 0; jobs && w < workers; w++)
        hitl__free(jobs[w].q);
    hitl__free(jobs);
    hitl__free(states);
}

int hitl_router_route_pool(size_t *n_accepted, uint8_t *accept, int32_t *label,
                           float *confidence, const hitl_router *router,
                           const hitl_model *model, const hitl_pool *pool,
                           size_t first, size_t n)
{
    int rc = check_model_pool(__func__, router, model, pool, first, n);
    if (rc)
        return rc;
    if (n == 0) {
        if (n_accepted)
            *n_accepted = 0;
        return HITL_OK;
    }
    size_t workers = hitl__score_workers(model, pool);
    route_job *jobs = NULL;
    void **states = NULL;
    batch b;
    float *cons = NULL;
    if ((rc = consensus(&cons, __func__, router, pool, first, n, 0)))
        return rc;
    if ((rc = batch_new(&b, __func__, router, n, accept))) {
        hitl__free(cons);
        return rc;
    }
    if (jobs_new(&jobs, &states, workers, router)) {
        jobs_free(jobs, states, workers);
        batch_end(&b, router, 0, 0, accept);
        hitl__free(cons);
        return hitl__fail(HITL_ENOMEM, "no memory for %zu workers", workers);
    }
    for (size_t w = 0; w < workers; w++) {
        jobs[w].r = router;
        jobs[w].pool = pool;
        jobs[w].cons = cons;
        jobs[w].first = first;
        jobs[w].out = (sink){ b.accept, label, confidence, b.score, b.cost };
    }
    rc = hitl__score_run(model, pool, first, n, HITL__LAYOUT_ROWS, route_block,
                         states, __func__);
    size_t taken = 0;
    for (size_t w = 0; w < workers; w++)
        taken += jobs[w].taken;
    jobs_free(jobs, states, workers);
    hitl__free(cons);
    taken = batch_end(&b, router, rc ? 0 : n, taken, accept);
    if (rc == HITL_OK && n_accepted)
        *n_accepted = taken;
    return rc;
}
