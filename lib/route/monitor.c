/* hitl_drift_monitor: change detectors (base/change.c) on the two streams a
 * deployed router sees, the confidences it routes and the errors its
 * reviewers find, and the link that makes a harmful change raise the
 * router's review until it is recalibrated.  See "Drift in deployment" in
 * hitl.h for the rules. */
#include "route/route.h"

#include <math.h>

#define LOG_SIZE 1024      /* events readable; the log is a ring */
#define MAX_INT 9007199254740992.0

enum { S_CONF = 0, S_ERR = 1 };

typedef struct event {
    int detector, stream, harmful;
    uint64_t at, change_at;
    hitl__change c;
} event;

typedef struct params {
    int detectors;
    double ph_delta, ph_lambda, ph_alpha, ph_min;
    double ad_delta, ad_m, ad_clock;
    double psi_window, psi_bins, psi_threshold, psi_alpha;
} params;

struct hitl_drift_monitor {
    params p;
    hitl__ph ph[2];
    hitl__adwin ad[2];
    hitl__psi psi;
    uint64_t seen[2];
    uint64_t n_events;
    int alert;
    hitl_router *router;
    event log[LOG_SIZE];
};

static const params defaults = { 7, 0.005, 50, 0.9999, 30, 0.002, 5, 32,
                                 1000, 10, 0.25, 0 };

/* The detectors of p, fresh: HITL_OK or HITL_ENOMEM (nothing to free). */
static int detectors_init(hitl_drift_monitor *m, const params *p)
{
    for (int s = 0; s < 2; s++) {
        hitl__ph_init(&m->ph[s], p->ph_delta, p->ph_lambda, p->ph_alpha,
                      (uint64_t)p->ph_min);
        if (hitl__adwin_init(&m->ad[s], p->ad_delta, (size_t)p->ad_m,
                             (size_t)p->ad_clock) != HITL_OK) {
            if (s)
                hitl__adwin_free(&m->ad[0]);
            return HITL_ENOMEM;
        }
    }
    if (hitl__psi_init(&m->psi, (size_t)p->psi_window, (size_t)p->psi_bins,
                       p->psi_threshold, p->psi_alpha) != HITL_OK) {
        hitl__adwin_free(&m->ad[0]);
        hitl__adwin_free(&m->ad[1]);
        return HITL_ENOMEM;
    }
    return HITL_OK;
}

static void detectors_free(hitl_drift_monitor *m)
{
    hitl__adwin_free(&m->ad[0]);
    hitl__adwin_free(&m->ad[1]);
    hitl__psi_free(&m->psi);
}

int hitl_drift_monitor_create(hitl_drift_monitor **out)
{
    if (!out)
        return hitl__fail(HITL_EINVAL, "out is NULL");
    *out = NULL;
    hitl_drift_monitor *m = hitl__calloc(1, sizeof *m);
    if (!m)
        return hitl__fail(HITL_ENOMEM, "no memory for a drift monitor");
    m->p = defaults;
    if (detectors_init(m, &m->p) != HITL_OK) {
        hitl__free(m);
        return hitl__fail(HITL_ENOMEM, "no memory for the detectors");
    }
    hitl__handle_acquire();
    *out = m;
    return HITL_OK;
}

void hitl_drift_monitor_free(hitl_drift_monitor *monitor)
{
    if (!monitor)
        return;
    detectors_free(monitor);
    hitl__free(monitor);
    hitl__handle_release();
}

/* ---- parameters ------------------------------------------------------------- */

typedef struct spec {
    hitl_param param;
    const char *name;
    double lo, hi;
    int integer, open_lo, open_hi;
    size_t offset;
} spec;

