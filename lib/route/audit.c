/*
 * audit: does the loop treat groups of people differently?
 *
 * Reads a stretch of the feedback journal (events first .. end-1), the
 * router's decisions the caller hands in and a group per item for each
 * attribute, and counts per group the proportions of hitl.h's "Bias audit"
 * section.  Every figure is a proportion k/n with a Wilson score interval;
 * differences between groups are two-proportion z tests (pooled variance),
 * Holm-corrected over all pairs and metrics of an attribute (Holm 1979), so
 * that under no real difference the chance of any flag for the attribute
 * is at most alpha (up to the normal approximation).
 *
 * One pass over the events (hitl_feedback_event: O(1) each), one over the
 * items with a decision; memory O(items + groups^2) per attribute.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "route/route.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define NO_GROUP INT64_MIN
#define NO_DECISION 255
/* The metrics tested between groups (REVIEWED mirrors ACCEPTED, SEEN is a
 * count). */
#define N_METRICS 8
static const int tested[] = { HITL_AUDIT_ACCEPTED, HITL_AUDIT_MODEL_ERROR,
                              HITL_AUDIT_OVERRIDE, HITL_AUDIT_AGREEMENT,
                              HITL_AUDIT_CAUGHT };
#define N_TESTED (sizeof tested / sizeof tested[0])

typedef struct counts {
    size_t n[N_METRICS], k[N_METRICS];
} counts;

typedef struct gap {
    int64_t a, b;
    double diff, p, p_adj;
    int flagged, valid;
} gap;

typedef struct attr {
    hitl__idmap gmap;        /* group value -> index */
    int64_t *groups;         /* index -> value, n_groups */
    size_t n_groups, cap_groups;
    counts *cnt;             /* per group, after a run */
    gap best[N_METRICS];     /* the largest difference of each metric */
    double *eo_p;            /* per group: Holm-adjusted p, caught less */
    uint8_t *eo_flag;
} attr;

struct hitl_audit {
    size_t n_attr;
    attr *at;
    hitl__idmap items;       /* item id -> slot */
    size_t n_items, cap_items;
    uint64_t *item_id;       /* slot -> item id */
    int64_t *item_group;     /* slot * n_attr + attribute */
    uint8_t *accept;         /* per slot; NO_DECISION when none */
    int32_t *label;
    double level, alpha, min_gap;
    int ran;
};

/* ------------------------------------------------------------------------- */
/* Handle and inputs                                                          */
/* ------------------------------------------------------------------------- */

int hitl_audit_create(hitl_audit **out, size_t n_attributes)
{
    if (!out)
        return hitl__fail(HITL_EINVAL, "out is NULL");
    if (n_attributes < 1 || n_attributes > 64)
        return hitl__fail(HITL_EINVAL, "n_attributes %zu outside [1, 64]", n_attributes);
    hitl_audit *a = hitl__calloc(1, sizeof *a);
    attr *at = hitl__calloc(n_attributes, sizeof *at);
    if (!a || !at) {
        hitl__free(a);
        hitl__free(at);
        return hitl__fail(HITL_ENOMEM, "out of memory");
    }
    a->n_attr = n_attributes;
    a->at = at;
    a->level = 0.95;
    a->alpha = 0.05;
    a->min_gap = 0;
    hitl__handle_acquire();
    *out = a;
    return HITL_OK;
}

static void attr_results_free(attr *t)
{
    hitl__free(t->cnt);
    hitl__free(t->eo_p);
    hitl__free(t->eo_flag);
    t->cnt = NULL;
    t->eo_p = NULL;
    t->eo_flag = NULL;
}

void hitl_audit_free(hitl_audit *audit)
{
    if (!audit)
        return;
    for (size_t i = 0; i < audit->n_attr; i++) {
        hitl__idmap_free(&audit->at[i].gmap);
        hitl__free(audit->at[i].groups);
        attr_results_free(&audit->at[i]);
    }
    hitl__free(audit->at);
    hitl__idmap_free(&audit->items);
    hitl__free(audit->item_group);
    hitl__free(audit->accept);
    hitl__free(audit->label);
    hitl__free(audit->item_id);
    hitl__free(audit);
    hitl__handle_release();
}

