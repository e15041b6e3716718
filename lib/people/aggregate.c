/* Aggregation: from the annotators' current answers on an item to one label,
 * its posterior confidence, its consensus status and what the pool gets.
 * Majority and weighted votes look at one item; Dawid-Skene needs a fit over
 * every item (hitl__fb_ds_fit), whose estimates the per-item step then uses.
 * The rules are stated in include/hitl.h ("Feedback"). */
#include "people/people.h"

#include <math.h>
#include <string.h>

#define NO_EVENT UINT64_MAX
/* Thresholds compare with this slack, so that an agreement of 2/3 passes a
 * level the caller wrote as 0.6666666666666666. */
#define SLACK 1e-12
/* Dirichlet pseudo-counts of the Dawid-Skene MAP estimates: 1 per class for
 * the prior, 0.01 per cell for the confusion matrices (enough to keep every
 * log finite, too little to pull an estimate from a handful of answers).
 * HITL_PARAM_DS_PRIOR's strength s adds s answers to every row of an
 * annotator's matrix, spread as their one-coin matrix (see hitl.h). */
#define PRIOR_PSEUDO 1.0
#define THETA_PSEUDO 0.01

size_t hitl__fb_classes(const hitl_feedback *fb)
{
    size_t declared = 0;
    hitl_pool_classes(&declared, fb->pool);
    if (fb->par.n_classes)
        return fb->par.n_classes;
    if (declared && (int64_t)declared > fb->max_label)  /* never below a label */
        return declared;
    return fb->max_label >= 1 ? (size_t)fb->max_label + 1 : 2;
}

/* Weighted vote: the annotator's Laplace-smoothed accuracy on gold. */
static double gold_weight(const hitl__fb_annot *an)
{
    return ((double)an->gold_ok + 1.0) / ((double)an->gold_n + 2.0);
}

/* The earliest current answer on the item giving `label`, or NO_EVENT. */
static uint64_t earliest(const hitl__fb_item *it, int32_t label)
{
    uint64_t first = NO_EVENT;
    for (size_t v = 0; v < it->n_votes; v++)
        if (it->votes[v].label == label && it->votes[v].eff < first)
            first = it->votes[v].eff;
    return first;
}

/* Does the answer count under the estimates: a label from an annotator
 * they do not leave out. */
static int counted(const hitl__fb_ds *ds, const hitl__fb_vote *vo)
{
    return vo->label >= 0 && !(ds->ignore && vo->annot < ds->A && ds->ignore[vo->annot]);
}

/* Majority (weighted = 0) or weighted vote over the item's labels. */
static void vote(hitl_feedback *fb, const hitl__fb_item *it, int weighted,
                 int32_t *label, double *confidence)
{
    hitl__fb_tally *t = fb->tally;
    size_t n = 0;
    double total = 0;
    /* the answers of annotators RECOMMENDED leaves out count only on an
       item that has no other */
    int all = 1;
    for (size_t v = 0; all && v < it->n_votes; v++)
        all = !counted(&fb->ds, &it->votes[v]);
    for (size_t v = 0; v < it->n_votes; v++) {
        const hitl__fb_vote *vo = &it->votes[v];
        if (all ? vo->label < 0 : !counted(&fb->ds, vo))
            continue;
        double w = weighted ? gold_weight(&fb->annots[vo->annot]) : 1.0;
        size_t j = 0;
        while (j < n && t[j].label != vo->label)
            j++;
        if (j == n)
            t[n++] = (hitl__fb_tally){vo->label, 0, 0, vo->eff};
        t[j].votes++;
        t[j].score += w;
        if (vo->eff < t[j].first)
            t[j].first = vo->eff;
        total += w;
    }
    size_t best = 0;
    for (size_t j = 1; j < n; j++)
        if (t[j].score > t[best].score ||
            (t[j].score == t[best].score && t[j].first < t[best].first))
            best = j;
    *label = t[best].label;
    *confidence = t[best].score / total;
}

static double log_sum_exp(const double *s, size_t K)
{
    double m = s[0];
    for (size_t k = 1; k < K; k++)
        if (s[k] > m)
            m = s[k];
    double sum = 0;
    for (size_t k = 0; k < K; k++)
        sum += exp(s[k] - m);
    return m + log(sum);
}

/* s[k] = log P(z = k, the item's labels) under the estimates; returns the
 * log of their sum, log P(labels).  Annotators beyond the fit count as the
 * average fitted annotator. */
static double ds_scores(const hitl__fb_ds *ds, const hitl__fb_item *it,
                        double *s)
{
    size_t K = ds->K;
    memcpy(s, ds->logprior, K * sizeof *s);
    for (size_t v = 0; v < it->n_votes; v++) {
        const hitl__fb_vote *vo = &it->votes[v];
        if (!counted(ds, vo))
            continue;
        const double *lt = vo->annot < ds->A ? ds->logtheta + vo->annot * K * K
                                             : ds->logmean;
        for (size_t k = 0; k < K; k++)
            s[k] += lt[k * K + (size_t)vo->label];
    }
    return log_sum_exp(s, K);
}