#define F(field) offsetof(params, field)
static const spec specs[] = {
    { HITL_PARAM_MONITOR_PH_DELTA, "Page-Hinkley delta", 0, HUGE_VAL, 0, 0, 1, F(ph_delta) },
    { HITL_PARAM_MONITOR_PH_LAMBDA, "Page-Hinkley lambda", 0, HUGE_VAL, 0, 1, 1, F(ph_lambda) },
    { HITL_PARAM_MONITOR_PH_ALPHA, "Page-Hinkley alpha", 0, 1, 0, 1, 0, F(ph_alpha) },
    { HITL_PARAM_MONITOR_PH_MIN, "Page-Hinkley minimum items", 1, MAX_INT, 1, 0, 0, F(ph_min) },
    { HITL_PARAM_MONITOR_ADWIN_DELTA, "ADWIN delta", 0, 1, 0, 1, 1, F(ad_delta) },
    { HITL_PARAM_MONITOR_ADWIN_BUCKETS, "ADWIN buckets", 2, HITL__ADWIN_MAX_M, 1, 0, 0, F(ad_m) },
    { HITL_PARAM_MONITOR_ADWIN_CLOCK, "ADWIN clock", 1, 1048576, 1, 0, 0, F(ad_clock) },
    { HITL_PARAM_MONITOR_PSI_WINDOW, "PSI window", 10, 1e7, 1, 0, 0, F(psi_window) },
    { HITL_PARAM_MONITOR_PSI_BINS, "PSI bins", 2, 100, 1, 0, 0, F(psi_bins) },
    { HITL_PARAM_MONITOR_PSI_THRESHOLD, "PSI threshold", 0, HUGE_VAL, 0, 1, 1, F(psi_threshold) },
    { HITL_PARAM_MONITOR_PSI_ALPHA, "PSI alpha", 0, 0.5, 0, 0, 1, F(psi_alpha) },
};

static const spec *spec_of(hitl_param param)
{
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (specs[i].param == param)
            return &specs[i];
    return NULL;
}

static int check_value(const spec *sp, double v)
{
    int below = sp->open_lo ? !(v > sp->lo) : !(v >= sp->lo);
    int above = sp->open_hi ? !(v < sp->hi) : !(v <= sp->hi);
    if (below || above || (sp->integer && v != floor(v)))
        return hitl__fail_in(HITL_EINVAL, "hitl_drift_monitor_set_param",
                             "%s %g is not %s in %s%g, %g%s", sp->name, v,
                             sp->integer ? "an integer" : "a number",
                             sp->open_lo ? "(" : "[", sp->lo, sp->hi,
                             sp->open_hi ? ")" : "]");
    return HITL_OK;
}

int hitl_drift_monitor_set_param(hitl_drift_monitor *monitor, hitl_param param,
                                 double value)
{
    if (!monitor)
        return hitl__fail(HITL_EINVAL, "monitor is NULL");
    if (isnan(value))
        return hitl__fail(HITL_EINVAL, "value is NaN");
    params p = monitor->p;
    if (param == HITL_PARAM_MONITOR_DETECTORS) {
        if (!(value >= 1 && value <= 7 && value == floor(value)))
            return hitl__fail(HITL_EINVAL, "detectors %g is not a sum of "
                              "hitl_drift_detector bits in [1, 7]", value);
        p.detectors = (int)value;
    } else {
        const spec *sp = spec_of(param);
        if (!sp)
            return hitl__fail(HITL_EINVAL, "parameter %d is not a drift monitor "
                              "parameter", (int)param);
        int rc = check_value(sp, value);
        if (rc)
            return rc;
        *(double *)((char *)&p + sp->offset) = value;
    }
    hitl_drift_monitor next = *monitor;
    if (detectors_init(&next, &p) != HITL_OK)
        return hitl__fail(HITL_ENOMEM, "no memory for the detectors");
    detectors_free(monitor);
    monitor->p = p;
    for (int s = 0; s < 2; s++) {
        monitor->ph[s] = next.ph[s];
        monitor->ad[s] = next.ad[s];
    }
    monitor->psi = next.psi;
    return HITL_OK;
}

int hitl_drift_monitor_get_param(double *value, const hitl_drift_monitor *monitor,
                                 hitl_param param)
{
    if (!value || !monitor)
        return hitl__fail(HITL_EINVAL, "%s is NULL", value ? "monitor" : "value");
    if (param == HITL_PARAM_MONITOR_DETECTORS) {
        *value = monitor->p.detectors;
        return HITL_OK;
    }
    const spec *sp = spec_of(param);
    if (!sp)
        return hitl__fail(HITL_EINVAL, "parameter %d is not a drift monitor "
                          "parameter", (int)param);
    *value = *(const double *)((const char *)&monitor->p + sp->offset);
    return HITL_OK;
}

