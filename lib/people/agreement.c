/* Agreement between annotators: Cohen's kappa, Fleiss' kappa, Krippendorff's
 * alpha (nominal) and per-annotator accuracy against a reference labelling.
 * Plain arrays in, figures out; the formulas are stated in include/hitl.h.
 *
 * Fleiss and Krippendorff both reduce to per-item figures: with m_u ratings
 * on item u and n_uc of them in class c, the share of agreeing ordered rater
 * pairs is P_u = (sum_c n_uc^2 - m_u) / (m_u (m_u - 1)).  Fleiss averages
 * P_u; Krippendorff's observed disagreement is sum_u m_u (1 - P_u) / n.  So
 * both walk the items once, sorted, with one count array of n_classes. */
#include "people/people.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>


typedef struct rating {
    uint64_t item, rater;
    int32_t label;
    size_t pos;        /* index in the caller's arrays, for messages */
} rating;

static int rating_cmp(const void *pa, const void *pb)
{
    const rating *a = pa, *b = pb;
    if (a->item != b->item)
        return a->item < b->item ? -1 : 1;
    if (a->rater != b->rater)
        return a->rater < b->rater ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

/* Validate (item, rater, label) triples and return them sorted by item, then
 * rater, in a new array.  One answer per rater and item: a repeat is a
 * caller error (an earlier answer that should have been retracted). */
static int ratings_sorted(rating **out, const char *fn, const uint64_t *item,
                          const uint64_t *rater, const int32_t *label,
                          size_t n, size_t n_classes)
{
    int rc = hitl__check_classes(fn, n_classes);
    if (rc)
        return rc;
    if (!item || !rater || !label)
        return hitl__fail_in(HITL_EINVAL, fn, "%s is NULL",
                             !item ? "item" : !rater ? "rater" : "label");
    if (n == 0)
        return hitl__fail_in(HITL_EINVAL, fn, "n is 0: no ratings");
    if ((rc = hitl__check_rows(fn, n, 1, 1, sizeof(uint64_t))))
        return rc;
    rc = hitl__check_labels(fn, "label", label, n, n_classes);
    if (rc)
        return rc;
    rating *r = hitl__calloc(n, sizeof *r);
    if (!r)
        return hitl__fail_in(HITL_ENOMEM, fn, "no memory for %zu ratings", n);
    for (size_t i = 0; i < n; i++)
        r[i] = (rating){ item[i], rater[i], label[i], i };
    qsort(r, n, sizeof *r, rating_cmp);
    for (size_t i = 1; i < n; i++)
        if (r[i].item == r[i - 1].item && r[i].rater == r[i - 1].rater) {
            size_t a = r[i - 1].pos, b = r[i].pos;
            hitl__free(r);
            return hitl__fail_in(HITL_EINVAL, fn,
                                 "ratings %zu and %zu are both by rater %" PRIu64
                                 " on item %" PRIu64 " (one answer per rater and item)",
                                 a, b, rater[a], item[a]);
        }
    *out = r;
    return HITL_OK;
}

/* What Fleiss and Krippendorff need from the items: sums over the items
 * with at least two ratings ("pairable") and the class totals over them. */
typedef struct units {
    size_t n_items;      /* items seen */
    size_t n_pairable;   /* items with m_u >= 2 */
    double n_values;     /* sum of m_u over pairable items */
    double sum_p;        /* sum of P_u */
    double sum_dis;      /* sum of m_u (1 - P_u) */
    size_t m_first;      /* m_u of the first item */
    size_t m_odd;        /* m_u of the first item where it differs */
    int m_varies;
    double *total;       /* n_classes: ratings per class over pairable items */
} units;

/* Add one item: m ratings, counts[c] of them in class c, sum_c counts^2 = sq.
 * The caller adds counts to u->total when m >= 2. */
static void units_add(units *u, size_t m, double sq)
{
    if (u->n_items == 0)
        u->m_first = m;
    else if (m != u->m_first && !u->m_varies) {
        u->m_varies = 1;
        u->m_odd = m;
    }
    u->n_items++;
    if (m < 2)
        return;
    double p = (sq - (double)m) / ((double)m * (double)(m - 1));
    u->n_pairable++;
    u->n_values += (double)m;
    u->sum_p += p;
    u->sum_dis += (double)m * (1.0 - p);
}

/* Walk sorted ratings item by item.  counts is n_classes zeros on entry and
 * on return.  *odd_id receives the id of the first item whose number of
 * ratings differs from the first item's, if any. */
static void units_scan(units *u, uint64_t *odd_id, const rating *r, size_t n,
                       size_t *counts)
{
    size_t start = 0;
    while (start < n) {
        size_t end = start;
        double sq = 0;
        while (end < n && r[end].item == r[start].item) {
            size_t c = (size_t)r[end].label;
            sq += 2.0 * (double)counts[c] + 1.0;   /* (x+1)^2 - x^2 */
            counts[c]++;
            end++;
        }
        size_t m = end - start;
        int varied = u->m_varies;
        units_add(u, m, sq);
        if (u->m_varies && !varied)
            *odd_id = r[start].item;
        for (size_t i = start; i < end; i++) {
            size_t c = (size_t)r[i].label;
            if (m >= 2)
                u->total[c] += 1.0;
            counts[c] = 0;
        }
        start = end;
    }
}

/* Index of the class holding every pairable rating, or -1 if two classes
 * occur: with one class, chance agreement is 1 and kappa/alpha are 0/0. */
static long single_class(const units *u, size_t n_classes)
{
    for (size_t c = 0; c < n_classes; c++)
        if (u->total[c] == u->n_values)
            return (long)c;
    return -1;
}

/* kappa = (Pbar - Pe) / (1 - Pe), Pe = sum_c (total_c / (N m))^2. */
static int fleiss_finish(double *kappa, const char *fn, const units *u,
                         size_t n_classes)
{
    double nm = u->n_values, pe = 0;
    for (size_t c = 0; c < n_classes; c++)
        pe += (u->total[c] / nm) * (u->total[c] / nm);
    long one = single_class(u, n_classes);
    if (one >= 0)
        return hitl__fail_in(HITL_ESTATE, fn,
                             "every rating is class %ld: chance agreement is 1 "
                             "and kappa is undefined", one);
    double pbar = u->sum_p / (double)u->n_pairable;
    *kappa = (pbar - pe) / (1.0 - pe);
    return HITL_OK;
}

int hitl_agreement_cohen_kappa(double *kappa, const int32_t *labels_a,
                               const int32_t *labels_b, size_t n,
                               size_t n_classes)
{
    int rc = hitl__check_classes(__func__, n_classes);
    if (rc)
        return rc;
    if (!kappa || !labels_a || !labels_b)
        return hitl__fail(HITL_EINVAL, "%s is NULL",
                          !kappa ? "kappa" : !labels_a ? "labels_a"
                                                       : "labels_b");
    if (n == 0)
        return hitl__fail(HITL_EINVAL, "n is 0: no items");
    if ((rc = hitl__check_rows(__func__, n, 1, 1, sizeof(int32_t))) ||
        (rc = hitl__check_labels(__func__, "labels_a", labels_a, n, n_classes)) ||
        (rc = hitl__check_labels(__func__, "labels_b", labels_b, n, n_classes)))
        return rc;
    double *marg = hitl__calloc(2 * n_classes, sizeof *marg);
    if (!marg)
        return hitl__fail(HITL_ENOMEM, "no memory for %zu classes", n_classes);
    double agree = 0;
    for (size_t i = 0; i < n; i++) {
        marg[labels_a[i]] += 1.0;
        marg[n_classes + (size_t)labels_b[i]] += 1.0;
        agree += labels_a[i] == labels_b[i];
    }
    /* kappa = (po - pe) / (1 - pe), scaled by n^2 to stay in counts. */
    double dn = (double)n, chance = 0;
    long one = -1;
    for (size_t c = 0; c < n_classes; c++) {
        chance += marg[c] * marg[n_classes + c];
        if (marg[c] == dn && marg[n_classes + c] == dn)
            one = (long)c;
    }
    hitl__free(marg);
    if (one >= 0)
        return hitl__fail(HITL_ESTATE,
                          "both annotators gave every item class %ld: chance "
                          "agreement is 1 and kappa is undefined", one);
    *kappa = (dn * agree - chance) / (dn * dn - chance);
    return HITL_OK;
}

/* Start an accumulator: u->total is n_classes zeros. */
static int units_init(units *u, const char *fn, size_t n_classes)
{
    *u = (units){ 0 };
    u->total = hitl__calloc(n_classes, sizeof *u->total);
    if (!u->total)
        return hitl__fail_in(HITL_ENOMEM, fn, "no memory for %zu classes",
                             n_classes);
    return HITL_OK;
}

/* Validate, sort and walk a set of triples.  On success the caller frees
 * u->total. */
static int units_of_ratings(units *u, uint64_t *odd_id, const char *fn,
                            const uint64_t *item, const uint64_t *rater,
                            const int32_t *label, size_t n, size_t n_classes)
{
    rating *r;
    int rc = ratings_sorted(&r, fn, item, rater, label, n, n_classes);
    if (rc)
        return rc;
    size_t *counts = hitl__calloc(n_classes, sizeof *counts);
    if (!counts)
        rc = hitl__fail_in(HITL_ENOMEM, fn, "no memory for %zu classes",
                           n_classes);
    else if ((rc = units_init(u, fn, n_classes)) == HITL_OK)
        units_scan(u, odd_id, r, n, counts);
    hitl__free(counts);
    hitl__free(r);
    return rc;
}

int hitl_agreement_fleiss_kappa(double *kappa, const uint64_t *item,
                                const uint64_t *rater, const int32_t *label,
                                size_t n, size_t n_classes)
{
    if (!kappa)
        return hitl__fail(HITL_EINVAL, "kappa is NULL");
    units u;
    uint64_t odd_id = 0;
    int rc = units_of_ratings(&u, &odd_id, __func__, item, rater, label, n,
                              n_classes);
    if (rc)
        return rc;
    if (u.m_varies)
        rc = hitl__fail(HITL_EINVAL,
                        "item %" PRIu64 " has %zu ratings but the item with "
                        "the smallest id has %zu: Fleiss' kappa needs the same "
                        "number of raters on every item (Krippendorff's alpha "
                        "does not)", odd_id, u.m_odd, u.m_first);
    else if (u.m_first < 2)
        rc = hitl__fail(HITL_EINVAL,
                        "every item has one rating: Fleiss' kappa needs at "
                        "least two raters per item");
    else
        rc = fleiss_finish(kappa, __func__, &u, n_classes);
    hitl__free(u.total);
    return rc;
}

int hitl_agreement_fleiss_kappa_counts(double *kappa, const uint32_t *counts,
                                       size_t n_items, size_t n_classes)
{
    int rc = hitl__check_classes(__func__, n_classes);
    if (rc)
        return rc;
    if (!kappa || !counts)
        return hitl__fail(HITL_EINVAL, "%s is NULL", !kappa ? "kappa" : "counts");
    if (n_items == 0)
        return hitl__fail(HITL_EINVAL, "n_items is 0: no items");
    size_t cells;
    if (hitl__mul_size(&cells, n_items, n_classes))
        return hitl__fail(HITL_EINVAL, "n_items * n_classes overflows");
    if ((rc = hitl__check_rows(__func__, n_items, n_classes, n_classes, sizeof *counts)))
        return rc;
    units u;
    if ((rc = units_init(&u, __func__, n_classes)))
        return rc;
    for (size_t i = 0; i < n_items && rc == HITL_OK; i++) {
        const uint32_t *row = counts + i * n_classes;
        size_t m = 0;
        double sq = 0;
        for (size_t c = 0; c < n_classes; c++) {
            m += row[c];
            sq += (double)row[c] * (double)row[c];
        }
        units_add(&u, m, sq);
        if (u.m_varies)
            rc = hitl__fail(HITL_EINVAL,
                            "counts row %zu sums to %zu but row 0 sums to %zu: "
                            "Fleiss' kappa needs the same number of raters on "
                            "every item", i, m, u.m_first);
        else if (m < 2)
            rc = hitl__fail(HITL_EINVAL,
                            "counts row %zu sums to %zu: Fleiss' kappa needs "
                            "at least two raters per item", i, m);
        else
            for (size_t c = 0; c < n_classes; c++)
                u.total[c] += row[c];
    }
    if (rc == HITL_OK)
        rc = fleiss_finish(kappa, __func__, &u, n_classes);
    hitl__free(u.total);
    return rc;
}

int hitl_agreement_krippendorff_alpha(double *alpha, const uint64_t *item,
                                      const uint64_t *rater,
                                      const int32_t *label, size_t n,
                                      size_t n_classes)
{
    if (!alpha)
        return hitl__fail(HITL_EINVAL, "alpha is NULL");
    units u;
    uint64_t odd_id;
    int rc = units_of_ratings(&u, &odd_id, __func__, item, rater, label, n,
                              n_classes);
    if (rc)
        return rc;
    long one = single_class(&u, n_classes);
    if (u.n_pairable == 0)
        rc = hitl__fail(HITL_ESTATE,
                        "no item has two or more ratings: alpha needs "
                        "pairable values");
    else if (one >= 0)
        rc = hitl__fail(HITL_ESTATE,
                        "every pairable rating is class %ld: expected "
                        "disagreement is 0 and alpha is undefined", one);
    else {
        /* alpha = 1 - (n - 1) sum_u m_u (1 - P_u) / sum_c n_c (n - n_c) */
        double nv = u.n_values, de = 0;
        for (size_t c = 0; c < n_classes; c++)
            de += u.total[c] * (nv - u.total[c]);
        *alpha = 1.0 - (nv - 1.0) * u.sum_dis / de;
    }
    hitl__free(u.total);
    return rc;
}

/* ---- accuracy against a reference ---------------------------------------- */

typedef struct keyed {
    uint64_t key;
    size_t pos;
} keyed;

static int keyed_cmp(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

/* keys sorted with their positions; a repeated key is an error. */
static int keyed_sorted(keyed **out, const char *fn, const char *name,
                        const uint64_t *key, size_t n)
{
    keyed *k = hitl__calloc(n, sizeof *k);
    if (!k)
        return hitl__fail_in(HITL_ENOMEM, fn, "no memory for %zu %s", n, name);
    for (size_t i = 0; i < n; i++)
        k[i] = (keyed){ key[i], i };
    qsort(k, n, sizeof *k, keyed_cmp);
    for (size_t i = 1; i < n; i++)
        if (k[i].key == k[i - 1].key) {
            int rc = hitl__fail_in(HITL_EINVAL, fn,
                                   "%s[%zu] and %s[%zu] are both %" PRIu64,
                                   name, k[i - 1].pos, name, k[i].pos,
                                   k[i].key);
            hitl__free(k);
            return rc;
        }
    *out = k;
    return HITL_OK;
}

/* Position of key in k (sorted, unique), or SIZE_MAX. */
static size_t keyed_find(const keyed *k, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && k[lo].key == key ? k[lo].pos : SIZE_MAX;
}

int hitl_agreement_accuracy(double *accuracy, size_t *n_scored,
                            const uint64_t *annotators, size_t n_annotators,
                            const uint64_t *item, const uint64_t *rater,
                            const int32_t *label, size_t n,
                            const uint64_t *ref_item, const int32_t *ref_label,
                            size_t n_ref, size_t n_classes)
{
    if (!accuracy || !annotators || !ref_item || !ref_label)
        return hitl__fail(HITL_EINVAL, "%s is NULL",
                          !accuracy ? "accuracy" : !annotators ? "annotators"
                          : !ref_item ? "ref_item" : "ref_label");
    if (n_annotators == 0 || n_ref == 0)
        return hitl__fail(HITL_EINVAL, "n_annotators is %zu and n_ref is %zu: "
                          "both must be > 0", n_annotators, n_ref);
    rating *r = NULL;
    keyed *who = NULL, *ref = NULL;
    size_t *tally = NULL;   /* per annotator: scored, then correct */
    int rc = ratings_sorted(&r, __func__, item, rater, label, n, n_classes);
    if (rc == HITL_OK)
        rc = hitl__check_rows(__func__, n_ref, 1, 1, sizeof(uint64_t));
    if (rc == HITL_OK)
        rc = hitl__check_rows(__func__, n_annotators, 1, 1, sizeof(uint64_t));
    if (rc == HITL_OK)
        rc = hitl__check_labels(__func__, "ref_label", ref_label, n_ref, n_classes);
    if (rc == HITL_OK)
        rc = keyed_sorted(&who, __func__, "annotators", annotators,
                          n_annotators);
    if (rc == HITL_OK)
        rc = keyed_sorted(&ref, __func__, "ref_item", ref_item, n_ref);
    if (rc == HITL_OK && !(tally = hitl__calloc(n_annotators, 2 * sizeof *tally)))
        rc = hitl__fail(HITL_ENOMEM, "no memory for %zu annotators",
                        n_annotators);
    if (rc == HITL_OK) {
        for (size_t i = 0; i < n; i++) {
            size_t a = keyed_find(who, n_annotators, r[i].rater);
            size_t g = keyed_find(ref, n_ref, r[i].item);
            if (a == SIZE_MAX || g == SIZE_MAX)
                continue;
            tally[2 * a]++;
            tally[2 * a + 1] += r[i].label == ref_label[g];
        }
        for (size_t a = 0; a < n_annotators; a++) {
            accuracy[a] = tally[2 * a] ? (double)tally[2 * a + 1] /
                                         (double)tally[2 * a] : NAN;
            if (n_scored)
                n_scored[a] = tally[2 * a];
        }
    }
    hitl__free(tally);
    hitl__free(ref);
    hitl__free(who);
    hitl__free(r);
    return rc;
}