/* argmax of s with the tie rule; tied scores are rare, so the earliest
 * answers are only looked up for them. */
static int32_t ds_pick(const hitl__fb_item *it, const double *s, size_t K)
{
    size_t best = 0;
    for (size_t k = 1; k < K; k++)
        if (s[k] > s[best] ||
            (s[k] == s[best] &&
             earliest(it, (int32_t)k) < earliest(it, (int32_t)best)))
            best = k;
    return (int32_t)best;
}

/* Aggregate one item with the current estimates and decide its status. */
static void aggregate(hitl_feedback *fb, hitl__fb_item *it)
{
    size_t n = 0;
    int ds_fits = fb->ds.K > 0;     /* a fit exists only under a model method */
    for (size_t v = 0; v < it->n_votes; v++)
        if (it->votes[v].label >= 0) {
            n++;
            if ((size_t)it->votes[v].label >= fb->ds.K)
                ds_fits = 0;
        }
    uint64_t by;
    int32_t label = hitl__fb_fixed_class(fb, it, &by);
    double conf = 1;
    int how = it->gold >= 0 ? HITL_SETTLED_GOLD : HITL_SETTLED_AUTHORITY;
    if (label < 0 && n > 0 && ds_fits) {
        double lse = ds_scores(&fb->ds, it, fb->post);
        label = ds_pick(it, fb->post, fb->ds.K);
        conf = exp(fb->post[label] - lse);
        how = HITL_SETTLED_MODEL;
    } else if (label < 0 && n > 0) {
        vote(fb, it, fb->par.method == HITL_AGGREGATE_WEIGHTED, &label, &conf);
        how = HITL_SETTLED_VOTE;
    } else if (label < 0) {
        conf = NAN;
    }
    size_t agree = 0;
    for (size_t v = 0; v < it->n_votes; v++)
        agree += it->votes[v].label == label && label >= 0;
    it->n_labels = (uint32_t)n;
    it->label = label;
    it->confidence = conf;
    it->agreement = n ? (double)agree / (double)n : NAN;
    if (it->gold >= 0)
        it->status = HITL_CONSENSUS_GOLD;
    else if (n == 0)
        it->status = HITL_CONSENSUS_NONE;
    else if (how == HITL_SETTLED_AUTHORITY ||
             (n >= fb->par.min_annotators &&
              it->agreement + SLACK >= fb->par.min_agreement &&
              it->confidence + SLACK >= fb->par.min_confidence))
        it->status = HITL_CONSENSUS_RESOLVED;
    else
        it->status = HITL_CONSENSUS_PENDING;
    int settled = it->status == HITL_CONSENSUS_GOLD || it->status == HITL_CONSENSUS_RESOLVED;
    it->how = (uint8_t)(settled ? how : HITL_SETTLED_NONE);
    it->settled_by = settled ? by : NO_EVENT;
}

/* ---- annotator counters ------------------------------------------------------ */

/* Take an item's answers out of (add = 0) or put them into (add = 1) one
 * pair of annotator counters: on a gold item, against the gold label; on a
 * non-gold item with >= 2 labels, against the aggregated label. */
static void count(hitl_feedback *fb, const hitl__fb_item *it, int gold,
                  int add)
{
    if (gold ? it->gold < 0 : it->gold >= 0 || it->n_labels < 2)
        return;
    int32_t ref = gold ? it->gold : it->label;
    for (size_t v = 0; v < it->n_votes; v++) {
        const hitl__fb_vote *vo = &it->votes[v];
        if (vo->label < 0)
            continue;
        hitl__fb_annot *an = &fb->annots[vo->annot];
        size_t *n = gold ? &an->gold_n : &an->cons_n,
               *ok = gold ? &an->gold_ok : &an->cons_ok;
        size_t right = vo->label == ref;
        if (add) {
            *n += 1;
            *ok += right;
        } else {
            *n -= 1;
            *ok -= right;
        }
    }
}

/* ---- the pool ------------------------------------------------------------------ */

static int any_skip(const hitl__fb_item *it)
{
    for (size_t v = 0; v < it->n_votes; v++)
        if (it->votes[v].label == -1)
            return 1;
    return 0;
}

/* Write the item's status to the pool.  These calls cannot fail: the index
 * is in range, the label >= 0 and the weight in (0, 1] (the winning share or
 * posterior is at least 1/K, K <= 65536). */
static void sync_pool(hitl_feedback *fb, const hitl__fb_item *it)
{
    float weight = 1.0f;
    switch (it->status) {
    case HITL_CONSENSUS_RESOLVED:
        if (fb->par.confidence_weights)
            weight = (float)it->confidence;
        /* fall through */
    case HITL_CONSENSUS_GOLD:
        hitl_pool_set_label(fb->pool, it->index, it->label);
        break;
    case HITL_CONSENSUS_PENDING:
        hitl_pool_set_state(fb->pool, it->index, HITL_ITEM_UNLABELED);
        break;
    default:
        hitl_pool_set_state(fb->pool, it->index,
                            any_skip(it) ? HITL_ITEM_SKIPPED
                                         : HITL_ITEM_UNLABELED);
    }
    hitl_pool_set_weight(fb->pool, it->index, weight);
}

