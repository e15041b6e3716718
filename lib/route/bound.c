/* The exact binomial bound behind every certified precision: the one-sided
 * Clopper-Pearson lower bound, the acceptance rule built on it, and how many
 * more correct items a set would need to pass it. */
#include "route/route.h"

#include <math.h>
#include <stdint.h>

/* Regularized incomplete beta I_x(a, b) by its continued fraction (modified
 * Lentz), using I_x(a,b) = 1 - I_{1-x}(b,a) where the fraction converges
 * slowly.  Converges in O(sqrt(max(a, b))) terms. */
static double betainc(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    if (x > (a + 1) / (a + b + 2))
        return 1 - betainc(b, a, 1 - x);
    double lfront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) +
                    b * log1p(-x);
    const double tiny = 1e-300, eps = 1e-15;
    double f = 1, c = 1, d = 1 - (a + b) * x / (a + 1);
    d = fabs(d) < tiny ? tiny : d;
    d = 1 / d;
    f = d;
    for (int m = 1; m <= 100000; m++) {
        for (int odd = 0; odd < 2; odd++) {
            double num = odd ? -(a + m) * (a + b + m) * x /
                                   ((a + 2 * m) * (a + 2 * m + 1))
                             : m * (b - m) * x /
                                   ((a + 2 * m - 1) * (a + 2 * m));
            d = 1 + num * d;
            d = fabs(d) < tiny ? tiny : d;
            c = 1 + num / c;
            c = fabs(c) < tiny ? tiny : c;
            d = 1 / d;
            f *= c * d;
            if (odd && fabs(c * d - 1) < eps)
                return exp(lfront) * f / a;
        }
    }
    return exp(lfront) * f / a;
}

/* P(X >= s) for X ~ Binomial(k, p). */
static double binom_sf(size_t s, size_t k, double p)
{
    if (s == 0)
        return 1;
    if (s > k)
        return 0;
    return betainc((double)s, (double)(k - s + 1), p);
}

int hitl__cp_meets(size_t s, size_t k, double target, double level)
{
    if (k == 0 || (double)s / (double)k < target)
        return 0;
    return level == 0 || binom_sf(s, k, target) <= 1 - level;
}

double hitl__cp_lower(size_t s, size_t k, double level)
{
    if (k == 0)
        return 1;   /* the vacuous precision, see HITL_ROUTER_INFO_PRECISION */
    double est = (double)s / (double)k;
    if (level == 0 || s == 0)
        return level == 0 ? est : 0;
    double lo = 0, hi = est;
    for (int it = 0; it < 200 && hi - lo > 1e-13; it++) {
        double mid = 0.5 * (lo + hi);
        if (binom_sf(s, k, mid) > 1 - level)
            hi = mid;
        else
            lo = mid;
    }
    return lo;
}

/* Adding a correct item raises the bound (more successes, same failures),
 * so meets(s + m, k + m) is monotone in m: the smallest m is found by
 * doubling from the point estimate's need, then bisection. */
double hitl__cp_needed(size_t s, size_t k, double target, double level)
{
    if (hitl__cp_meets(s, k, target, level))
        return 0;
    if (target >= 1)
        return (level > 0 || s < k) ? INFINITY : (k == 0 ? 1 : 0);
    double point = ceil(((double)k * target - (double)s) / (1 - target));
    size_t lo = point > 0 ? (size_t)point : 0, hi = lo > 0 ? lo : 1;
    if (lo > 0 && hitl__cp_meets(s + lo, k + lo, target, level))
        return (double)lo;
    while (!hitl__cp_meets(s + hi, k + hi, target, level)) {
        if (hi > SIZE_MAX / 4)
            return INFINITY;
        lo = hi;
        hi *= 2;
    }
    while (hi - lo > 1) {   /* meets at hi, not at lo (or lo untested = 0) */
        size_t mid = lo + (hi - lo) / 2;
        if (hitl__cp_meets(s + mid, k + mid, target, level))
            hi = mid;
        else
            lo = mid;
    }
    return (double)hi;
}
