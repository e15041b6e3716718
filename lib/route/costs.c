/* The cost matrix C[true][predicted]: its checks, the expected cost of
 * accepting a prediction, and the prediction that minimises it. */
#include "route/route.h"

#include <math.h>

int hitl__costs_check(const char *fn, const double *costs, size_t rows,
                      size_t cols, size_t n_classes)
{
    if (rows != n_classes || cols != n_classes)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "cost matrix is %zu x %zu, the router has %zu "
                             "classes (needs %zu x %zu)", rows, cols,
                             n_classes, n_classes, n_classes);
    for (size_t y = 0; y < n_classes; y++)
        for (size_t c = 0; c < n_classes; c++) {
            double v = costs[y * n_classes + c];
            if (isnan(v) || isinf(v))
                return hitl__fail_in(HITL_ENUMERIC, fn,
                                     "costs[%zu][%zu] is %g, not finite", y, c, v);
            if (v < 0)
                return hitl__fail_in(HITL_EINVAL, fn,
                                     "costs[%zu][%zu] is %g, a negative cost",
                                     y, c, v);
        }
    return HITL_OK;
}

/* sum_y q_y C[y][pred]; C NULL is the 0/1 matrix, whose expected cost is
 * the probability of every other class (summed, not 1 - q_pred, so that a
 * certain prediction costs exactly 0). */
double hitl__costs_expected(const double *costs, size_t k, const double *q,
                            size_t pred)
{
    double e = 0;
    for (size_t y = 0; y < k; y++)
        e += q[y] * (costs ? costs[y * k + pred] : (double)(y != pred));
    return e;
}

size_t hitl__costs_decide(double *expected, const double *costs, size_t k,
                          const double *q)
{
    size_t best = 0;
    double low = hitl__costs_expected(costs, k, q, 0);
    for (size_t c = 1; c < k; c++) {
        double e = hitl__costs_expected(costs, k, q, c);
        if (e < low) {
            low = e;
            best = c;
        }
    }
    *expected = low;
    return best;
}
