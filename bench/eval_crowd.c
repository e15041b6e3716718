/*
 * libhitl aggregation evaluation: how often each aggregation gets the true
 * label on simulated crowds (`make eval`).
 *
 *   eval_crowd [--seeds S] [--prior F,...] [--cell K,N,A,PROFILE]
 *
 * A cell is K classes, N items, A annotators and a crowd profile; each item
 * gets its labels from r = min(A, 5) annotators drawn at random (in a random
 * order, which decides the votes' ties), and 2% of the items (at least one)
 * have a gold label.  True classes follow a mildly skewed prior
 * (P(k) proportional to 1 / sqrt(k + 1)).  Profiles:
 *   mixed    accuracy p_a uniform in [0.55, 0.95], errors uniform over the
 *            other classes (the one-coin model);
 *   confuse  class-dependent: p_a uniform in [0.55, 0.9], scaled by a per
 *            class difficulty in [0.8, 1.1] (capped at 0.98); 70% of the
 *            errors on class k go to class k + 1 (mod K), the rest uniform;
 *   spam     a third of the annotators (at least one) answer uniformly at
 *            random; the others have p_a uniform in [0.6, 0.9];
 *   hammer   a third answer always the same class (their own); others as
 *            spam;
 *   low      p_a uniform in [1/K + 0.2, 1/K + 0.5] (K = 2: [0.6, 0.75]).
 * Per cell and method, the share of non-gold items whose aggregated label is
 * the true class, averaged over S seeds (default 3; seeds 1..S).  Methods:
 * MV (majority), W (weighted by gold), DS (Dawid-Skene, no prior),
 * OC (one coin), DS+p (Dawid-Skene with HITL_PARAM_DS_PRIOR = F K for each
 * F given, default 0.5), REC (recommended; the letter after it is what it
 * picked: v = vote, o = one coin, d = Dawid-Skene with prior).
 *
 * Summary: the worst cell of REC - MV and of REC - best (best of every
 * other column), the mean of each, the cells where REC is more than 2
 * points below MV, and the known case of three annotators of accuracy
 * 0.95, 0.75 and 0.55, 10 classes, 300 items, no gold (where plain
 * Dawid-Skene overfits).  Ends with target lines; a missed target is
 * reported there and does not change the exit status (0; 2 only for a
 * usage or library error), so that `make eval` runs all its parts.
 */
#include "hitl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                              \
    do {                                                                         \
        int st_ = (call);                                                        \
        if (st_ != HITL_OK) {                                                    \
            fprintf(stderr, "%s: %s: %s\n", #call, hitl_strerror(st_),          \
                    hitl_error_message());                                       \
            exit(2);                                                             \
        }                                                                        \
    } while (0)

#define MAX_LABELS 5
#define MAX_PRIORS 8
#define GOLD_SHARE 0.02
#define CLEARLY 0.02      /* "clearly worse": 2 points of the items */

/* ---- random numbers (splitmix64) ---------------------------------------------- */

