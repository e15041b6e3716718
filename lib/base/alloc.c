/* The one allocator hook (SQLite-style): every allocation of the library goes
 * through hitl__malloc and friends, so a caller can account for memory and a
 * test can fail the n-th allocation to prove that every path recovers. */
#include "base/base.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static void *default_malloc(void *user, size_t size)
{
    (void)user;
    return malloc(size);
}

static void *default_realloc(void *user, void *ptr, size_t size)
{
    (void)user;
    return realloc(ptr, size);
}

static void default_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

static hitl_malloc_fn a_malloc = default_malloc;
static hitl_realloc_fn a_realloc = default_realloc;
static hitl_free_fn a_free = default_free;
static void *a_user;
static atomic_long live_handles;

int hitl_set_allocator(hitl_malloc_fn malloc_fn, hitl_realloc_fn realloc_fn,
                       hitl_free_fn free_fn, void *user)
{
    int nulls = !malloc_fn + !realloc_fn + !free_fn;
    if (nulls != 0 && nulls != 3)
        return hitl__fail(HITL_EINVAL,
                          "malloc_fn, realloc_fn and free_fn must be all set or all NULL");
    if (atomic_load(&live_handles) != 0)
        return hitl__fail(HITL_ESTATE, "%ld handles are alive; free them first",
                          (long)atomic_load(&live_handles));
    a_malloc = malloc_fn ? malloc_fn : default_malloc;
    a_realloc = realloc_fn ? realloc_fn : default_realloc;
    a_free = free_fn ? free_fn : default_free;
    a_user = malloc_fn ? user : NULL;
    return HITL_OK;
}

void *hitl__malloc(size_t size)
{
    return size ? a_malloc(a_user, size) : NULL;
}

void *hitl__calloc(size_t n, size_t size)
{
    size_t total;
    if (hitl__mul_size(&total, n, size) != 0 || total == 0)
        return NULL;
    void *p = a_malloc(a_user, total);
    if (p)
        memset(p, 0, total);
    return p;
}

void *hitl__realloc(void *ptr, size_t size)
{
    return size ? a_realloc(a_user, ptr, size) : NULL;
}

void hitl__free(void *ptr)
{
    if (ptr)
        a_free(a_user, ptr);
}

int hitl__mul_size(size_t *out, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return -1;
    *out = n * size;
    return 0;
}

int hitl__check_rows(const char *fn, size_t n, size_t stride, size_t width, size_t elem)
{
    size_t most = SIZE_MAX / elem;       /* elements that are addressable */
    if (n == 0)
        return HITL_OK;
    if (width > most || (stride && n - 1 > (most - width) / stride))
        return hitl__fail_in(HITL_EINVAL, fn,
                             "n = %zu rows of stride %zu do not fit in memory", n, stride);
    return HITL_OK;
}

int hitl__resize(void **p, size_t n, size_t elem)
{
    size_t bytes;
    if (hitl__mul_size(&bytes, n, elem) != 0)
        return -1;
    void *q = hitl__realloc(*p, bytes);
    if (!q)
        return -1;
    *p = q;
    return 0;
}

int hitl__grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 4;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return -1;
        n *= 2;
    }
    if (hitl__resize(p, n, elem) != 0)
        return -1;
    *cap = n;
    return 0;
}

void hitl__handle_acquire(void)
{
    atomic_fetch_add(&live_handles, 1);
}

void hitl__handle_release(void)
{
    atomic_fetch_sub(&live_handles, 1);
}
