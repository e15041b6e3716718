/*
 * What the single-file benchmarks share: a failed libhitl call ends the
 * program with the call, its status and the library's message.  Define
 * BENCH_NAME before including.
 */
#ifndef HITL_BENCH_CHECK_H
#define HITL_BENCH_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "hitl.h"

static void bench_die(const char *what, int st)
{
    fprintf(stderr, "%s: %s: %s: %s\n", BENCH_NAME, what, hitl_strerror(st),
            hitl_error_message());
    exit(1);
}

#define CHECK(call)                    \
    do {                               \
        int st_ = (call);              \
        if (st_ != HITL_OK)            \
            bench_die(#call, st_);     \
    } while (0)

#endif
