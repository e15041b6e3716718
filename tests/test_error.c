/* Status names, the thread-local detail message, the allocator hook and the
 * version. */
#include "config.h"
#include "testutil.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- status names ------------------------------------------------------------ */

START_TEST(test_strerror)
{
    static const struct { int code; const char *name; } known[] = {
        {HITL_OK, "success"},
        {HITL_EINVAL, "invalid argument"},
        {HITL_ENOMEM, "out of memory"},
        {HITL_ESTATE, "not allowed in the current state"},
        {HITL_ENUMERIC, "NaN or Inf in input or result"},
        {HITL_EIO, "input/output error"},
        {HITL_EFORMAT, "corrupt or unsupported format"},
        {HITL_ECALLBACK, "callback failed"},
        {HITL_ENOTFOUND, "item not found"},
    };
    size_t n = sizeof known / sizeof known[0];
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(hitl_strerror(known[i].code), known[i].name);
        for (size_t j = 0; j < i; j++)   /* every code has its own name */
            ck_assert_str_ne(hitl_strerror(known[i].code),
                             hitl_strerror(known[j].code));
    }
    const int unknown[] = {1, 42, -9, -100, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        ck_assert_str_eq(hitl_strerror(unknown[i]), "unknown status");
}
END_TEST

/* ---- the detail message ------------------------------------------------------- */

START_TEST(test_message_names_function)
{
    hitl_error_clear();
    ck_assert_str_eq(hitl_error_message(), "");
    ck_assert_int_eq(hitl_pool_create(NULL, 3), HITL_EINVAL);
    ck_assert_str_eq(hitl_error_message(), "hitl_pool_create: out is NULL");
    hitl_pool *p = NULL;
    ck_assert_int_eq(hitl_pool_create(&p, 0), HITL_EINVAL);
    ck_assert_str_eq(hitl_error_message(), "hitl_pool_create: dim is 0");

    /* A successful call keeps the message; the next failure replaces it. */
    ck_assert_int_eq(hitl_pool_create(&p, 2), HITL_OK);
    ck_assert_str_eq(hitl_error_message(), "hitl_pool_create: dim is 0");
    size_t n;
    ck_assert_int_eq(hitl_pool_size(NULL, p), HITL_EINVAL);
    ck_assert_str_eq(hitl_error_message(), "hitl_pool_size: n is NULL");
    ck_assert_int_eq(hitl_set_allocator(NULL, NULL, NULL, NULL), HITL_ESTATE);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "hitl_set_allocator: "));
    ck_assert_int_eq(hitl_pool_size(&n, p), HITL_OK);
    hitl_pool_free(p);
    hitl_error_clear();
    ck_assert_str_eq(hitl_error_message(), "");
}
END_TEST

/* The other thread fails, checks its own message, clears it; the main
 * thread's message stays as it was throughout. */
static pthread_barrier_t barrier;
static char thread_saw[3][128];

static void *other_thread(void *arg)
{
    (void)arg;
    snprintf(thread_saw[0], sizeof thread_saw[0], "%s", hitl_error_message());
    pthread_barrier_wait(&barrier);   /* main has failed by now */
    hitl_pool *p = NULL;
    hitl_pool_create(&p, 0);
    snprintf(thread_saw[1], sizeof thread_saw[1], "%s", hitl_error_message());
    pthread_barrier_wait(&barrier);   /* main checks its message */
    pthread_barrier_wait(&barrier);   /* main has cleared its message */
    snprintf(thread_saw[2], sizeof thread_saw[2], "%s", hitl_error_message());
    hitl_error_clear();
    pthread_barrier_wait(&barrier);
    return NULL;
}