static int param_check(hitl_param p, double v)
{
    switch (p) {
    case HITL_PARAM_AUDIT_LEVEL:
        return v > 0 && v < 1;
    case HITL_PARAM_AUDIT_ALPHA:
        return v > 0 && v < 0.5;
    case HITL_PARAM_AUDIT_MIN_GAP:
        return v >= 0 && v <= 1;
    default:
        return -1;
    }
}

int hitl_audit_set_param(hitl_audit *audit, hitl_param param, double value)
{
    if (!audit)
        return hitl__fail(HITL_EINVAL, "audit is NULL");
    int ok = param_check(param, value);
    if (ok < 0)
        return hitl__fail(HITL_EINVAL, "parameter %d is not an audit parameter", (int)param);
    if (!ok)
        return hitl__fail(HITL_EINVAL, "parameter %d: value %g out of range", (int)param,
                          value);
    if (param == HITL_PARAM_AUDIT_LEVEL)
        audit->level = value;
    else if (param == HITL_PARAM_AUDIT_ALPHA)
        audit->alpha = value;
    else
        audit->min_gap = value;
    audit->ran = 0;
    return HITL_OK;
}

int hitl_audit_get_param(double *value, const hitl_audit *audit, hitl_param param)
{
    if (!value || !audit)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !value ? "value" : "audit");
    if (param_check(param, 0.5) < 0)
        return hitl__fail(HITL_EINVAL, "parameter %d is not an audit parameter", (int)param);
    *value = param == HITL_PARAM_AUDIT_LEVEL ? audit->level :
             param == HITL_PARAM_AUDIT_ALPHA ? audit->alpha : audit->min_gap;
    return HITL_OK;
}

/* Room for `more` new items (slots), all arrays grown together. */
static int reserve_items(hitl_audit *a, size_t more)
{
    size_t need = a->n_items + more, cap = a->cap_items;
    if (need <= cap)
        return 0;
    while (cap < need)
        cap = cap ? 2 * cap : 64;
    size_t cells;
    if (hitl__mul_size(&cells, cap, a->n_attr) != 0 ||
        hitl__resize((void **)&a->item_group, cells, sizeof *a->item_group) != 0 ||
        hitl__resize((void **)&a->accept, cap, 1) != 0 ||
        hitl__resize((void **)&a->item_id, cap, sizeof *a->item_id) != 0 ||
        hitl__resize((void **)&a->label, cap, sizeof *a->label) != 0)
        return -1;
    a->cap_items = cap;
    return 0;
}

/* The slot of item id, added (no group, no decision) if new; HITL__NO_SLOT
 * when out of memory. */
static size_t item_slot(hitl_audit *a, uint64_t id)
{
    size_t s = hitl__idmap_get(&a->items, id);
    if (s != HITL__NO_SLOT)
        return s;
    if (reserve_items(a, 1) != 0 || hitl__idmap_reserve(&a->items) != 0)
        return HITL__NO_SLOT;
    s = a->n_items++;
    hitl__idmap_put(&a->items, id, s);
    for (size_t i = 0; i < a->n_attr; i++)
        a->item_group[s * a->n_attr + i] = NO_GROUP;
    a->accept[s] = NO_DECISION;
    a->label[s] = -1;
    a->item_id[s] = id;
    return s;
}

static int group_index(attr *t, int64_t g)
{
    if (hitl__idmap_get(&t->gmap, (uint64_t)g) != HITL__NO_SLOT)
        return 0;
    if (hitl__grow((void **)&t->groups, &t->cap_groups, t->n_groups + 1,
                   sizeof *t->groups) != 0 || hitl__idmap_reserve(&t->gmap) != 0)
        return -1;
    hitl__idmap_put(&t->gmap, (uint64_t)g, t->n_groups);
    t->groups[t->n_groups++] = g;
    return 0;
}

int hitl_audit_set_groups(hitl_audit *audit, size_t attribute, const uint64_t *item_ids,
                          const int64_t *groups, size_t n)
{
    if (!audit || (n > 0 && (!item_ids || !groups)))
        return hitl__fail(HITL_EINVAL, "%s is NULL", !audit ? "audit" :
                          !item_ids ? "item_ids" : "groups");
    if (attribute >= audit->n_attr)
        return hitl__fail(HITL_EINVAL, "attribute %zu of %zu", attribute, audit->n_attr);
    for (size_t i = 0; i < n; i++)
        if (groups[i] == NO_GROUP)
            return hitl__fail(HITL_EINVAL, "groups[%zu] is INT64_MIN (reserved)", i);
    /* Growing first makes the loop below unable to fail half way. */
    attr *t = &audit->at[attribute];
    for (size_t i = 0; i < n; i++)
        if (group_index(t, groups[i]) != 0 || item_slot(audit, item_ids[i]) == HITL__NO_SLOT)
            return hitl__fail(HITL_ENOMEM, "out of memory at item %zu", i);
    for (size_t i = 0; i < n; i++)
        audit->item_group[item_slot(audit, item_ids[i]) * audit->n_attr + attribute] =
            groups[i];
    audit->ran = 0;
    return HITL_OK;
}

