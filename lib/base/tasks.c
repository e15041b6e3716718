/* The worker pool every parallel pass uses: tasks 0 .. n-1 (blocks of pool
 * rows, shares of a distance fold) shared out among threads.
 *
 * Workers take the next task number from one atomic counter, so whichever
 * thread is free works (a fixed share per thread leaves a core idle while a
 * new thread starts) and one worker's tasks come in increasing order.  The
 * calling thread is worker 0; a thread that cannot be started only means
 * fewer workers.  Every buffer a task needs is the caller's business,
 * allocated before the run, indexed by worker.
 *
 * A failed task stops the hand-out of new tasks; of all the tasks that
 * failed, the lowest one's status and message are reported, so the error a
 * caller sees does not depend on thread timing. */
#include "base/base.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

typedef struct run {
    hitl__task_fn fn;
    void *ctx;
    const char *fn_name;
    size_t n_tasks;
    atomic_size_t next;
    atomic_int stop;
    pthread_mutex_t lock;        /* guards the failure below */
    int status;
    size_t fail_at;
    char msg[512];
} run;

typedef struct worker {
    run *r;
    size_t index;
    pthread_t thread;
} worker;

static void record(run *r, size_t task, int status)
{
    pthread_mutex_lock(&r->lock);
    if (r->status == HITL_OK || task < r->fail_at) {
        r->status = status;
        r->fail_at = task;
        const char *m = hitl_error_message();
        if (*m)
            snprintf(r->msg, sizeof r->msg, "%s", m);
        else        /* a task that set no message: say at least which */
            snprintf(r->msg, sizeof r->msg, "%s: task %zu of %zu failed", r->fn_name, task,
                     r->n_tasks);
    }
    pthread_mutex_unlock(&r->lock);
    atomic_store(&r->stop, 1);
}

static void *work(void *arg)
{
    worker *w = arg;
    run *r = w->r;
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        size_t t = atomic_fetch_add(&r->next, 1);
        if (t >= r->n_tasks)
            break;
        int st = r->fn(r->ctx, w->index, t);
        if (st != HITL_OK)
            record(r, t, st);
    }
    return NULL;
}

int hitl__tasks_run(size_t workers, size_t n_tasks, hitl__task_fn fn, void *ctx,
                    const char *fn_name)
{
    if (n_tasks == 0)
        return HITL_OK;
    if (workers > n_tasks)
        workers = n_tasks;
    if (workers == 0)
        workers = 1;
    worker one, *ws = workers == 1 ? &one : hitl__calloc(workers, sizeof *ws);
    if (!ws)
        return hitl__fail_in(HITL_ENOMEM, fn_name, "out of memory for %zu workers", workers);
    run r = { .fn = fn, .ctx = ctx, .fn_name = fn_name, .n_tasks = n_tasks };
    atomic_init(&r.next, 0);
    atomic_init(&r.stop, 0);
    if (pthread_mutex_init(&r.lock, NULL) != 0) {
        if (ws != &one)
            hitl__free(ws);
        return hitl__fail_in(HITL_ENOMEM, fn_name, "cannot create a mutex");
    }
    size_t started = 1;
    for (size_t i = 0; i < workers; i++)
        ws[i] = (worker){ .r = &r, .index = i };
    for (; started < workers; started++)
        if (pthread_create(&ws[started].thread, NULL, work, &ws[started]) != 0)
            break;
    work(&ws[0]);
    for (size_t i = 1; i < started; i++)
        pthread_join(ws[i].thread, NULL);
    pthread_mutex_destroy(&r.lock);
    if (ws != &one)
        hitl__free(ws);
    if (r.status != HITL_OK)
        return hitl__fail_copy(r.status, r.msg);
    return HITL_OK;
}