START_TEST(test_message_per_thread)
{
    pthread_t t;
    hitl_error_clear();
    ck_assert_int_eq(pthread_barrier_init(&barrier, NULL, 2), 0);
    ck_assert_int_eq(hitl_pool_create(NULL, 1), HITL_EINVAL);
    ck_assert_int_eq(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);   /* the other thread has failed */
    ck_assert_str_eq(hitl_error_message(), "hitl_pool_create: out is NULL");
    hitl_error_clear();
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);   /* it has read and cleared its own */
    ck_assert_str_eq(hitl_error_message(), "");
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    pthread_barrier_destroy(&barrier);

    ck_assert_str_eq(thread_saw[0], "");  /* a new thread starts clean */
    ck_assert_str_eq(thread_saw[1], "hitl_pool_create: dim is 0");
    ck_assert_str_eq(thread_saw[2], "hitl_pool_create: dim is 0");
}
END_TEST

/* ---- the allocator hook --------------------------------------------------------- */

typedef struct counter {
    long mallocs, reallocs, frees;
    long live;                        /* blocks */
} counter;

static void *count_malloc(void *user, size_t size)
{
    counter *c = user;
    c->mallocs++;
    c->live++;
    return malloc(size);
}

static void *count_realloc(void *user, void *ptr, size_t size)
{
    counter *c = user;
    c->reallocs++;
    if (!ptr)
        c->live++;
    return realloc(ptr, size);
}

static void count_free(void *user, void *ptr)
{
    counter *c = user;
    if (ptr) {
        c->frees++;
        c->live--;
    }
    free(ptr);
}

START_TEST(test_allocator_arguments)
{
    hitl_malloc_fn m = count_malloc;
    hitl_realloc_fn r = count_realloc;
    hitl_free_fn f = count_free;
    for (int mask = 1; mask < 7; mask++) {   /* some but not all NULL */
        hitl_error_clear();
        ck_assert_int_eq(hitl_set_allocator(mask & 1 ? m : NULL,
                                            mask & 2 ? r : NULL,
                                            mask & 4 ? f : NULL, NULL),
                         HITL_EINVAL);
        ck_assert_ptr_nonnull(strstr(hitl_error_message(),
                                     "hitl_set_allocator: "));
    }
    /* Still the default allocator: nothing was installed. */
    counter c = {0};
    hitl_pool *p = NULL;
    ck_assert_int_eq(hitl_pool_create(&p, 2), HITL_OK);
    hitl_pool_free(p);
    ck_assert_int_eq(hitl_set_allocator(m, r, f, &c), HITL_OK);
    ck_assert_int_eq(hitl_pool_create(&p, 2), HITL_OK);
    hitl_pool_free(p);
    ck_assert_int_eq(hitl_set_allocator(NULL, NULL, NULL, NULL), HITL_OK);
    ck_assert_int_eq(c.mallocs, 1);
}
END_TEST

START_TEST(test_allocator_only_without_handles)
{
    counter c = {0};
    hitl_pool *a = NULL, *b = NULL;
    ck_assert_int_eq(hitl_pool_create(&a, 2), HITL_OK);
    ck_assert_int_eq(hitl_pool_create(&b, 2), HITL_OK);
    ck_assert_int_eq(hitl_set_allocator(count_malloc, count_realloc, count_free,
                                        &c), HITL_ESTATE);
    ck_assert_ptr_nonnull(strstr(hitl_error_message(), "hitl_set_allocator: "));
    /* Restoring the default is just as forbidden while a handle lives. */
    ck_assert_int_eq(hitl_set_allocator(NULL, NULL, NULL, NULL), HITL_ESTATE);
    hitl_pool_free(a);
    ck_assert_int_eq(hitl_set_allocator(count_malloc, count_realloc, count_free,
                                        &c), HITL_ESTATE);
    hitl_pool_free(b);
    hitl_pool_free(NULL);    /* freeing NULL does not unbalance the count */
    ck_assert_int_eq(hitl_set_allocator(count_malloc, count_realloc, count_free,
                                        &c), HITL_OK);
    ck_assert_int_eq(hitl_pool_create(&a, 2), HITL_OK);
    ck_assert_int_eq(hitl_set_allocator(NULL, NULL, NULL, NULL), HITL_ESTATE);
    hitl_pool_free(a);
    ck_assert_int_eq(hitl_set_allocator(NULL, NULL, NULL, NULL), HITL_OK);
    /* A failed create does not count as a live handle. */
    ck_assert_int_eq(hitl_pool_create(&a, 0), HITL_EINVAL);
    ck_assert_int_eq(hitl_set_allocator(NULL, NULL, NULL, NULL), HITL_OK);
}
END_TEST

