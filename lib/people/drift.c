/* Annotator drift: has an annotator's agreement with the settled labels
 * dropped lately?  Guidelines drift and people tire; a review team wants to
 * know whose recent answers to re-check.
 *
 * An annotator's answers are their current labels (skips and replaced or
 * retracted answers left out) on items whose label is settled (RESOLVED or
 * GOLD), in the order they were given.  With W = HITL_PARAM_DRIFT_WINDOW,
 * the last W of them are compared with all the earlier ones by the
 * one-sided two-proportion z test with the pooled proportion:
 *
 *     z = (p_before - p_after) / sqrt(p (1 - p) (1/n_before + 1/W))
 *
 * (e.g. Fleiss, Levin & Paik, "Statistical Methods for Rates and
 * Proportions", 3rd ed., 2003, section 2.6), and the annotator is flagged
 * when z exceeds the normal quantile z_(1 - alpha), alpha =
 * HITL_PARAM_DRIFT_ALPHA: a stable annotator is flagged by one check with
 * probability about alpha.  Everything is derived from the event log and
 * the items' current aggregation, so it needs no state of its own and a
 * journal replay gives the same figures. */
#include "people/people.h"

#include <math.h>
#include <stdlib.h>

typedef struct answer {
    uint64_t event;
    int right;
} answer;

static int by_event(const void *pa, const void *pb)
{
    const answer *a = pa, *b = pb;
    return (a->event > b->event) - (a->event < b->event);
}

/* z with P(Z > z) = alpha for a standard normal Z (0 < alpha < 1/2), by
 * bisection on the upper tail 0.5 erfc(z / sqrt 2). */
double hitl__normal_upper(double alpha)
{
    double lo = 0, hi = 40;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(mid / sqrt(2.0)) > alpha)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* The annotator's answers on settled items into *out (event order). */
static int settled_answers(answer **out, size_t *n, const hitl_feedback *fb,
                           const hitl__fb_annot *an)
{
    *n = 0;
    *out = hitl__malloc((an->n_refs ? an->n_refs : 1) * sizeof **out);
    if (!*out)
        return HITL_ENOMEM;
    for (size_t r = 0; r < an->n_refs; r++) {
        const hitl__fb_item *it = &fb->items[an->refs[r].item];
        const hitl__fb_vote *v = &it->votes[an->refs[r].vote];
        int settled = it->status == HITL_CONSENSUS_RESOLVED ||
                      it->status == HITL_CONSENSUS_GOLD;
        if (v->label < 0 || !settled || it->label < 0)
            continue;
        (*out)[(*n)++] = (answer){ v->eff, v->label == it->label };
    }
    qsort(*out, *n, sizeof **out, by_event);
    return HITL_OK;
}

int hitl__fb_drift(hitl__drift *d, const hitl_feedback *fb, size_t a, const char *fn)
{
    *d = (hitl__drift){ NAN, NAN, NAN, NAN, NAN };
    answer *ans;
    size_t n, W = fb->par.drift_window;
    if (settled_answers(&ans, &n, fb, &fb->annots[a]) != HITL_OK)
        return hitl__fail_in(HITL_ENOMEM, fn, "out of memory for %zu answers",
                             fb->annots[a].n_refs);
    if (n >= 2 * W) {
        size_t nb = n - W, ok_b = 0, ok_a = 0;
        for (size_t i = 0; i < n; i++)
            *(i < nb ? &ok_b : &ok_a) += (size_t)ans[i].right;
        double pb = (double)ok_b / (double)nb, pa = (double)ok_a / (double)W;
        double p = (double)(ok_b + ok_a) / (double)n;
        double se = sqrt(p * (1 - p) * (1.0 / (double)nb + 1.0 / (double)W));
        d->before = pb;
        d->after = pa;
        d->z = se > 0 ? (pb - pa) / se : pb > pa ? INFINITY : 0;
        d->flag = d->z > hitl__normal_upper(fb->par.drift_alpha);
        d->at = (double)ans[nb].event;
    }
    hitl__free(ans);
    return HITL_OK;
}