void hitl__fb_item_begin(hitl_feedback *fb, const hitl__fb_item *it)
{
    count(fb, it, 1, 0);
    count(fb, it, 0, 0);
}

void hitl__fb_item_end(hitl_feedback *fb, hitl__fb_item *it)
{
    count(fb, it, 1, 1);
    aggregate(fb, it);
    count(fb, it, 0, 1);
    sync_pool(fb, it);
}

void hitl__fb_refresh(hitl_feedback *fb)
{
    for (size_t a = 0; a < fb->n_annots; a++) {
        hitl__fb_annot *an = &fb->annots[a];
        an->gold_n = an->gold_ok = an->cons_n = an->cons_ok = 0;
    }
    /* every weight must be final before any item is voted on */
    for (size_t i = 0; i < fb->n_items; i++)
        count(fb, &fb->items[i], 1, 1);
    for (size_t i = 0; i < fb->n_items; i++) {
        hitl__fb_item *it = &fb->items[i];
        aggregate(fb, it);
        count(fb, it, 0, 1);
        sync_pool(fb, it);
    }
}

int hitl__fb_reserve_post(hitl_feedback *fb, size_t K)
{
    return hitl__grow((void **)&fb->post, &fb->cap_post, K, sizeof *fb->post);
}

/* ---- Dawid-Skene by EM ------------------------------------------------------------ */

void hitl__fb_ds_free(hitl__fb_ds *ds)
{
    hitl__free(ds->logtheta);
    hitl__free(ds->logprior);
    hitl__free(ds->logmean);
    hitl__free(ds->accuracy);
    hitl__free(ds->ignore);
    memset(ds, 0, sizeof *ds);
}

void hitl__fb_ds_install(hitl_feedback *fb, hitl__fb_ds *ds)
{
    hitl__fb_ds_free(&fb->ds);
    fb->ds = *ds;
    memset(ds, 0, sizeof *ds);
}

static size_t labels_of(const hitl__fb_item *it)
{
    size_t n = 0;
    for (size_t v = 0; v < it->n_votes; v++)
        n += it->votes[v].label >= 0;
    return n;
}

/* Full matrix: each row of expected counts m becomes its MAP estimate, in
 * logs; returns the prior's log density there.  (A row's pseudo-counts sum
 * to 0.01 K + s; written so, s = 0 gives the estimates bit for bit as they
 * were before the prior had a strength.) */
static double full_rows(double *m, size_t K, double diag, double off, double s)
{
    double logp = 0;
    for (size_t k = 0; k < K; k++) {
        double *row = m + k * K, sum = 0;
        for (size_t l = 0; l < K; l++)
            sum += row[l];
        for (size_t l = 0; l < K; l++) {
            double c = l == k ? diag : off;
            row[l] = log((c + row[l]) / (THETA_PSEUDO * (double)K + s + sum));
            logp += c * row[l];
        }
    }
    return logp;
}

/* The one-coin MAP accuracy from a matrix of expected counts m under row
 * pseudo-counts diag and off: the counts of every row pooled,
 * p = (K diag + right) / (K diag + K (K - 1) off + answers). */
static double coin_accuracy(const double *m, size_t K, double diag, double off)
{
    double right = (double)K * diag, wrong = (double)K * (double)(K - 1) * off;
    for (size_t c = 0; c < K * K; c++)
        if (c % (K + 1) == 0)
            right += m[c];
        else
            wrong += m[c];
    return right / (right + wrong);
}

/* One coin: the annotator's matrix is p on the diagonal and (1 - p) / (K - 1)
 * elsewhere, p the MAP accuracy above; in logs into m. */
static double coin_rows(double *m, size_t K, double diag, double off)
{
    double p = coin_accuracy(m, K, diag, off);
    double lr = log(p), lw = log((1 - p) / (double)(K - 1));
    for (size_t c = 0; c < K * K; c++)
        m[c] = c % (K + 1) == 0 ? lr : lw;
    return (double)K * (diag * lr + (double)(K - 1) * off * lw);
}

/* The expected counts under the posteriors T (one row of K per fitted
 * item): cnt[a][k][l] of annotator a answering l on class k (A K^2), and
 * classes[k] of each class (K). */
static void expected_counts(double *cnt, double *classes, const hitl__fb_ds *ds,
                            const hitl_feedback *fb, const size_t *items, size_t n_items,
                            const double *T)
{
    size_t K = ds->K;
    memset(cnt, 0, ds->A * K * K * sizeof *cnt);
    memset(classes, 0, K * sizeof *classes);
    for (size_t i = 0; i < n_items; i++) {
        const hitl__fb_item *it = &fb->items[items[i]];
        const double *t = T + i * K;
        for (size_t k = 0; k < K; k++)
            classes[k] += t[k];
        for (size_t v = 0; v < it->n_votes; v++) {
            const hitl__fb_vote *vo = &it->votes[v];
            if (!counted(ds, vo))
                continue;
            double *c = cnt + vo->annot * K * K + (size_t)vo->label;
            for (size_t k = 0; k < K; k++)
                c[k * K] += t[k];
        }
    }
}

