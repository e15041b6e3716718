/* hitl_drift_monitor: change detectors (base/change.c) on the two streams a
 * deployed router sees, the confidences it routes and the errors its
 * reviewers find, and the link that makes a harmful change raise the
 * router's review until it is recalibrated.  See "Drift in deployment" in
 * hitl.h for the rules. */
#include "route/route.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

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

/* The detectors of both streams (PSI watches confidence only). */
typedef struct detectors {
    hitl__ph ph[2];
    hitl__adwin ad[2];
    hitl__psi psi;
} detectors;

struct hitl_drift_monitor {
    params p;
    detectors d;
    uint64_t seen[2];
    uint64_t n_events;
    int alert;
    hitl_router *router;
    event log[LOG_SIZE];
};

static const params defaults = { 7, 0.005, 50, 0.9999, 30, 0.002, 5, 32,
                                 1000, 10, 0.25, 0 };

/* The detectors of p, fresh: HITL_OK or HITL_ENOMEM (nothing to free). */
static int detectors_init(detectors *d, const params *p)
{
    for (int s = 0; s < 2; s++) {
        hitl__ph_init(&d->ph[s], p->ph_delta, p->ph_lambda, p->ph_alpha,
                      (uint64_t)p->ph_min);
        if (hitl__adwin_init(&d->ad[s], p->ad_delta, (size_t)p->ad_m,
                             (size_t)p->ad_clock) != HITL_OK) {
            if (s)
                hitl__adwin_free(&d->ad[0]);
            return HITL_ENOMEM;
        }
    }
    if (hitl__psi_init(&d->psi, (size_t)p->psi_window, (size_t)p->psi_bins,
                       p->psi_threshold, p->psi_alpha) != HITL_OK) {
        hitl__adwin_free(&d->ad[0]);
        hitl__adwin_free(&d->ad[1]);
        return HITL_ENOMEM;
    }
    return HITL_OK;
}

