/*
 * The routing layer: what the model may decide alone and what goes to a
 * person.  route.c: the router (scores, calibrated thresholds, temperature
 * scaling, the capacity and budget modes); bound.c: the exact binomial
 * bound; costs.c: the cost matrix; detector.c: the learned error detector.
 * The top of the library; uses any layer below.
 */
#ifndef HITL_ROUTE_H
#define HITL_ROUTE_H

#include "people/people.h"

/* ---- bound.c: one-sided Clopper-Pearson ----------------------------------------- */

/* s correct among k accepted meet the target if k >= 1, s/k >= target and,
 * with level > 0, P(Bin(k, target) >= s) <= 1 - level. */
int hitl__cp_meets(size_t s, size_t k, double target, double level);
/* The lower bound L with P(Bin(k, L) >= s) = 1 - level (s/k at level 0; 1
 * for k = 0; 0 for s = 0 at level > 0), by bisection to 1e-13. */
double hitl__cp_lower(size_t s, size_t k, double level);
/* The fewest m >= 0 such that s + m of k + m meet the target: how many
 * more correct accepted items would certify it; +Inf when none would. */
double hitl__cp_needed(size_t s, size_t k, double target, double level);

/* ---- costs.c: C[true][predicted], row-major k x k; NULL = 0/1 ---------------------- */

/* HITL_OK, or HITL_EINVAL (shape, a negative entry) / HITL_ENUMERIC (NaN,
 * Inf) naming the entry. */
int hitl__costs_check(const char *fn, const double *costs, size_t rows,
                      size_t cols, size_t n_classes);
/* sum_y q_y C[y][pred]. */
double hitl__costs_expected(const double *costs, size_t k, const double *q,
                            size_t pred);
/* The class of least expected cost (the lowest on ties), its cost in
 * *expected. */
size_t hitl__costs_decide(double *expected, const double *costs, size_t k,
                          const double *q);

/* ---- detector.c: P(the model is wrong) from an item's features -------------------- */

typedef struct hitl__detector hitl__detector;
/* Fit on the n reviewed items index[0..n-1] of the pool (LABELED, their
 * model probabilities in proba, n x k); the LABELED items outside
 * [first, first+range) are the reference the novelty features measure
 * against; one_hot adds the predicted class's indicators; cons (n x k, or
 * NULL) is a committee's consensus for the items, whose doubt about the
 * predicted class becomes a feature.  Statuses carry messages naming fn. */
int hitl__detector_fit(hitl__detector **out, const char *fn, size_t k,
                       const hitl_pool *pool, const float *proba,
                       const size_t *index, size_t n, size_t first,
                       size_t range, size_t folds, size_t neighbours,
                       int one_hot, const float *cons);
/* Features of a detector for k classes, with or without the predicted
 * class's indicators (there are none beyond 64 classes) and a committee's
 * doubt. */
size_t hitl__detector_features(size_t k, int one_hot, int committee);
/* 1 if the detector was fitted with a committee's consensus. */
int hitl__detector_committee(const hitl__detector *d);
void hitl__detector_free(hitl__detector *d);
/* Items it was fitted on (and, in *n_wrong, the errors among them). */
size_t hitl__detector_items(const hitl__detector *d, size_t *n_wrong);
/* Doubles of scratch hitl__detector_score needs. */
size_t hitl__detector_scratch(const hitl__detector *d);
/* P(wrong) of an item with probabilities p, feature row x and (if the
 * detector has a committee) consensus row cons: the mean of
 * the fold models, or, for an item with the id of a reviewed item
 * (has_id), only the model of the fold that left it out. */
void hitl__detector_score(double *p_wrong, const hitl__detector *d,
                          const float *p, const float *x, const float *cons,
                          int has_id, uint64_t id, double *scratch);
/* The fold of the reviewed item with this id, or -1 (for tests). */
int hitl__detector_fold(const hitl__detector *d, uint64_t id);

#endif /* HITL_ROUTE_H */