/* The shared coin (the model behind a vote): every annotator's matrix is
 * the one-coin matrix of their pooled counts. */
static double shared_rows(double *cnt, size_t A, size_t K)
{
    double *pooled = cnt;               /* annotator 0's cells collect all */
    for (size_t a = 1; a < A; a++)
        for (size_t c = 0; c < K * K; c++)
            pooled[c] += cnt[a * K * K + c];
    double logp = coin_rows(pooled, K, (double)A * THETA_PSEUDO, (double)A * THETA_PSEUDO);
    for (size_t a = 1; a < A; a++)
        memcpy(cnt + a * K * K, pooled, K * K * sizeof *cnt);
    return logp;
}

/* M-step: MAP estimates of the prior and the confusion matrices from the
 * posteriors T; returns the log of the Dirichlet prior density at them (up
 * to a constant). */
static double m_step(hitl__fb_ds *ds, const hitl_feedback *fb,
                     const size_t *items, size_t n_items, const double *T)
{
    size_t K = ds->K, A = ds->A;
    double *cnt = ds->logtheta;          /* expected counts, then logs */
    expected_counts(cnt, ds->logprior, ds, fb, items, n_items, T);
    double logp = 0;
    for (size_t k = 0; k < K; k++) {
        ds->logprior[k] = log((PRIOR_PSEUDO + ds->logprior[k]) /
                              (PRIOR_PSEUDO * (double)K + (double)n_items));
        logp += PRIOR_PSEUDO * ds->logprior[k];
    }
    if (ds->kind == HITL_AGGREGATE_MAJORITY)
        return A ? logp + shared_rows(cnt, A, K) : logp;
    for (size_t a = 0; a < A; a++) {
        double *m = cnt + a * K * K;
        if (ds->kind == HITL_AGGREGATE_ONE_COIN) {
            logp += coin_rows(m, K, THETA_PSEUDO, THETA_PSEUDO);
            continue;
        }
        /* the prior's centre: this annotator's one-coin matrix */
        double p = coin_accuracy(m, K, THETA_PSEUDO, THETA_PSEUDO);
        logp += full_rows(m, K, THETA_PSEUDO + ds->strength * p,
                          THETA_PSEUDO + ds->strength * (1 - p) / (double)(K - 1),
                          ds->strength);
    }
    return logp;
}

/* E-step: posteriors into T (items of a known class, gold or settled by
 * authority, stay fixed); returns the log-likelihood of the answers (for
 * those items, jointly with the class). */
static double e_step(const hitl__fb_ds *ds, const hitl_feedback *fb,
                     const size_t *items, size_t n_items, double *T,
                     double *s)
{
    size_t K = ds->K;
    double ll = 0;
    for (size_t i = 0; i < n_items; i++) {
        const hitl__fb_item *it = &fb->items[items[i]];
        double lse = ds_scores(ds, it, s), *t = T + i * K;
        uint64_t by;
        int32_t fixed = hitl__fb_fixed_class(fb, it, &by);
        if (fixed >= 0) {
            ll += s[fixed];
            continue;
        }
        ll += lse;
        for (size_t k = 0; k < K; k++)
            t[k] = exp(s[k] - lse);
    }
    return ll;
}

static size_t counted_labels(const hitl__fb_ds *ds, const hitl__fb_item *it)
{
    size_t n = 0;
    for (size_t v = 0; v < it->n_votes; v++)
        n += counted(ds, &it->votes[v]);
    return n;
}

/* Start: each item's vote shares (of the answers that count, if any); an
 * item of a known class is that class. */
static void init_posteriors(const hitl__fb_ds *ds, const hitl_feedback *fb,
                            const size_t *items, size_t n_items, double *T)
{
    size_t K = ds->K;
    memset(T, 0, n_items * K * sizeof *T);
    for (size_t i = 0; i < n_items; i++) {
        const hitl__fb_item *it = &fb->items[items[i]];
        double *t = T + i * K;
        uint64_t by;
        int32_t fixed = hitl__fb_fixed_class(fb, it, &by);
        if (fixed >= 0) {
            t[fixed] = 1;
            continue;
        }
        size_t n = counted_labels(ds, it);
        double w = 1.0 / (double)(n ? n : labels_of(it));
        for (size_t v = 0; v < it->n_votes; v++)
            if (n ? counted(ds, &it->votes[v]) : it->votes[v].label >= 0)
                t[it->votes[v].label] += w;
    }
}

/* After the fit: the average annotator (for newcomers) and each annotator's
 * expected accuracy, the mean posterior of the labels they gave. */
