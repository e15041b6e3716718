/* What a class label is: an index into a set of 2 .. 65536 classes; and
 * a row of class probabilities.  The checks every call that takes class
 * counts, label arrays or probability rows shares. */
#include "data/data.h"

#include <inttypes.h>
#include <math.h>

#define MAX_CLASSES 65536

int hitl__check_classes(const char *fn, size_t n_classes)
{
    if (n_classes < 2 || n_classes > MAX_CLASSES)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "n_classes is %zu, not in [2, %d]", n_classes,
                             MAX_CLASSES);
    return HITL_OK;
}

int hitl__check_labels(const char *fn, const char *name, const int32_t *label,
                       size_t n, size_t n_classes)
{
    for (size_t i = 0; i < n; i++)
        if (label[i] < 0 || (size_t)label[i] >= n_classes)
            return hitl__fail_in(HITL_EINVAL, fn,
                                 "%s[%zu] is %" PRId32 ", not in [0, %zu)",
                                 name, i, label[i], n_classes);
    return HITL_OK;
}

/* A row of class probabilities: finite values >= 0 summing to 1 within
 * HITL__PROBA_SLACK (a float32 row of many classes rounds). */
int hitl__check_proba_row(const char *fn, const float *p, size_t k, size_t row)
{
    double sum = 0;
    for (size_t c = 0; c < k; c++) {
        if (!isfinite(p[c]) || p[c] < 0)
            return hitl__fail_in(isfinite(p[c]) ? HITL_EINVAL : HITL_ENUMERIC, fn,
                                 "proba[%zu][%zu] is %g, not a probability", row, c,
                                 (double)p[c]);
        sum += p[c];
    }
    if (fabs(sum - 1.0) > HITL__PROBA_SLACK)
        return hitl__fail_in(HITL_EINVAL, fn, "proba row %zu sums to %.6g, not 1", row, sum);
    return HITL_OK;
}

int hitl__check_proba(const char *fn, const float *proba, size_t n, size_t k)
{
    for (size_t i = 0; i < n; i++) {
        int st = hitl__check_proba_row(fn, proba + i * k, k, i);
        if (st != HITL_OK)
            return st;
    }
    return HITL_OK;
}