int hitl_drift_monitor_set_router(hitl_drift_monitor *monitor, hitl_router *router)
{
    if (!monitor)
        return hitl__fail(HITL_EINVAL, "monitor is NULL");
    monitor->router = router;
    return HITL_OK;
}

int hitl_drift_monitor_reset(hitl_drift_monitor *monitor)
{
    if (!monitor)
        return hitl__fail(HITL_EINVAL, "monitor is NULL");
    for (int s = 0; s < 2; s++) {
        hitl__ph_reset(&monitor->ph[s]);
        hitl__adwin_reset(&monitor->ad[s]);
    }
    hitl__psi_reset(&monitor->psi);
    monitor->alert = 0;
    return HITL_OK;
}

/* ---- observing -------------------------------------------------------------- */

static int check_inputs(const float *conf, size_t n, const uint8_t *correct,
                        size_t n_rev)
{
    const char *fn = "hitl_drift_monitor_observe";
    if ((n && !conf) || (n_rev && !correct))
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL with a count of %zu",
                             n && !conf ? "confidence" : "correct",
                             n && !conf ? n : n_rev);
    int rc = hitl__check_rows(fn, n, 1, 1, sizeof *conf);
    if (!rc)
        rc = hitl__check_rows(fn, n_rev, 1, 1, sizeof *correct);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(conf[i]))
            return hitl__fail_in(HITL_ENUMERIC, fn, "confidence[%zu] is %g", i,
                                 (double)conf[i]);
        if (!(conf[i] >= 0 && conf[i] <= 1))
            return hitl__fail_in(HITL_EINVAL, fn, "confidence[%zu] = %g is not "
                                 "in [0, 1]", i, (double)conf[i]);
    }
    for (size_t i = 0; i < n_rev; i++)
        if (correct[i] > 1)
            return hitl__fail_in(HITL_EINVAL, fn, "correct[%zu] = %u is not 0 "
                                 "or 1", i, (unsigned)correct[i]);
    return HITL_OK;
}

/* Log an event of detector d on stream s; raise the alert if harmful. */
static void record(hitl_drift_monitor *m, int d, int s, const hitl__change *c)
{
    int harmful = d == HITL_DRIFT_PAGE_HINKLEY || d == HITL_DRIFT_PSI ||
                  (s == S_CONF ? c->after < c->before : c->after > c->before);
    uint64_t at = m->seen[s];
    m->log[m->n_events % LOG_SIZE] = (event){
        d, s == S_CONF ? HITL_DRIFT_STREAM_CONFIDENCE : HITL_DRIFT_STREAM_ERROR,
        harmful, at, at - c->n_after, *c };
    m->n_events++;
    if (harmful) {
        m->alert = 1;
        if (m->router)
            hitl__router_raise_alert(m->router);
    }
}

/* One value of stream s: x is the confidence or the error. */
static void observe_one(hitl_drift_monitor *m, int s, double x)
{
    hitl__change c;
    int on = m->p.detectors;
    m->seen[s]++;
    double rise = s == S_CONF ? 1 - x : x;
    if ((on & HITL_DRIFT_PAGE_HINKLEY) && hitl__ph_add(&m->ph[s], rise, &c))
        record(m, HITL_DRIFT_PAGE_HINKLEY, s, &c);
    if ((on & HITL_DRIFT_ADWIN) && hitl__adwin_add(&m->ad[s], x, &c))
        record(m, HITL_DRIFT_ADWIN, s, &c);
    if (s == S_CONF && (on & HITL_DRIFT_PSI) && hitl__psi_add(&m->psi, x, &c))
        record(m, HITL_DRIFT_PSI, s, &c);
}