static uint64_t rng;
static uint64_t next_u64(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unit(void) { return (double)(next_u64() >> 11) * 0x1.0p-53; }
static double between(double lo, double hi) { return lo + (hi - lo) * unit(); }
static size_t below(size_t n) { return (size_t)(unit() * (double)n); }

/* ---- crowds ------------------------------------------------------------------------ */

enum { MIXED, CONFUSE, SPAM, HAMMER, LOW, FIXED3, N_PROFILES };
static const char *const PROFILE[N_PROFILES] = {"mixed", "confuse", "spam", "hammer",
                                                "low", "fixed3"};

typedef struct crowd {
    size_t K, A;
    int profile;
    double *acc;        /* A: accuracy, or -1 spammer, -2 hammer */
    double *difficulty; /* K: per-class scale of the accuracy (confuse) */
    int32_t *hammer;    /* A: the class a hammer always answers */
} crowd;

static void make_crowd(crowd *c, size_t K, size_t A, int profile)
{
    c->K = K;
    c->A = A;
    c->profile = profile;
    c->acc = calloc(A, sizeof *c->acc);
    c->difficulty = calloc(K, sizeof *c->difficulty);
    c->hammer = calloc(A, sizeof *c->hammer);
    size_t bad = profile == SPAM || profile == HAMMER ? (A + 2) / 3 : 0;
    for (size_t k = 0; k < K; k++)
        c->difficulty[k] = profile == CONFUSE ? between(0.8, 1.1) : 1;
    for (size_t a = 0; a < A; a++) {
        double lo = 1.0 / (double)K + 0.2, hi = 1.0 / (double)K + 0.5;
        if (K == 2)
            lo = 0.6, hi = 0.75;
        c->acc[a] = profile == MIXED    ? between(0.55, 0.95)
                    : profile == CONFUSE ? between(0.55, 0.9)
                    : profile == LOW     ? between(lo, hi)
                    : profile == FIXED3  ? (a == 0 ? 0.95 : a == 1 ? 0.75 : 0.55)
                                         : between(0.6, 0.9);
        c->hammer[a] = (int32_t)below(K);
        if (a < bad)
            c->acc[a] = profile == SPAM ? -1 : -2;
    }
}

static void free_crowd(crowd *c)
{
    free(c->acc);
    free(c->difficulty);
    free(c->hammer);
}

static int32_t answer(const crowd *c, size_t a, int32_t truth)
{
    size_t K = c->K;
    if (c->acc[a] == -1)
        return (int32_t)below(K);
    if (c->acc[a] == -2)
        return c->hammer[a];
    double p = fmin(0.98, c->acc[a] * c->difficulty[truth]);
    if (unit() < p)
        return truth;
    if (c->profile == CONFUSE && unit() < 0.7)
        return (int32_t)(((size_t)truth + 1) % K);
    size_t other = below(K - 1);
    return (int32_t)(other >= (size_t)truth ? other + 1 : other);
}

static int32_t true_class(size_t K)
{
    double total = 0, u;
    for (size_t k = 0; k < K; k++)
        total += 1 / sqrt((double)k + 1);
    u = unit() * total;
    for (size_t k = 0; k < K; k++) {
        u -= 1 / sqrt((double)k + 1);
        if (u < 0)
            return (int32_t)k;
    }
    return (int32_t)K - 1;
}

/* ---- one run: a crowd answers, every method aggregates ---------------------------- */

enum { M_MV, M_W, M_DS, M_OC, M_DSP, N_FIXED = M_DSP };   /* DS+p: one per prior */

typedef struct run {
    double acc[N_FIXED + MAX_PRIORS + 1];   /* ..., REC last */
    int picked;                               /* REC's choice */
} run;

static double score(const hitl_feedback *fb, const int32_t *truth, const char *gold,
                    size_t n)
{
    size_t right = 0, counted = 0;
    for (size_t i = 0; i < n; i++) {
        if (gold[i])
            continue;
        int32_t label;
        CHECK(hitl_feedback_item(NULL, &label, NULL, NULL, NULL, fb, i));
        right += label == truth[i];
        counted++;
    }

    return counted ? (double)right / (double)counted : NAN;
}

static void set_method(hitl_feedback *fb, int method, double prior)
{
    CHECK(hitl_feedback_set_param(fb, HITL_PARAM_DS_PRIOR, prior));
    CHECK(hitl_feedback_set_param(fb, HITL_PARAM_AGGREGATION, method));
}

static void one_run(run *out, size_t K, size_t N, size_t A, int profile, int with_gold,
                    uint64_t seed, const double *priors, size_t n_priors)
{
    rng = seed * 0x2545F4914F6CDD1Dull + K * 1000003 + N * 7919 + A * 31 + (size_t)profile;
    crowd c;
    make_crowd(&c, K, A, profile);
    hitl_pool *pool;
    CHECK(hitl_pool_create(&pool, 1));
    float *rows = calloc(N, sizeof *rows);
    CHECK(hitl_pool_add(pool, rows, N, 1, NULL));
    free(rows);
    hitl_feedback *fb;
    CHECK(hitl_feedback_create(&fb, pool));
    CHECK(hitl_feedback_set_param(fb, HITL_PARAM_N_CLASSES, (double)K));
    int32_t *truth = calloc(N, sizeof *truth);
    char *gold = calloc(N, 1);
    size_t *who = calloc(A, sizeof *who), r = A < MAX_LABELS ? A : MAX_LABELS;
    size_t n_gold = with_gold ? (size_t)fmax(1, floor(GOLD_SHARE * (double)N)) : 0;
    for (size_t i = 0; i < N; i++) {
        truth[i] = true_class(K);
        for (size_t a = 0; a < A; a++)
            who[a] = a;
        for (size_t j = 0; j < r; j++) {   /* r annotators in a random order */
            size_t pick = j + below(A - j), t = who[j];
            who[j] = who[pick];
            who[pick] = t;
            CHECK(hitl_feedback_label(fb, i, who[j], answer(&c, who[j], truth[i])));
        }
    }
    for (size_t g = 0; g < n_gold; g++) {
        size_t i = below(N);
        if (!gold[i])
            CHECK(hitl_feedback_set_gold(NULL, fb, i, truth[i], 1000, 0));
        gold[i] = 1;
    }
    static const int fixed[N_FIXED] = {HITL_AGGREGATE_MAJORITY, HITL_AGGREGATE_WEIGHTED,
                                       HITL_AGGREGATE_DAWID_SKENE, HITL_AGGREGATE_ONE_COIN};
    for (size_t m = 0; m < N_FIXED; m++) {
        set_method(fb, fixed[m], 0);
        out->acc[m] = score(fb, truth, gold, N);
    }
    for (size_t p = 0; p < n_priors; p++) {
        set_method(fb, HITL_AGGREGATE_DAWID_SKENE, priors[p] * (double)K);
        out->acc[N_FIXED + p] = score(fb, truth, gold, N);
    }
    set_method(fb, HITL_AGGREGATE_RECOMMENDED, 0);
    out->acc[N_FIXED + n_priors] = score(fb, truth, gold, N);
    double used;
    CHECK(hitl_feedback_get_info(&used, fb, HITL_FEEDBACK_AGGREGATION_USED));
    out->picked = (int)used;

    hitl_feedback_free(fb);
    hitl_pool_free(pool);
    free(truth);
    free(gold);
    free(who);
    free_crowd(&c);
}

/* ---- the grid ----------------------------------------------------------------------- */

static const size_t GRID_K[] = {2, 5, 10, 26}, GRID_N[] = {50, 300, 5000},
                    GRID_A[] = {3, 7, 20};
#define LEN(a) (sizeof(a) / sizeof *(a))

typedef struct summary {
    double worst_mv, worst_best, sum_mv, sum_best;
    size_t cells, below_mv;   /* cells where REC is CLEARLY below MV */
    char worst_mv_cell[64], worst_best_cell[64];
} summary;

static char pick_letter(int picked)
{
    return picked == HITL_AGGREGATE_MAJORITY ? 'v' : picked == HITL_AGGREGATE_ONE_COIN ? 'o' : 'd';
}

static void cell(summary *sm, size_t K, size_t N, size_t A, int profile, int seeds,
                 const double *priors, size_t n_priors)
{
    size_t cols = N_FIXED + n_priors + 1;
    double mean[N_FIXED + MAX_PRIORS + 1] = {0};
    int picks[6] = {0};
    for (int s = 1; s <= seeds; s++) {
        run r;
        one_run(&r, K, N, A, profile, 1, (uint64_t)s, priors, n_priors);
        for (size_t m = 0; m < cols; m++)
            mean[m] += r.acc[m] / seeds;
        picks[r.picked]++;
    }
    double rec = mean[cols - 1], best = 0;
    for (size_t m = 0; m + 1 < cols; m++)
        best = fmax(best, mean[m]);
    printf("%3zu %5zu %3zu %-8s", K, N, A, PROFILE[profile]);
    for (size_t m = 0; m < cols; m++)
        printf(" %6.3f", mean[m]);
    printf(" ");
    for (int k = 1; k < 6; k++)
        for (int j = 0; j < picks[k]; j++)
            putchar(pick_letter(k));
    printf(" %+7.3f %+7.3f\n", rec - mean[M_MV], rec - best);
    char name[64];
    snprintf(name, sizeof name, "K=%zu N=%zu A=%zu %s", K, N, A, PROFILE[profile]);
    if (sm->cells == 0 || rec - mean[M_MV] < sm->worst_mv) {
        sm->worst_mv = rec - mean[M_MV];
        snprintf(sm->worst_mv_cell, sizeof sm->worst_mv_cell, "%s", name);
    }
    if (sm->cells == 0 || rec - best < sm->worst_best) {
        sm->worst_best = rec - best;
        snprintf(sm->worst_best_cell, sizeof sm->worst_best_cell, "%s", name);
    }
    sm->sum_mv += rec - mean[M_MV];
    sm->below_mv += rec - mean[M_MV] < -CLEARLY;
    sm->sum_best += rec - best;
    sm->cells++;
    fflush(stdout);
}

static void target(const char *name, double value, const char *op, double goal)
{
    int ok = op[0] == '>' ? value >= goal : value <= goal;
    printf("target %s: %.3f (goal %s %.3f): %s\n", name, value, op, goal, ok ? "ok" : "MISSED");
}

int main(int argc, char **argv)
{
    int seeds = 3;
    double priors[MAX_PRIORS] = {0.5};
    size_t n_priors = 1;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
            seeds = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--prior") && i + 1 < argc) {
            n_priors = 0;
            for (char *t = strtok(argv[++i], ","); t && n_priors < MAX_PRIORS;
                 t = strtok(NULL, ","))
                priors[n_priors++] = atof(t);
        } else if (!strcmp(argv[i], "--cell") && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--seeds S] [--prior F,...] [--cell K,N,A,PROFILE]\n",
                    argv[0]);
            return 2;
        }
    }
    if (seeds < 1)
        seeds = 1;
    printf("Aggregation on simulated crowds: share of non-gold items labeled right, "
           "mean of %d seeds\n", seeds);
    printf("  K     N   A profile      MV      W     DS     OC");
    for (size_t p = 0; p < n_priors; p++)
        printf(" DS+p%-2g", priors[p]);
    printf("    REC picks  REC-MV REC-best\n");
    summary sm = {0};
    if (only) {
        size_t K = 0, N = 0, A = 0;
        char prof[16] = "";
        if (sscanf(only, "%zu,%zu,%zu,%15s", &K, &N, &A, prof) != 4)
            return 2;
        for (int p = 0; p < N_PROFILES; p++)
            if (!strcmp(prof, PROFILE[p]))
                cell(&sm, K, N, A, p, seeds, priors, n_priors);
        return 0;
    }
    for (size_t k = 0; k < LEN(GRID_K); k++)
        for (size_t n = 0; n < LEN(GRID_N); n++)
            for (size_t a = 0; a < LEN(GRID_A); a++)
                for (int p = 0; p < FIXED3; p++)
                    cell(&sm, GRID_K[k], GRID_N[n], GRID_A[a], p, seeds, priors, n_priors);

    /* the known case, without gold, over more seeds */
    double mv = 0, ds = 0, rec = 0;
    const int known_seeds = 10;
    for (int s = 1; s <= known_seeds; s++) {
        run r;
        one_run(&r, 10, 300, 3, FIXED3, 0, (uint64_t)s, priors, n_priors);
        mv += r.acc[M_MV] / known_seeds;
        ds += r.acc[M_DS] / known_seeds;
        rec += r.acc[N_FIXED + n_priors] / known_seeds;
    }
    printf("\n%zu cells: REC - MV mean %+.4f, worst %+.3f (%s); REC - best mean %+.4f, "
           "worst %+.3f (%s)\n", sm.cells, sm.sum_mv / (double)sm.cells, sm.worst_mv,
           sm.worst_mv_cell, sm.sum_best / (double)sm.cells, sm.worst_best, sm.worst_best_cell);
    printf("known case (accuracies 0.95/0.75/0.55, K=10, 300 items, no gold, %d seeds): "
           "MV %.3f, DS %.3f, REC %.3f\n", known_seeds, mv, ds, rec);
    printf("cells where REC is more than %.0f points below MV: %zu of %zu\n", 100 * CLEARLY,
           sm.below_mv, sm.cells);
    target("rec_minus_mv_mean", sm.sum_mv / (double)sm.cells, ">=", 0.02);
    target("rec_minus_best_mean", sm.sum_best / (double)sm.cells, ">=", -0.02);
    target("share_of_cells_rec_clearly_below_mv", (double)sm.below_mv / (double)sm.cells,
           "<=", 0.05);
    target("rec_minus_mv_worst", sm.worst_mv, ">=", -CLEARLY);
    target("known_case_rec_minus_mv", rec - mv, ">=", 0.0);
    return 0;
}