static void summarise(hitl__fb_ds *ds, const hitl_feedback *fb,
                      const size_t *items, size_t n_items, const double *T)
{
    size_t K = ds->K, A = ds->A;
    for (size_t c = 0; c < K * K; c++) {
        double sum = 0;
        for (size_t a = 0; a < A; a++)
            sum += exp(ds->logtheta[a * K * K + c]);
        ds->logmean[c] = A ? log(sum / (double)A) : -log((double)K);
    }
    memset(ds->accuracy, 0, A * sizeof *ds->accuracy);
    for (size_t i = 0; i < n_items; i++) {
        const hitl__fb_item *it = &fb->items[items[i]];
        for (size_t v = 0; v < it->n_votes; v++)
            if (it->votes[v].label >= 0)
                ds->accuracy[it->votes[v].annot] +=
                    T[i * K + (size_t)it->votes[v].label];
    }
    for (size_t a = 0; a < A; a++) {
        size_t labels = fb->annots[a].n_labels;
        ds->accuracy[a] = labels ? ds->accuracy[a] / (double)labels : NAN;
    }
}

/* Sizes of the fit's arrays, with overflow checks. */
static int ds_alloc(hitl__fb_ds *ds, size_t K, size_t A)
{
    size_t kk, akk;
    if (hitl__mul_size(&kk, K, K) || hitl__mul_size(&akk, A, kk) ||
        akk > SIZE_MAX / sizeof(double))
        return -1;
    ds->K = K;
    ds->A = A;
    ds->logtheta = hitl__malloc((akk ? akk : 1) * sizeof(double));
    ds->logprior = hitl__malloc(K * sizeof(double));
    ds->logmean = hitl__malloc(kk * sizeof(double));
    ds->accuracy = hitl__malloc((A ? A : 1) * sizeof(double));
    return ds->logtheta && ds->logprior && ds->logmean && ds->accuracy ? 0
                                                                        : -1;
}

/* EM over the given items into *out (fresh memory); 0 or -1 (out of
 * memory).  The stopping rule is stated in hitl.h (hitl_feedback_aggregate). */
static int fit_items(hitl__fb_ds *out, const hitl_feedback *fb, const size_t *items,
                     size_t n_items, size_t K, int kind, double strength,
                     const unsigned char *ignore)
{
    hitl__fb_ds ds = {0};
    size_t tk;
    double *T = hitl__mul_size(&tk, n_items ? n_items : 1, K) ||
                        tk > SIZE_MAX / sizeof(double)
                    ? NULL
                    : hitl__malloc(tk * sizeof *T);
    double *s = hitl__malloc(K * sizeof *s);
    if (!T || !s || ds_alloc(&ds, K, fb->n_annots) != 0 ||
        (ignore && !(ds.ignore = hitl__malloc(ds.A ? ds.A : 1)))) {
        hitl__free(T);
        hitl__free(s);
        hitl__fb_ds_free(&ds);
        return -1;
    }
    ds.kind = kind;
    ds.strength = strength;
    if (ignore)
        memcpy(ds.ignore, ignore, ds.A);
    init_posteriors(&ds, fb, items, n_items, T);
    double prev = 0;
    for (size_t iter = 1; iter <= fb->par.em_max_iter; iter++) {
        double logp = m_step(&ds, fb, items, n_items, T);
        ds.objective = e_step(&ds, fb, items, n_items, T, s) + logp;
        ds.iterations = iter;
        if (iter > 1 && fabs(ds.objective - prev) <=
                            fb->par.em_tol * fmax(1.0, fabs(ds.objective))) {
            ds.converged = 1;
            break;
        }
        prev = ds.objective;
    }
    summarise(&ds, fb, items, n_items, T);
    hitl__free(T);
    hitl__free(s);
    *out = ds;
    return 0;
}

/* The items a fit covers (those with labels), into fresh memory. */
static size_t *fitted_items(size_t *n, const hitl_feedback *fb)
{
    size_t count = 0;
    for (size_t i = 0; i < fb->n_items; i++)
        count += labels_of(&fb->items[i]) > 0;
    size_t *items = hitl__malloc((count ? count : 1) * sizeof *items);
    *n = 0;
    for (size_t i = 0; items && i < fb->n_items; i++)
        if (labels_of(&fb->items[i]) > 0)
            items[(*n)++] = i;
    return items;
}

/* K for a fit: HITL_ESTATE when inferred above HITL__DS_INFERRED_MAX. */
static int fit_classes(size_t *K, const hitl_feedback *fb, const char *fn)
{
    *K = hitl__fb_classes(fb);
    /* memory O(annotators K^2): a stray large label must not make K huge
     * unless the caller said so */
    if (!fb->par.n_classes && *K > HITL__DS_INFERRED_MAX)
        return hitl__fail_in(HITL_ESTATE, fn,
                             "Dawid-Skene would infer %zu classes from label %d; set "
                             "HITL_PARAM_N_CLASSES (at most %d classes are inferred)",
                             *K, (int)fb->max_label, HITL__DS_INFERRED_MAX);
    return HITL_OK;
}

