/* Shared by the Check suites: a main() per suite and a failing allocator. */
#ifndef HITL_TESTUTIL_H
#define HITL_TESTUTIL_H

#include <check.h>
#include <stdlib.h>
#include "hitl.h"

/* Fails allocation number `fail_at` (0-based) and every later one while
 * fail_at >= 0; counts allocations in `calls`.  Drives out-of-memory tests:
 * for n = 0, 1, ... run an operation with fail_at = n until it succeeds,
 * checking every failure is HITL_ENOMEM and leaves no leak or damage. */
static long oom_fail_at = -1, oom_calls;
static void *oom_malloc(void *u, size_t s)
{
    (void)u;
    if (oom_fail_at >= 0 && oom_calls++ >= oom_fail_at)
        return NULL;
    return malloc(s);
}
static void *oom_realloc(void *u, void *p, size_t s)
{
    (void)u;
    if (oom_fail_at >= 0 && oom_calls++ >= oom_fail_at)
        return NULL;
    return realloc(p, s);
}
static void oom_free(void *u, void *p)
{
    (void)u;
    free(p);
}
static inline void oom_install(void)
{
    ck_assert_int_eq(hitl_set_allocator(oom_malloc, oom_realloc, oom_free, NULL), HITL_OK);
}
static inline void oom_arm(long fail_at)
{
    oom_fail_at = fail_at;
    oom_calls = 0;
}
static inline void oom_uninstall(void)
{
    oom_fail_at = -1;
    ck_assert_int_eq(hitl_set_allocator(NULL, NULL, NULL, NULL), HITL_OK);
}

/* Fail allocation 0, 1, ... of call(ctx) until it succeeds: every failure
 * must be HITL_ENOMEM, after which unchanged(ctx) asserts that nothing
 * observable changed.  Asserts that the call allocates at all. */
static inline void oom_until_ok(int (*call)(void *ctx), void (*unchanged)(void *ctx),
                                void *ctx)
{
    long fail_at = 0;
    for (;; fail_at++) {
        oom_arm(fail_at);
        int rc = call(ctx);
        oom_arm(-1);
        if (rc == HITL_OK)
            break;
        ck_assert_int_eq(rc, HITL_ENOMEM);
        unchanged(ctx);
    }
    ck_assert_int_gt(fail_at, 0);
}

/* CRC-32 as zlib computes it (IEEE 802.3, reflected, initial value and final
 * xor ~0), bit by bit: a reference for checksummed formats that shares no
 * code with the zlib the library calls. */
static inline uint32_t ref_crc32(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

/* splitmix64: the fixed-seed generator of simulations in the suites. */
static inline uint64_t test_splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Assert an item's consensus status and aggregated label in a feedback
 * handle (the feedback and aggregate suites both check it). */
static inline void expect_status(const hitl_feedback *fb, uint64_t item,
                                 hitl_consensus status, int32_t label)
{
    hitl_consensus st;
    int32_t lab;
    ck_assert_int_eq(hitl_feedback_item(&st, &lab, NULL, NULL, NULL, fb, item),
                     HITL_OK);
    ck_assert_int_eq(st, status);
    ck_assert_int_eq(lab, label);
}

#define HITL_TEST_MAIN(suite_fn)                                  \
    int main(void)                                                \
    {                                                             \
        SRunner *sr = srunner_create(suite_fn());                 \
        srunner_run_all(sr, CK_NORMAL);                           \
        int failed = srunner_ntests_failed(sr);                   \
        srunner_free(sr);                                         \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;              \
    }

#endif