int hitl_audit_set_decisions(hitl_audit *audit, const uint64_t *item_ids,
                             const uint8_t *accept, const int32_t *label, size_t n)
{
    if (!audit || (n > 0 && (!item_ids || !accept || !label)))
        return hitl__fail(HITL_EINVAL, "%s is NULL", !audit ? "audit" :
                          !item_ids ? "item_ids" : !accept ? "accept" : "label");
    for (size_t i = 0; i < n; i++)
        if (accept[i] > 1 || label[i] < 0 || label[i] > 65535)
            return hitl__fail(HITL_EINVAL, "decision %zu: accept %u, label %" PRId32
                              " (must be 0 or 1, and 0 .. 65535)", i, (unsigned)accept[i],
                              label[i]);
    for (size_t i = 0; i < n; i++)
        if (item_slot(audit, item_ids[i]) == HITL__NO_SLOT)
            return hitl__fail(HITL_ENOMEM, "out of memory at decision %zu", i);
    for (size_t i = 0; i < n; i++) {
        size_t s = item_slot(audit, item_ids[i]);
        audit->accept[s] = accept[i];
        audit->label[s] = label[i];
    }
    audit->ran = 0;
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* Counting                                                                   */
/* ------------------------------------------------------------------------- */

/* What the stretch says of each item: answered in it, overrides; and, for
 * answered items, the consensus (read once, whatever the attributes). */
typedef struct seen {
    uint8_t answered, known, multi, agree;
    int32_t ref;
    uint32_t shown, overridden;
} seen;

static int is_answer(hitl_event_kind k)
{
    return k == HITL_EVENT_LABEL || k == HITL_EVENT_OVERRIDE || k == HITL_EVENT_CONFIRM;
}

static int read_stretch(seen *sn, const hitl_audit *a, const hitl_feedback *fb,
                        uint64_t first, uint64_t end)
{
    for (uint64_t e = first; e < end; e++) {
        hitl_event_kind kind;
        uint64_t item, by;
        int32_t label, shown;
        if (hitl_feedback_event(&kind, &item, NULL, &label, NULL, &shown, NULL, NULL, fb,
                                e) != HITL_OK ||
            hitl_feedback_event_links(NULL, &by, fb, e) != HITL_OK)
            return HITL_ENOTFOUND;
        size_t s = hitl__idmap_get(&a->items, item);
        if (s == HITL__NO_SLOT || !is_answer(kind) || by != HITL_NO_EVENT)
            continue;
        sn[s].answered = 1;
        if (shown >= 0) {
            sn[s].shown++;
            sn[s].overridden += label != shown;
        }
    }
    return HITL_OK;
}

static void add(counts *c, int metric, int hit)
{
    c->n[metric]++;
    c->k[metric] += hit != 0;
}

/* The consensus of an answered item: its settled label, and whether its
 * current labels (two or more) all agree. */
static void item_facts(seen *sn, const hitl_feedback *fb, uint64_t id)
{
    hitl_consensus st = HITL_CONSENSUS_NONE;
    double agreement = NAN;
    size_t n_labels = 0;
    hitl_feedback_item(&st, &sn->ref, NULL, &agreement, &n_labels, fb, id);
    sn->known = st == HITL_CONSENSUS_RESOLVED || st == HITL_CONSENSUS_GOLD;
    sn->multi = n_labels >= 2;
    sn->agree = agreement == 1.0;
}

/* One item's contribution to its group's counts. */
static void count_item(counts *c, const hitl_audit *a, const seen *sn, size_t s)
{
    c->n[HITL_AUDIT_OVERRIDE] += sn->shown;
    c->k[HITL_AUDIT_OVERRIDE] += sn->overridden;
    int known = sn->answered && sn->known;
    if (sn->answered && sn->multi)
        add(c, HITL_AUDIT_AGREEMENT, sn->agree);
    if (a->accept[s] == NO_DECISION)
        return;
    int acc = a->accept[s], wrong = known && sn->ref != a->label[s];
    add(c, HITL_AUDIT_SEEN, 1);
    add(c, HITL_AUDIT_ACCEPTED, acc);
    add(c, HITL_AUDIT_REVIEWED, !acc);
    if (known && !acc)
        add(c, HITL_AUDIT_MODEL_ERROR, wrong);
    if (wrong)
        add(c, HITL_AUDIT_CAUGHT, !acc);
}

/* ------------------------------------------------------------------------- */
/* Tests                                                                      */
/* ------------------------------------------------------------------------- */

/* Two-sided p of the pooled two-proportion z test; 1 when undefined. */
static double two_prop_p(size_t k1, size_t n1, size_t k2, size_t n2, int one_sided)
{
    if (!n1 || !n2)
        return 1;
    double p1 = (double)k1 / n1, p2 = (double)k2 / n2, p = (double)(k1 + k2) / (n1 + n2);
    double se = sqrt(p * (1 - p) * (1.0 / n1 + 1.0 / n2));
    if (!(se > 0))
        return 1;
    double z = (p1 - p2) / se;
    /* one-sided: is the first proportion lower? */
    return one_sided ? 0.5 * erfc(-z / sqrt(2.0)) * 1.0 : erfc(fabs(z) / sqrt(2.0));
}

/* Holm's step-down adjustment of m p-values in place (order kept). */
static int holm(double *p, size_t m)
{
    size_t *ord = hitl__calloc(m ? m : 1, sizeof *ord);
    if (!ord)
        return -1;
    for (size_t i = 0; i < m; i++)
        ord[i] = i;
    for (size_t i = 1; i < m; i++)          /* insertion sort: m is small */
        for (size_t j = i; j > 0 && p[ord[j]] < p[ord[j - 1]]; j--) {
            size_t t = ord[j];
            ord[j] = ord[j - 1];
            ord[j - 1] = t;
        }
    double run = 0;
    for (size_t r = 0; r < m; r++) {
        double v = fmin(1, (double)(m - r) * p[ord[r]]);
        run = fmax(run, v);
        p[ord[r]] = run;
    }
    hitl__free(ord);
    return 0;
}

static double share(const counts *c, int m)
{
    return c->n[m] ? (double)c->k[m] / c->n[m] : NAN;
}

/* Every pair of groups on every tested metric; keeps each metric's largest
 * difference with its adjusted p. */
static int test_pairs(attr *t, double alpha, double min_gap)
{
    size_t G = t->n_groups, m = N_TESTED * (G * (G - 1) / 2 + 1), k = 0;
    double *p = hitl__calloc(m, sizeof *p);
    gap *all = hitl__calloc(m, sizeof *all);
    if (!p || !all || (G && G * (G - 1) / 2 > SIZE_MAX / N_TESTED)) {
        hitl__free(p);
        hitl__free(all);
        return -1;
    }
    for (size_t ti = 0; ti < N_TESTED; ti++)
        for (size_t i = 0; i < G; i++)
            for (size_t j = i + 1; j < G; j++) {
                const counts *a = &t->cnt[i], *b = &t->cnt[j];
                int me = tested[ti];
                if (!a->n[me] || !b->n[me])
                    continue;
                p[k] = two_prop_p(a->k[me], a->n[me], b->k[me], b->n[me], 0);
                all[k] = (gap){ t->groups[i], t->groups[j],
                                share(a, me) - share(b, me), p[k], 0, 0, ti + 1 };
                k++;
            }
    int rc = holm(p, k);
    memset(t->best, 0, sizeof t->best);
    for (size_t i = 0; rc == 0 && i < k; i++) {
        all[i].p_adj = p[i];
        all[i].flagged = p[i] <= alpha && fabs(all[i].diff) >= min_gap;
        gap *b = &t->best[tested[all[i].valid - 1]];
        if (!b->valid || fabs(all[i].diff) > fabs(b->diff))
            *b = all[i];
    }
    hitl__free(p);
    hitl__free(all);
    return rc;
}

/* Equal opportunity: each group's share of errors caught against the other
 * groups pooled, one-sided (lower), Holm over the groups. */
static int test_caught(attr *t, double alpha, double min_gap)
{
    size_t G = t->n_groups, N = 0, K = 0;
    for (size_t i = 0; i < G; i++) {
        N += t->cnt[i].n[HITL_AUDIT_CAUGHT];
        K += t->cnt[i].k[HITL_AUDIT_CAUGHT];
    }
    for (size_t i = 0; i < G; i++) {
        const counts *c = &t->cnt[i];
        size_t n = c->n[HITL_AUDIT_CAUGHT], k = c->k[HITL_AUDIT_CAUGHT];
        t->eo_p[i] = two_prop_p(k, n, K - k, N - n, 1);
    }
    if (holm(t->eo_p, G) != 0)
        return -1;
    for (size_t i = 0; i < G; i++) {
        const counts *c = &t->cnt[i];
        size_t n = c->n[HITL_AUDIT_CAUGHT], k = c->k[HITL_AUDIT_CAUGHT];
        double rest = N > n ? (double)(K - k) / (N - n) : NAN;
        t->eo_flag[i] = n && N > n && t->eo_p[i] <= alpha && rest - (double)k / n >= min_gap;
    }
    return 0;
}

static int alloc_results(attr *t)
{
    attr_results_free(t);
    size_t G = t->n_groups ? t->n_groups : 1;
    t->cnt = hitl__calloc(G, sizeof *t->cnt);
    t->eo_p = hitl__calloc(G, sizeof *t->eo_p);
    t->eo_flag = hitl__calloc(G, sizeof *t->eo_flag);
    return t->cnt && t->eo_p && t->eo_flag ? 0 : -1;
}

int hitl_audit_run(hitl_audit *audit, const hitl_feedback *feedback, uint64_t first_event,
                   uint64_t end_event)
{
    if (!audit || !feedback)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !audit ? "audit" : "feedback");
    size_t count;
    hitl_feedback_count(&count, feedback);
    if (end_event == UINT64_MAX)
        end_event = count;
    if (first_event > end_event || end_event > count)
        return hitl__fail(HITL_EINVAL, "events [%" PRIu64 ", %" PRIu64 ") leave the %zu "
                          "recorded", first_event, end_event, count);
    seen *sn = hitl__calloc(audit->n_items ? audit->n_items : 1, sizeof *sn);
    int ok = sn != NULL;
    audit->ran = 0;
    for (size_t i = 0; ok && i < audit->n_attr; i++)
        ok = alloc_results(&audit->at[i]) == 0;
    if (!ok) {
        hitl__free(sn);
        return hitl__fail(HITL_ENOMEM, "out of memory for %zu items", audit->n_items);
    }
    read_stretch(sn, audit, feedback, first_event, end_event);
    for (size_t k = 0; k < audit->n_items; k++)
        if (sn[k].answered)
            item_facts(&sn[k], feedback, audit->item_id[k]);
    for (size_t i = 0; i < audit->n_attr; i++) {
        attr *t = &audit->at[i];
        for (size_t k = 0; k < audit->n_items; k++) {
            int64_t g = audit->item_group[k * audit->n_attr + i];
            if (g != NO_GROUP)
                count_item(&t->cnt[hitl__idmap_get(&t->gmap, (uint64_t)g)], audit, &sn[k],
                           k);
        }
    }
    hitl__free(sn);
    for (size_t i = 0; ok && i < audit->n_attr; i++)
        ok = test_pairs(&audit->at[i], audit->alpha, audit->min_gap) == 0 &&
             test_caught(&audit->at[i], audit->alpha, audit->min_gap) == 0;
    if (!ok)
        return hitl__fail(HITL_ENOMEM, "out of memory for the tests");
    audit->ran = 1;
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* Results                                                                    */
/* ------------------------------------------------------------------------- */

static int check_ran(const hitl_audit *a, size_t attribute, const char *fn)
{
    if (!a)
        return hitl__fail_in(HITL_EINVAL, fn, "audit is NULL");
    if (attribute >= a->n_attr)
        return hitl__fail_in(HITL_EINVAL, fn, "attribute %zu of %zu", attribute, a->n_attr);
    if (!a->ran)
        return hitl__fail_in(HITL_ESTATE, fn, "no audit has run since the last change");
    return HITL_OK;
}

static int check_metric(int m, const char *fn)
{
    if (m < HITL_AUDIT_SEEN || m > HITL_AUDIT_CAUGHT)
        return hitl__fail_in(HITL_EINVAL, fn, "unknown metric %d", m);
    return HITL_OK;
}

int hitl_audit_groups(size_t *count, int64_t *groups, size_t capacity,
                      const hitl_audit *audit, size_t attribute)
{
    if (!count || (capacity && !groups))
        return hitl__fail(HITL_EINVAL, "%s is NULL", !count ? "count" : "groups");
    if (!audit || attribute >= audit->n_attr)
        return hitl__fail(HITL_EINVAL, "%s", !audit ? "audit is NULL" : "no such attribute");
    const attr *t = &audit->at[attribute];
    for (size_t i = 0; i < t->n_groups && i < capacity; i++)
        groups[i] = t->groups[i];
    *count = t->n_groups;
    return HITL_OK;
}

/* Wilson score interval of k/n at two-sided level L. */
static void wilson(double *lo, double *hi, size_t k, size_t n, double level)
{
    double z = hitl__normal_upper((1 - level) / 2), p = (double)k / n, z2 = z * z;
    double den = 1 + z2 / n, mid = (p + z2 / (2.0 * n)) / den;
    double half = z * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / den;
    *lo = fmax(0, mid - half);
    *hi = fmin(1, mid + half);
}

int hitl_audit_figure(double *value, double *lower, double *upper, size_t *n,
                      const hitl_audit *audit, size_t attribute, int64_t group,
                      hitl_audit_metric metric)
{
    int st = check_ran(audit, attribute, __func__);
    if (st != HITL_OK || (st = check_metric(metric, __func__)) != HITL_OK)
        return st;
    const attr *t = &audit->at[attribute];
    size_t gi = hitl__idmap_get(&t->gmap, (uint64_t)group);
    if (gi == HITL__NO_SLOT)
        return hitl__fail(HITL_ENOTFOUND, "attribute %zu has no group %" PRId64, attribute,
                          group);
    const counts *c = &t->cnt[gi];
    size_t nn = c->n[metric], kk = c->k[metric];
    double v = metric == HITL_AUDIT_SEEN ? (double)nn : nn ? (double)kk / nn : NAN;
    double lo = NAN, hi = NAN;
    if (metric != HITL_AUDIT_SEEN && nn)
        wilson(&lo, &hi, kk, nn, audit->level);
    if (value)
        *value = v;
    if (lower)
        *lower = lo;
    if (upper)
        *upper = hi;
    if (n)
        *n = nn;
    return HITL_OK;
}

int hitl_audit_gap(int64_t *group_a, int64_t *group_b, double *difference,
                   double *p_adjusted, int *flagged, const hitl_audit *audit,
                   size_t attribute, hitl_audit_metric metric)
{
    int st = check_ran(audit, attribute, __func__);
    if (st != HITL_OK || (st = check_metric(metric, __func__)) != HITL_OK)
        return st;
    const gap *g = &audit->at[attribute].best[metric];
    if (!g->valid)
        return hitl__fail(HITL_ESTATE, "metric %d has no two groups with items to compare",
                          (int)metric);
    if (group_a)
        *group_a = g->a;
    if (group_b)
        *group_b = g->b;
    if (difference)
        *difference = g->diff;
    if (p_adjusted)
        *p_adjusted = g->p_adj;
    if (flagged)
        *flagged = g->flagged;
    return HITL_OK;
}

int hitl_audit_caught_flag(int *flagged, double *p_adjusted, const hitl_audit *audit,
                           size_t attribute, int64_t group)
{
    int st = check_ran(audit, attribute, __func__);
    if (st != HITL_OK)
        return st;
    const attr *t = &audit->at[attribute];
    size_t gi = hitl__idmap_get(&t->gmap, (uint64_t)group);
    if (gi == HITL__NO_SLOT)
        return hitl__fail(HITL_ENOTFOUND, "attribute %zu has no group %" PRId64, attribute,
                          group);
    if (flagged)
        *flagged = t->eo_flag[gi];
    if (p_adjusted)
        *p_adjusted = t->eo_p[gi];
    return HITL_OK;
}

/* ------------------------------------------------------------------------- */
/* The report                                                                 */
/* ------------------------------------------------------------------------- */

static const char *metric_name[N_METRICS] = {
    "", "seen", "accepted", "reviewed", "model_error", "override", "agreement", "caught"
};

typedef struct sink {
    char *buf;
    size_t cap, len;
} sink;

HITL__PRINTF(2, 3) static void put(sink *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = s->len < s->cap ? s->cap - s->len : 0;
    int w = vsnprintf(room ? s->buf + s->len : NULL, room, fmt, ap);
    va_end(ap);
    if (w > 0)
        s->len += (size_t)w;
}

/* JSON and CSV both take the numbers as printed by %.17g; NaN is null / "". */
static void put_num(sink *s, double v, int json)
{
    if (isnan(v))
        put(s, "%s", json ? "null" : "");
    else
        put(s, "%.17g", v);
}

static void report_group(sink *s, const hitl_audit *a, size_t i, size_t gi, int json)
{
    const attr *t = &a->at[i];
    for (int m = HITL_AUDIT_SEEN; m <= HITL_AUDIT_CAUGHT; m++) {
        double v, lo, hi;
        size_t n;
        hitl_audit_figure(&v, &lo, &hi, &n, a, i, t->groups[gi], (hitl_audit_metric)m);
        if (json)
            put(s, "{\"kind\":\"figure\",\"attribute\":%zu,\"group\":%" PRId64
                ",\"metric\":\"%s\",\"n\":%zu,\"value\":", i, t->groups[gi], metric_name[m],
                n);
        else
            put(s, "figure,%zu,%" PRId64 ",%s,%zu,", i, t->groups[gi], metric_name[m], n);
        put_num(s, v, json);
        put(s, "%s", json ? ",\"lower\":" : ",");
        put_num(s, lo, json);
        put(s, "%s", json ? ",\"upper\":" : ",");
        put_num(s, hi, json);
        put(s, "%s", json ? "}\n" : ",,,,,\n");
    }
    if (json) {
        put(s, "{\"kind\":\"caught_check\",\"attribute\":%zu,\"group\":%" PRId64
            ",\"p_adjusted\":", i, t->groups[gi]);
        put_num(s, t->eo_p[gi], 1);
        put(s, ",\"flagged\":%d}\n", t->eo_flag[gi]);
    } else {
        put(s, "caught_check,%zu,%" PRId64 ",caught,,,,,,,,", i, t->groups[gi]);
        put_num(s, t->eo_p[gi], 0);
        put(s, ",%d\n", t->eo_flag[gi]);
    }
}

static void report_gaps(sink *s, const hitl_audit *a, size_t i, int json)
{
    for (size_t ti = 0; ti < N_TESTED; ti++) {
        const gap *g = &a->at[i].best[tested[ti]];
        if (!g->valid)
            continue;
        if (json)
            put(s, "{\"kind\":\"gap\",\"attribute\":%zu,\"metric\":\"%s\",\"group_a\":%"
                PRId64 ",\"group_b\":%" PRId64 ",\"difference\":%.17g,\"p\":%.17g,"
                "\"p_adjusted\":%.17g,\"flagged\":%d}\n", i, metric_name[tested[ti]], g->a,
                g->b, g->diff, g->p, g->p_adj, g->flagged);
        else
            put(s, "gap,%zu,,%s,,,,,%" PRId64 ",%" PRId64 ",%.17g,%.17g,%d\n", i,
                metric_name[tested[ti]], g->a, g->b, g->diff, g->p_adj, g->flagged);
    }
}

int hitl_audit_report(size_t *length, char *buf, size_t capacity, const hitl_audit *audit,
                      hitl_report_format format)
{
    if (!length || (capacity && !buf))
        return hitl__fail(HITL_EINVAL, "%s is NULL", !length ? "length" : "buf");
    if (format != HITL_REPORT_CSV && format != HITL_REPORT_JSONL)
        return hitl__fail(HITL_EINVAL, "unknown format %d", (int)format);
    int st = check_ran(audit, 0, __func__);
    if (st != HITL_OK)
        return st;
    int json = format == HITL_REPORT_JSONL;
    sink s = { buf, capacity, 0 };
    if (!json)
        put(&s, "kind,attribute,group,metric,n,value,lower,upper,group_a,group_b,"
            "difference,p_adjusted,flagged\n");
    for (size_t i = 0; i < audit->n_attr; i++) {
        for (size_t gi = 0; gi < audit->at[i].n_groups; gi++)
            report_group(&s, audit, i, gi, json);
        report_gaps(&s, audit, i, json);
    }
    *length = s.len;
    if (s.len >= capacity)
        return capacity ? hitl__fail(HITL_EINVAL, "capacity %zu < %zu bytes (and the NUL)",
                                     capacity, s.len + 1) : HITL_OK;
    return HITL_OK;
}