int hitl__fb_ds_fit(hitl__fb_ds *out, const hitl_feedback *fb, int kind, double strength,
                    const char *fn)
{
    size_t K, n_items;
    int rc = fit_classes(&K, fb, fn);
    if (rc != HITL_OK)
        return rc;
    size_t *items = fitted_items(&n_items, fb);
    if (!items || fit_items(out, fb, items, n_items, K, kind, strength, NULL) != 0)
        rc = hitl__fail_in(HITL_ENOMEM, fn, "out of memory fitting Dawid-Skene");
    hitl__free(items);
    return rc;
}

/* ---- held-out answers ---------------------------------------------------------- */

/* Sum over the answers on the given items (those with >= 2 labels and no
 * known class) of log P(the answer | the item's other answers) under a fit
 * that did not see these items. */
static double held_out(const hitl__fb_ds *ds, const hitl_feedback *fb, const size_t *items,
                       size_t n_items, double *s)
{
    size_t K = ds->K;
    double total = 0;
    for (size_t i = 0; i < n_items; i++) {
        const hitl__fb_item *it = &fb->items[items[i]];
        uint64_t by;
        if (counted_labels(ds, it) < 2 || hitl__fb_fixed_class(fb, it, &by) >= 0)
            continue;
        ds_scores(ds, it, s);
        for (size_t v = 0; v < it->n_votes; v++) {
            const hitl__fb_vote *vo = &it->votes[v];
            if (!counted(ds, vo))
                continue;
            const double *lt = ds->logtheta + vo->annot * K * K + (size_t)vo->label;
            double m = -INFINITY, z = 0, pred = 0;
            for (size_t k = 0; k < K; k++)
                m = fmax(m, s[k] - lt[k * K]);
            for (size_t k = 0; k < K; k++) {
                double w = exp(s[k] - lt[k * K] - m);
                z += w;
                pred += w * exp(lt[k * K]);
            }
            total += log(pred / z);
        }
    }
    return total;
}

/* Two-fold cross-validation of a model: fit on the items of one parity of
 * their place, score the answers of the others (held_out), and the other
 * way round; *score = the sum, the log probability of every held-out
 * answer.  0 or -1 (out of memory). */
static int cross_validate(double *score, const hitl_feedback *fb, const size_t *items,
                          size_t n_items, size_t K, int kind, double strength,
                          const unsigned char *ignore)
{
    size_t *fold = hitl__malloc((n_items ? n_items : 1) * sizeof *fold);
    double *s = hitl__malloc(K * sizeof *s), total = 0;
    int rc = fold && s ? 0 : -1;
    for (size_t f = 0; rc == 0 && f < 2; f++) {
        size_t n_fit = 0, n_test;
        for (size_t i = f; i < n_items; i += 2)
            fold[n_fit++] = items[i];
        n_test = n_fit;
        for (size_t i = 1 - f; i < n_items; i += 2)
            fold[n_test++] = items[i];
        hitl__fb_ds ds = {0};
        if ((rc = fit_items(&ds, fb, fold, n_fit, K, kind, strength, ignore)) == 0)
            total += held_out(&ds, fb, fold + n_fit, n_test - n_fit, s);
        hitl__fb_ds_free(&ds);
    }
    hitl__free(fold);
    hitl__free(s);
    *score = total;
    return rc;
}

/* ---- the recommended aggregation ------------------------------------------------ */

/* The mean count of current labels of the annotators who gave any. */
static double answers_per_annotator(const hitl_feedback *fb)
{
    size_t labels = 0, annots = 0;
    for (size_t a = 0; a < fb->n_annots; a++) {
        labels += fb->annots[a].n_labels;
        annots += fb->annots[a].n_labels > 0;
    }
    return annots ? (double)labels / (double)annots : 0;
}

/* Enough evidence for a model of the annotators at all: items answered by
 * several of them, and some answers from each (the rule is stated in hitl.h,
 * "Aggregation"). */
static int evidence_for_model(const hitl_feedback *fb)
{
    size_t items = 0, labels = 0;
    for (size_t i = 0; i < fb->n_items; i++) {
        size_t n = labels_of(&fb->items[i]);
        items += n > 0;
        labels += n;
    }
    return items && (double)labels >= HITL__REC_PER_ITEM * (double)items &&
           answers_per_annotator(fb) >= HITL__REC_PER_ANNOT;
}

/* The label most of an item's answers give (those that count under ds, and
 * not annotator slot `skip`'s), when at least two give it and no other label
 * has as many; else -1. */
static int32_t strict_majority(hitl_feedback *fb, const hitl__fb_ds *ds,
                               const hitl__fb_item *it, size_t skip)
{
    hitl__fb_tally *t = fb->tally;
    size_t n = 0, top = 0, second = 0;
    int32_t label = -1;
    for (size_t v = 0; v < it->n_votes; v++) {
        if (!counted(ds, &it->votes[v]) || it->votes[v].annot == skip)
            continue;
        size_t j = 0;
        while (j < n && t[j].label != it->votes[v].label)
            j++;
        if (j == n)
            t[n++] = (hitl__fb_tally){it->votes[v].label, 0, 0, 0};
        t[j].votes++;
    }
    for (size_t j = 0; j < n; j++)
        if (t[j].votes > top) {
            second = top;
            top = t[j].votes;
            label = t[j].label;
        } else if (t[j].votes > second) {
            second = t[j].votes;
        }
    return top >= 2 && top > second ? label : -1;
}