/* Every block the library takes comes from the hook (with its user pointer)
 * and goes back to it; after the default is restored the hook sees nothing. */
START_TEST(test_allocator_receives_allocations)
{
    counter c = {0};
    ck_assert_int_eq(hitl_set_allocator(count_malloc, count_realloc, count_free,
                                        &c), HITL_OK);
    hitl_pool *p = NULL;
    ck_assert_int_eq(hitl_pool_create(&p, 4), HITL_OK);
    long after_create = c.mallocs + c.reallocs;
    ck_assert_int_ge(after_create, 1);
    float rows[64 * 4];
    uint64_t ids[64];
    for (size_t i = 0; i < 64 * 4; i++)
        rows[i] = (float)i;
    for (size_t i = 0; i < 64; i++)
        ids[i] = 1000 + i;             /* not indices: builds the id map */
    ck_assert_int_eq(hitl_pool_add(p, rows, 64, 4, ids), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p, rows, 64, 4, NULL), HITL_OK);
    ck_assert_int_gt(c.mallocs + c.reallocs, after_create + 4);
    ck_assert_int_gt(c.live, 0);
    hitl_pool_free(p);
    ck_assert_int_eq(c.live, 0);
    ck_assert_int_gt(c.frees, 0);
    ck_assert_int_eq(hitl_set_allocator(NULL, NULL, NULL, NULL), HITL_OK);

    counter before = c;
    ck_assert_int_eq(hitl_pool_create(&p, 4), HITL_OK);
    ck_assert_int_eq(hitl_pool_add(p, rows, 64, 4, ids), HITL_OK);
    hitl_pool_free(p);
    ck_assert_int_eq(c.mallocs, before.mallocs);
    ck_assert_int_eq(c.reallocs, before.reallocs);
    ck_assert_int_eq(c.frees, before.frees);
}
END_TEST

/* A hook that fails is out of memory, reported as such. */
START_TEST(test_allocator_failure_is_enomem)
{
    oom_install();
    oom_arm(0);
    hitl_pool *p = NULL;
    ck_assert_int_eq(hitl_pool_create(&p, 3), HITL_ENOMEM);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(hitl_strerror(HITL_ENOMEM), "out of memory");
    oom_arm(-1);
    ck_assert_int_eq(hitl_pool_create(&p, 3), HITL_OK);
    hitl_pool_free(p);
    oom_uninstall();
}
END_TEST

/* ---- version -------------------------------------------------------------------- */

START_TEST(test_version)
{
    ck_assert_str_eq(hitl_version(), HITL_VERSION_STRING);
    ck_assert_str_eq(hitl_version(), PACKAGE_VERSION);
    ck_assert_uint_eq(hitl_version_number(), HITL_VERSION_NUMBER);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", HITL_VERSION_MAJOR,
             HITL_VERSION_MINOR, HITL_VERSION_PATCH);
    ck_assert_str_eq(hitl_version(), want);
    ck_assert_uint_eq(hitl_version_number(),
                      (unsigned)(HITL_VERSION_MAJOR * 10000 +
                                 HITL_VERSION_MINOR * 100 + HITL_VERSION_PATCH));
}
END_TEST

static Suite *error_suite(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("status");
    tcase_add_test(tc, test_strerror);
    tcase_add_test(tc, test_message_names_function);
    tcase_add_test(tc, test_message_per_thread);
    suite_add_tcase(s, tc);
    tc = tcase_create("allocator");
    tcase_add_test(tc, test_allocator_arguments);
    tcase_add_test(tc, test_allocator_only_without_handles);
    tcase_add_test(tc, test_allocator_receives_allocations);
    tcase_add_test(tc, test_allocator_failure_is_enomem);
    suite_add_tcase(s, tc);
    tc = tcase_create("version");
    tcase_add_test(tc, test_version);
    suite_add_tcase(s, tc);
    return s;
}

HITL_TEST_MAIN(error_suite)
