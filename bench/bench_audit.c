/* bench_audit: the bias audit over a journal of 10^6 events.
 * Usage: bench_audit [events items]; defaults 1000000 250000.  Records the
 * events (not timed), then times hitl_audit_set_groups + set_decisions
 * (two attributes) and hitl_audit_run, against a floor measured in the
 * same run: one pass reading every event with hitl_feedback_event. */
#include "hitl.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void check(int st, const char *what)
{
    if (st != HITL_OK) {
        fprintf(stderr, "%s: %s\n", what, hitl_error_message());
        exit(1);
    }
}

int main(int argc, char **argv)
{
    size_t E = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    size_t N = argc > 2 ? strtoul(argv[2], NULL, 10) : 250000;
    float *X = calloc(N, sizeof *X);
    hitl_pool *pool;
    hitl_feedback *fb;
    check(hitl_pool_create(&pool, 1), "pool");
    check(hitl_pool_add(pool, X, N, 1, NULL), "add");
    check(hitl_feedback_create(&fb, pool), "feedback");
    uint64_t s = 1;
    double t0 = now();
    for (size_t e = 0; e < E; e++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t item = (s >> 20) % N, who = (s >> 50) % 20;
        int32_t label = (int32_t)((s >> 40) % 3), shown = (int32_t)((s >> 44) % 3);
        hitl_event_kind kind = label == shown ? HITL_EVENT_CONFIRM : HITL_EVENT_OVERRIDE;
        check(hitl_feedback_record(NULL, fb, kind, item, who, label, NAN, shown, 0.8,
                                   (int64_t)e, NULL), "record");
    }
    double t_record = now() - t0;
    uint64_t *ids = malloc(N * sizeof *ids);
    int64_t *g0 = malloc(N * sizeof *g0), *g1 = malloc(N * sizeof *g1);
    uint8_t *acc = malloc(N);
    int32_t *lab = malloc(N * sizeof *lab);
    for (size_t i = 0; i < N; i++) {
        ids[i] = i;
        g0[i] = (int64_t)(i % 2);
        g1[i] = (int64_t)(i % 7);
        acc[i] = i % 3 == 0;
        lab[i] = (int32_t)(i % 3);
    }
    /* the floor: one read of every event */
    t0 = now();
    size_t sum = 0;
    for (size_t e = 0; e < E; e++) {
        uint64_t item;
        check(hitl_feedback_event(NULL, &item, NULL, NULL, NULL, NULL, NULL, NULL, fb, e),
              "event");
        sum += item;
    }
    double t_floor = now() - t0;
    hitl_audit *a;
    t0 = now();
    check(hitl_audit_create(&a, 2), "audit");
    check(hitl_audit_set_groups(a, 0, ids, g0, N), "groups");
    check(hitl_audit_set_groups(a, 1, ids, g1, N), "groups");
    check(hitl_audit_set_decisions(a, ids, acc, lab, N), "decisions");
    double t1 = now();
    check(hitl_audit_run(a, fb, 0, UINT64_MAX), "run");
    double t2 = now(), total = t2 - t0;
    int flagged;
    double diff;
    check(hitl_audit_gap(NULL, NULL, &diff, NULL, &flagged, a, 1, HITL_AUDIT_ACCEPTED), "gap");
    printf("%zu events over %zu items (recorded in %.2f s), 2 attributes (2 and 7 groups)\n",
           E, N, t_record);
    printf("floor: read every event       %8.1f ms (checksum %zu)\n", t_floor * 1e3,
           sum % 1000);
    printf("audit: groups + decisions      %8.1f ms\n", (t1 - t0) * 1e3);
    printf("audit: run                     %8.1f ms (%.1f x floor)\n", (t2 - t1) * 1e3,
           (t2 - t1) / t_floor);
    printf("largest acceptance gap (7 groups): %.3f, flagged %d\n", diff, flagged);
    printf("target audit_1e6_events: %.3f s (goal <= 1 s): %s\n", total,
           total <= 1 ? "ok" : "MISSED");
    hitl_audit_free(a);
    hitl_feedback_free(fb);
    hitl_pool_free(pool);
    free(X);
    free(ids);
    free(g0);
    free(g1);
    free(acc);
    free(lab);
    return 0;
}