/* The share of the items with a strict majority (and no known class) whose
 * label under the fit differs from it.  A model that overrules many clear
 * majorities has most likely locked onto a degenerate solution (a spammer
 * who always gives one class taken for an expert of it). */
static double overruled(hitl_feedback *fb, const hitl__fb_ds *ds)
{
    size_t clear = 0, over = 0;
    for (size_t i = 0; i < fb->n_items; i++) {
        const hitl__fb_item *it = &fb->items[i];
        uint64_t by;
        int32_t maj = strict_majority(fb, ds, it, SIZE_MAX);
        if (maj < 0 || hitl__fb_fixed_class(fb, it, &by) >= 0)
            continue;
        ds_scores(ds, it, fb->post);
        clear++;
        over += ds_pick(it, fb->post, ds->K) != maj;
    }
    return clear ? (double)over / (double)clear : 0;
}

/* The class annotator slot a gives most often, and how often (hist: K
 * zeros, left so). */
static int32_t usual_class(size_t *times, size_t *hist, const hitl_feedback *fb, size_t a)
{
    const hitl__fb_annot *an = &fb->annots[a];
    int32_t mode = -1;
    *times = 0;
    for (size_t r = 0; r < an->n_refs; r++) {
        int32_t l = fb->items[an->refs[r].item].votes[an->refs[r].vote].label;
        if (l >= 0 && ++hist[l] > *times) {
            *times = hist[l];
            mode = l;
        }
    }
    for (size_t r = 0; r < an->n_refs; r++) {
        int32_t l = fb->items[an->refs[r].item].votes[an->refs[r].vote].label;
        if (l >= 0)
            hist[l] = 0;
    }
    return mode;
}

/* Does annotator slot a (nearly) always answer one class: its class, or -1. */
static int32_t one_class(hitl_feedback *fb, size_t a, size_t *hist)
{
    size_t times;
    if (fb->annots[a].n_labels < HITL__REC_CONST_MIN)
        return -1;
    int32_t c = usual_class(&times, hist, fb, a);
    return (double)times >= HITL__REC_CONST_SHARE * (double)fb->annots[a].n_labels ? c : -1;
}

/* Is annotator slot a, who nearly always answers c, constant: do the
 * annotators who do not (the answers `others` counts) often clearly say
 * another class on its items?  Such answers do not depend on the item, so
 * they carry no information about it; a model may still take them for an
 * expert's of c, and they pull every vote towards c. */
static int is_constant(hitl_feedback *fb, const hitl__fb_ds *others, size_t a, int32_t c)
{
    const hitl__fb_annot *an = &fb->annots[a];
    size_t clear = 0, other = 0;
    for (size_t r = 0; r < an->n_refs; r++) {
        int32_t maj = strict_majority(fb, others, &fb->items[an->refs[r].item], a);
        clear += maj >= 0;
        other += maj >= 0 && maj != c;
    }
    return 2 * clear >= HITL__REC_CONST_MIN &&
           (double)other >= HITL__REC_CONST_OTHER * (double)clear;
}

/* The constant annotators (is_constant) into *out, a fresh mask over the
 * annotator slots, or NULL when there are none.  0 or -1 (out of memory). */
static int constant_annotators(unsigned char **out, hitl_feedback *fb, size_t K)
{
    size_t A = fb->n_annots ? fb->n_annots : 1, any = 0;
    size_t *hist = hitl__calloc(K, sizeof *hist);
    int32_t *cls = hitl__malloc(A * sizeof *cls);
    unsigned char *mask = hitl__calloc(A, 1), *one = hitl__calloc(A, 1);
    *out = NULL;
    if (hist && cls && mask && one) {
        for (size_t a = 0; a < fb->n_annots; a++)
            one[a] = (cls[a] = one_class(fb, a, hist)) >= 0;
        /* the consensus they are checked against leaves them all out: a
           few who give the same class would otherwise back each other */
        const hitl__fb_ds others = {.A = fb->n_annots, .ignore = one};
        for (size_t a = 0; a < fb->n_annots; a++)
            any += mask[a] = (unsigned char)(one[a] && is_constant(fb, &others, a, cls[a]));
    }
    int rc = hist && cls && mask && one ? 0 : -1;
    hitl__free(hist);
    hitl__free(cls);
    hitl__free(one);
    if (rc == 0 && any)
        *out = mask;
    else
        hitl__free(mask);
    return rc;
}

static double rec_strength(int kind, size_t K)
{
    return kind == HITL_AGGREGATE_DAWID_SKENE ? HITL__REC_STRENGTH * (double)K : 0;
}

static const int CANDIDATES[3] = {HITL_AGGREGATE_MAJORITY, HITL_AGGREGATE_ONE_COIN,
                                  HITL_AGGREGATE_DAWID_SKENE};

/* Each candidate's cross-validated score, less the margin per step of
 * complexity: a more complex model only when clearly better.  0 or -1. */
