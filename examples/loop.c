/*
 * A complete active-learning loop against an installed libhitl:
 *
 *     cc loop.c $(pkg-config --cflags --libs libhitl) -lm -o loop && ./loop
 *
 * 400 points in four Gaussian blobs.  The default strategy picks a diverse
 * first batch while nothing is labeled, then the items the model is least
 * sure of; a simulated person answers with the truth; the model learns again.
 */
#include <hitl.h>

#include <math.h>
#include <stdio.h>

#define N 400     /* items */
#define D 2       /* features per item */
#define K 4       /* classes */
#define BATCH 8   /* questions per round */
#define ROUNDS 5

/* Print what went wrong; return the status so calls can be chained. */
static int check(int status, const char *what)
{
    if (status != HITL_OK)
        fprintf(stderr, "%s: %s (%s)\n", what, hitl_strerror(status),
                hitl_error_message());
    return status;
}

/* A small deterministic generator, so the example needs nothing else. */
static double uniform(unsigned long long *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((*s >> 11) + 0.5) / 9007199254740992.0;
}

static void make_blobs(float *x, int32_t *y)
{
    static const float centre[K][D] = {{0, 0}, {3, 0}, {0, 3}, {3, 3}};
    unsigned long long s = 42;
    for (int i = 0; i < N; i++) {
        double r = sqrt(-2 * log(uniform(&s))), a = 6.283185307 * uniform(&s);
        y[i] = i % K;
        x[i * D] = centre[y[i]][0] + (float)(r * cos(a));
        x[i * D + 1] = centre[y[i]][1] + (float)(r * sin(a));
    }
}

/* The share of all N items the model classifies right. */
static double accuracy(const hitl_model *m, const float *x, const int32_t *y)
{
    static float proba[N * K];
    if (check(hitl_model_predict(proba, m, x, N, D), "predict"))
        return -1;
    int right = 0;
    for (int i = 0; i < N; i++) {
        int best = 0;
        for (int c = 1; c < K; c++)
            if (proba[i * K + c] > proba[i * K + best])
                best = c;
        right += best == y[i];
    }
    return (double)right / N;
}

int main(void)
{
    static float x[N * D];
    static int32_t y[N];
    hitl_pool *pool = NULL;
    hitl_model *model = NULL;
    hitl_strategy *strategy = NULL;
    hitl_feedback *feedback = NULL;
    size_t labels = 0;
    int rc = 1;

    /* The library must be at least as new as the header we were built with. */
    if (hitl_version_number() < HITL_VERSION_NUMBER) {
        fprintf(stderr, "libhitl %s is older than its header (%s)\n",
                hitl_version(), HITL_VERSION_STRING);
        return 1;
    }
    make_blobs(x, y);
    if (check(hitl_pool_create(&pool, D), "pool") ||
        check(hitl_pool_add(pool, x, N, D, NULL), "add") ||   /* ids 0..N-1 */
        check(hitl_model_create_logreg(&model, D, K), "model") ||
        check(hitl_strategy_create(&strategy, HITL_STRATEGY_DEFAULT), "strategy") ||
        check(hitl_feedback_create(&feedback, pool), "feedback"))
        goto out;

    for (int round = 1; round <= ROUNDS; round++) {
        size_t count, index[BATCH];
        uint64_t id[BATCH];
        /* Round 1: nothing is labeled, the model is not fitted yet, and the
         * strategy picks a diverse first batch from the data alone. */
        if (check(hitl_query(&count, index, id, NULL, strategy, model, pool,
                             BATCH), "query"))
            goto out;
        for (size_t j = 0; j < count; j++) /* the person answers: annotator 1 */
            if (check(hitl_feedback_label(feedback, id[j], 1, y[index[j]]),
                      "label"))
                goto out;
        labels += count;
        if (check(hitl_model_fit(model, pool), "fit")) /* warm-started */
            goto out;
        printf("round %d: %zu labels, accuracy %.3f\n", round, labels,
               accuracy(model, x, y));
    }
    rc = 0;
out:
    hitl_feedback_free(feedback);
    hitl_strategy_free(strategy);
    hitl_model_free(model);
    hitl_pool_free(pool);
    return rc;
}