int hitl_drift_monitor_observe(size_t *n_events, hitl_drift_monitor *monitor,
                               const float *confidence, size_t n,
                               const uint8_t *correct, size_t n_reviewed)
{
    if (!monitor)
        return hitl__fail(HITL_EINVAL, "monitor is NULL");
    int rc = check_inputs(confidence, n, correct, n_reviewed);
    if (rc)
        return rc;
    uint64_t before = monitor->n_events;
    for (size_t i = 0; i < n; i++)
        observe_one(monitor, S_CONF, confidence[i]);
    for (size_t i = 0; i < n_reviewed; i++)
        observe_one(monitor, S_ERR, 1.0 - correct[i]);
    if (n_events)
        *n_events = (size_t)(monitor->n_events - before);
    return HITL_OK;
}

/* ---- reading ------------------------------------------------------------------- */

static double window_mean(const hitl__adwin *a)
{
    return a->width ? a->total / (double)a->width : NAN;
}

int hitl_drift_monitor_get_info(double *value, const hitl_drift_monitor *monitor,
                                hitl_drift_info info)
{
    if (!value || !monitor)
        return hitl__fail(HITL_EINVAL, "%s is NULL", value ? "monitor" : "value");
    const hitl__psi *psi = &monitor->psi;
    switch (info) {
    case HITL_DRIFT_INFO_ALERT: *value = monitor->alert; break;
    case HITL_DRIFT_INFO_EVENTS: *value = (double)monitor->n_events; break;
    case HITL_DRIFT_INFO_N_CONFIDENCE: *value = (double)monitor->seen[S_CONF]; break;
    case HITL_DRIFT_INFO_N_REVIEWED: *value = (double)monitor->seen[S_ERR]; break;
    case HITL_DRIFT_INFO_PSI: *value = psi->last; break;
    case HITL_DRIFT_INFO_PSI_LIMIT:
        *value = psi->n_ref < psi->window ? NAN : hitl__psi_limit(psi);
        break;
    case HITL_DRIFT_INFO_ERROR_RATE: *value = window_mean(&monitor->ad[S_ERR]); break;
    case HITL_DRIFT_INFO_CONFIDENCE: *value = window_mean(&monitor->ad[S_CONF]); break;
    default:
        return hitl__fail(HITL_EINVAL, "info %d is not a drift monitor figure",
                          (int)info);
    }
    return HITL_OK;
}

int hitl_drift_monitor_event(double *value, const hitl_drift_monitor *monitor,
                             uint64_t index, hitl_drift_event_info info)
{
    if (!value || !monitor)
        return hitl__fail(HITL_EINVAL, "%s is NULL", value ? "monitor" : "value");
    if (info < HITL_DRIFT_EVENT_DETECTOR || info > HITL_DRIFT_EVENT_HARMFUL)
        return hitl__fail(HITL_EINVAL, "info %d is not an event figure", (int)info);
    uint64_t n = monitor->n_events;
    if (index >= n || n - index > LOG_SIZE)
        return hitl__fail(HITL_ENOTFOUND, "event %llu is not in the log (events "
                          "%llu .. %llu are)", (unsigned long long)index,
                          (unsigned long long)(n > LOG_SIZE ? n - LOG_SIZE : 0),
                          (unsigned long long)n);
    const event *e = &monitor->log[index % LOG_SIZE];
    switch (info) {
    case HITL_DRIFT_EVENT_DETECTOR: *value = e->detector; break;
    case HITL_DRIFT_EVENT_STREAM: *value = e->stream; break;
    case HITL_DRIFT_EVENT_AT: *value = (double)e->at; break;
    case HITL_DRIFT_EVENT_CHANGE_AT: *value = (double)e->change_at; break;
    case HITL_DRIFT_EVENT_BEFORE: *value = e->c.before; break;
    case HITL_DRIFT_EVENT_AFTER: *value = e->c.after; break;
    case HITL_DRIFT_EVENT_STATISTIC: *value = e->c.stat; break;
    case HITL_DRIFT_EVENT_THRESHOLD: *value = e->c.threshold; break;
    default: *value = e->harmful; break;
    }
    return HITL_OK;
}