static int score_candidates(double *score, const hitl_feedback *fb, const size_t *items,
                            size_t n_items, size_t K, const unsigned char *ignore)
{
    for (size_t c = 0; c < 3; c++) {
        score[c] = -INFINITY;
        if (CANDIDATES[c] == HITL_AGGREGATE_DAWID_SKENE &&
            answers_per_annotator(fb) < HITL__REC_PER_ROW * (double)K)
            continue;
        if (cross_validate(&score[c], fb, items, n_items, K, CANDIDATES[c],
                           rec_strength(CANDIDATES[c], K), ignore) != 0)
            return -1;
        score[c] -= HITL__REC_MARGIN * (double)c;
    }
    return 0;
}

/* The best scored candidate whose fit on every item overrules few clear
 * majorities, into *ds (the vote: no fit, K == 0).  0 or -1. */
static int fit_best(hitl__fb_ds *ds, hitl_feedback *fb, const size_t *items, size_t n_items,
                    size_t K, double *score, const unsigned char *ignore)
{
    for (;;) {
        size_t best = 0;
        for (size_t c = 1; c < 3; c++)
            if (score[c] > score[best])
                best = c;
        if (CANDIDATES[best] == HITL_AGGREGATE_MAJORITY)
            return 0;
        if (fit_items(ds, fb, items, n_items, K, CANDIDATES[best],
                      rec_strength(CANDIDATES[best], K), ignore) != 0)
            return -1;
        if (hitl__fb_reserve_post(fb, ds->K) != 0)
            return -1;
        if (overruled(fb, ds) <= HITL__REC_OVERRULE)
            return 0;
        hitl__fb_ds_free(ds);
        *ds = (hitl__fb_ds){.kind = HITL_AGGREGATE_MAJORITY};
        score[best] = -INFINITY;
    }
}

/* RECOMMENDED: without the constant annotators' answers (if any), of the
 * shared coin (the vote's model), one coin, and the
 * full matrices with a prior, the one whose held-out answers are the most
 * likely (cross_validate), a more complex one only when clearly so, and
 * only with a fit that does not overrule many clear majorities; the shared
 * coin is then used as the plain vote (see hitl.h, "Aggregation"). */
static int recommend(hitl__fb_ds *ds, hitl_feedback *fb, const char *fn)
{
    size_t K, n_items;
    double score[3];
    *ds = (hitl__fb_ds){.kind = HITL_AGGREGATE_MAJORITY};
    if (!evidence_for_model(fb))
        return HITL_OK;
    int rc = fit_classes(&K, fb, fn);
    if (rc != HITL_OK)
        return rc;
    size_t *items = fitted_items(&n_items, fb);
    unsigned char *ignore = NULL;
    if (!items || constant_annotators(&ignore, fb, K) != 0 ||
        score_candidates(score, fb, items, n_items, K, ignore) != 0 ||
        fit_best(ds, fb, items, n_items, K, score, ignore) != 0) {
        hitl__fb_ds_free(ds);
        rc = hitl__fail_in(HITL_ENOMEM, fn, "out of memory fitting Dawid-Skene");
    } else if (ds->K == 0 && ignore) {   /* the vote leaves them out too */
        ds->A = fb->n_annots;
        ds->ignore = ignore;
        ignore = NULL;
    }
    hitl__free(ignore);
    hitl__free(items);
    return rc;
}

int hitl__fb_is_model(int method)
{
    return method == HITL_AGGREGATE_DAWID_SKENE || method == HITL_AGGREGATE_ONE_COIN ||
           method == HITL_AGGREGATE_RECOMMENDED;
}

int hitl__fb_prepare(hitl__fb_ds *ds, const hitl__fb_params *par, hitl_feedback *fb,
                     const char *fn)
{
    *ds = (hitl__fb_ds){0};
    if (!hitl__fb_is_model(par->method))
        return HITL_OK;
    hitl__fb_params now = fb->par;
    fb->par = *par;                     /* the fit reads K and the EM settings */
    int rc = par->method == HITL_AGGREGATE_RECOMMENDED
                 ? recommend(ds, fb, fn)
                 : hitl__fb_ds_fit(ds, fb, par->method,
                                   par->method == HITL_AGGREGATE_DAWID_SKENE ? par->ds_prior : 0,
                                   fn);
    fb->par = now;
    if (rc == HITL_OK && ds->K && hitl__fb_reserve_post(fb, ds->K) != 0) {
        hitl__fb_ds_free(ds);
        rc = hitl__fail_in(HITL_ENOMEM, fn, "out of memory fitting Dawid-Skene");
    }
    return rc;
}

void hitl__fb_commit(hitl_feedback *fb, const hitl__fb_params *par, hitl__fb_ds *ds)
{
    fb->par = *par;
    /* a fit belongs to the model aggregation in force: another method
       drops it, so that what the handle reports follows from its journal */
    if (hitl__fb_is_model(par->method))
        hitl__fb_ds_install(fb, ds);
    else
        hitl__fb_ds_free(&fb->ds);
    hitl__fb_refresh(fb);
}