static void detectors_free(detectors *d)
{
    hitl__adwin_free(&d->ad[0]);
    hitl__adwin_free(&d->ad[1]);
    hitl__psi_free(&d->psi);
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
    if (detectors_init(&m->d, &m->p) != HITL_OK) {
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
    detectors_free(&monitor->d);
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
    detectors next;
    if (detectors_init(&next, &p) != HITL_OK)
        return hitl__fail(HITL_ENOMEM, "no memory for the detectors");
    detectors_free(&monitor->d);
    monitor->p = p;
    monitor->d = next;
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
        hitl__ph_reset(&monitor->d.ph[s]);
        hitl__adwin_reset(&monitor->d.ad[s]);
    }
    hitl__psi_reset(&monitor->d.psi);
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
    if ((on & HITL_DRIFT_PAGE_HINKLEY) && hitl__ph_add(&m->d.ph[s], rise, &c))
        record(m, HITL_DRIFT_PAGE_HINKLEY, s, &c);
    if ((on & HITL_DRIFT_ADWIN) && hitl__adwin_add(&m->d.ad[s], x, &c))
        record(m, HITL_DRIFT_ADWIN, s, &c);
    if (s == S_CONF && (on & HITL_DRIFT_PSI) && hitl__psi_add(&m->d.psi, x, &c))
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
    const hitl__psi *psi = &monitor->d.psi;
    switch (info) {
    case HITL_DRIFT_INFO_ALERT: *value = monitor->alert; break;
    case HITL_DRIFT_INFO_EVENTS: *value = (double)monitor->n_events; break;
    case HITL_DRIFT_INFO_N_CONFIDENCE: *value = (double)monitor->seen[S_CONF]; break;
    case HITL_DRIFT_INFO_N_REVIEWED: *value = (double)monitor->seen[S_ERR]; break;
    case HITL_DRIFT_INFO_PSI: *value = psi->last; break;
    case HITL_DRIFT_INFO_PSI_LIMIT:
        *value = psi->n_ref < psi->window ? NAN : hitl__psi_limit(psi);
        break;
    case HITL_DRIFT_INFO_ERROR_RATE: *value = window_mean(&monitor->d.ad[S_ERR]); break;
    case HITL_DRIFT_INFO_CONFIDENCE: *value = window_mean(&monitor->d.ad[S_CONF]); break;
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

/* ---- saving and loading ------------------------------------------------------ */

/* The record: magic, version, then every field in a fixed order as 8-byte
 * little-endian integers or float64 bits, then a CRC-32 of all before it.
 * One pass of `walk` writes it (or, with a NULL buffer, only counts), the
 * same pass reads it, so the two cannot disagree on the order. */
#define SAVE_MAGIC "HITLDRFT"
#define SAVE_VERSION 1

typedef struct cursor {
    unsigned char *out;          /* writing (NULL: counting or reading) */
    const unsigned char *in, *end;  /* reading */
    size_t n;
    int bad;                     /* read past the end */
} cursor;

static void io_u64(cursor *c, uint64_t *v)
{
    c->n += 8;
    if (c->out)
        c->out = hitl__put_le(c->out, *v, 8);
    else if (c->in && c->end - c->in >= 8)
        *v = hitl__get_le(&c->in, 8);
    else if (c->in)
        c->bad = 1;
}

/* The conversions below store back only when reading: saving is a
 * concurrent read of the monitor. */
static void io_f64(cursor *c, double *x)
{
    uint64_t u;
    memcpy(&u, x, 8);
    io_u64(c, &u);
    if (c->in)
        memcpy(x, &u, 8);
}

static void io_size(cursor *c, size_t *v)
{
    uint64_t u = *v;
    io_u64(c, &u);
    if (c->in)
        *v = u > SIZE_MAX ? SIZE_MAX : (size_t)u;
}

static void io_int(cursor *c, int *v)
{
    uint64_t u = (uint64_t)(int64_t)*v;
    io_u64(c, &u);
    if (c->in)
        *v = u > 64 ? -1 : (int)u;
}

static void io_ph(cursor *c, hitl__ph *p)
{
    io_u64(c, &p->n);
    io_u64(c, &p->n_min);
    io_f64(c, &p->mean);
    io_f64(c, &p->m);
    io_f64(c, &p->m_min);
    io_f64(c, &p->sum);
    io_f64(c, &p->sum_min);
}

/* ADWIN's counts first; its buckets only where the counts are sane (a
 * reader checks them before walking on). */
static int adwin_sane(const hitl__adwin *a)
{
    uint64_t width = 0;
    if (a->rows > HITL__ADWIN_ROWS)
        return 0;
    for (size_t r = 0; r < HITL__ADWIN_ROWS; r++) {
        if (a->count[r] > a->m + 1 || (r >= a->rows && a->count[r]))
            return 0;
        width += (uint64_t)a->count[r] << r;
    }
    return width == a->width && (!a->rows || a->count[a->rows - 1]);
}

static void io_adwin(cursor *c, hitl__adwin *a)
{
    io_u64(c, &a->width);
    io_u64(c, &a->time);
    io_f64(c, &a->total);
    io_f64(c, &a->var);
    io_size(c, &a->rows);
    for (size_t r = 0; r < HITL__ADWIN_ROWS; r++)
        io_size(c, &a->count[r]);
    if (c->bad || !adwin_sane(a)) {
        c->bad = 1;
        return;
    }
    for (size_t r = 0; r < a->rows; r++)
        for (size_t k = 0; k < a->count[r]; k++) {
            io_f64(c, &a->sum[r * (a->m + 1) + k]);
            io_f64(c, &a->sq[r * (a->m + 1) + k]);
        }
}

static int psi_sane(const hitl__psi *s)
{
    if (s->n_ref > s->window || s->n_cur >= s->window || s->n_edges >= s->bins)
        return 0;
    return s->n_ref == s->window || (!s->n_cur && !s->n_edges);
}

static void io_psi(cursor *c, hitl__psi *s)
{
    io_size(c, &s->n_ref);
    io_size(c, &s->n_cur);
    io_size(c, &s->n_edges);
    io_f64(c, &s->cur_sum);
    io_f64(c, &s->last);
    io_u64(c, &s->n_checks);
    if (c->bad || !psi_sane(s)) {
        c->bad = 1;
        return;
    }
    for (size_t i = 0; i < s->n_ref; i++)
        io_f64(c, &s->ref[i]);
    for (size_t i = 0; i < s->n_edges; i++)
        io_f64(c, &s->edges[i]);
    for (size_t b = 0; b < s->bins; b++) {
        io_f64(c, &s->expect[b]);
        io_size(c, &s->count[b]);
    }
}

static void io_event(cursor *c, event *e)
{
    io_int(c, &e->detector);
    io_int(c, &e->stream);
    io_int(c, &e->harmful);
    io_u64(c, &e->at);
    io_u64(c, &e->change_at);
    io_f64(c, &e->c.before);
    io_f64(c, &e->c.after);
    io_f64(c, &e->c.stat);
    io_f64(c, &e->c.threshold);
    io_u64(c, &e->c.n_before);
    io_u64(c, &e->c.n_after);
}

static void io_params(cursor *c, params *p)
{
    io_int(c, &p->detectors);
    double *f[] = { &p->ph_delta, &p->ph_lambda, &p->ph_alpha, &p->ph_min,
                    &p->ad_delta, &p->ad_m, &p->ad_clock, &p->psi_window,
                    &p->psi_bins, &p->psi_threshold, &p->psi_alpha };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        io_f64(c, f[i]);
}

/* Everything after the parameters. */
static void walk_state(cursor *c, hitl_drift_monitor *m)
{
    for (int s = 0; s < 2; s++) {
        io_ph(c, &m->d.ph[s]);
        io_adwin(c, &m->d.ad[s]);
        io_u64(c, &m->seen[s]);
    }
    io_psi(c, &m->d.psi);
    io_int(c, &m->alert);
    io_u64(c, &m->n_events);
    uint64_t first = m->n_events > LOG_SIZE ? m->n_events - LOG_SIZE : 0;
    for (uint64_t i = first; i < m->n_events && !c->bad; i++)
        io_event(c, &m->log[i % LOG_SIZE]);
}

/* 8 magic + 8 version + parameters + state + 4 CRC. */
static size_t record_size(const hitl_drift_monitor *m)
{
    cursor c = { 0 };
    params p = m->p;
    io_params(&c, &p);
    walk_state(&c, (hitl_drift_monitor *)m);   /* counting only: no writes */
    return 16 + c.n + 4;
}

int hitl_drift_monitor_save_size(size_t *size, const hitl_drift_monitor *monitor)
{
    if (!size || !monitor)
        return hitl__fail(HITL_EINVAL, "%s is NULL", size ? "monitor" : "size");
    *size = record_size(monitor);
    return HITL_OK;
}

int hitl_drift_monitor_save(size_t *written, void *buf, size_t capacity,
                            const hitl_drift_monitor *monitor)
{
    if (!written || !buf || !monitor)
        return hitl__fail(HITL_EINVAL, "%s is NULL",
                          !written ? "written" : !buf ? "buf" : "monitor");
    size_t need = record_size(monitor);
    if (capacity < need)
        return hitl__fail(HITL_EINVAL, "capacity %zu is below the %zu bytes "
                          "needed", capacity, need);
    unsigned char *p = buf;
    memcpy(p, SAVE_MAGIC, 8);
    cursor c = { .out = hitl__put_le(p + 8, SAVE_VERSION, 8) };
    params prm = monitor->p;
    io_params(&c, &prm);
    walk_state(&c, (hitl_drift_monitor *)monitor);  /* writing reads it only */
    hitl__put_le(c.out, hitl__crc32(p, need - 4), 4);
    *written = need;
    return HITL_OK;
}

/* Values a saved monitor can hold: finite where the detectors keep sums. */
static int state_sane(const hitl_drift_monitor *m)
{
    for (int s = 0; s < 2; s++) {
        const hitl__ph *p = &m->d.ph[s];
        if (p->n_min > p->n || !isfinite(p->mean + p->m + p->m_min + p->sum +
                                         p->sum_min) || p->m_min > 0)
            return 0;
        if (!isfinite(m->d.ad[s].total + m->d.ad[s].var))
            return 0;
    }
    for (uint64_t i = m->n_events > LOG_SIZE ? m->n_events - LOG_SIZE : 0;
         i < m->n_events; i++) {
        const event *e = &m->log[i % LOG_SIZE];
        if ((e->detector != 1 && e->detector != 2 && e->detector != 4) ||
            (e->stream != 1 && e->stream != 2) || (unsigned)e->harmful > 1)
            return 0;
    }
    return (unsigned)m->alert <= 1;
}

#define BAD(...) hitl__fail(HITL_EFORMAT, __VA_ARGS__)

int hitl_drift_monitor_load(hitl_drift_monitor **out, const void *buf, size_t size)
{
    if (!out || !buf)
        return hitl__fail(HITL_EINVAL, "%s is NULL", out ? "buf" : "out");
    *out = NULL;
    const unsigned char *p = buf;
    if (size < 16 + 4 || memcmp(p, SAVE_MAGIC, 8))
        return BAD("not a libhitl drift monitor (%zu bytes)", size);
    const unsigned char *q = p + 8, *tail = p + size - 4;
    if (hitl__get_le(&q, 8) != SAVE_VERSION)
        return BAD("unknown version");
    if (hitl__get_le(&tail, 4) != hitl__crc32(p, size - 4))
        return BAD("checksum mismatch: the record is corrupt or truncated");
    cursor c = { .in = q, .end = p + size - 4 };
    params prm = defaults;
    io_params(&c, &prm);
    hitl_drift_monitor *m;
    int rc = hitl_drift_monitor_create(&m);
    if (rc)
        return rc;
    const spec *sp = specs;
    for (size_t i = 0; !c.bad && i <= sizeof specs / sizeof specs[0] && !rc; i++) {
        hitl_param par = i ? sp[i - 1].param : HITL_PARAM_MONITOR_DETECTORS;
        double v = i ? *(double *)((char *)&prm + sp[i - 1].offset) : prm.detectors;
        rc = hitl_drift_monitor_set_param(m, par, v);
    }
    if (rc == HITL_ENOMEM) {
        hitl_drift_monitor_free(m);
        return rc;
    }
    if (!rc && !c.bad)
        walk_state(&c, m);
    if (rc || c.bad || c.in != c.end || !state_sane(m)) {
        hitl_drift_monitor_free(m);
        return BAD("%s", rc ? "a parameter is out of range" :
                   "the detectors' state is inconsistent or truncated");
    }
    *out = m;
    return HITL_OK;
}
