/* The demo's stream section (examples/demo_stream.c). */
#ifndef HITL_DEMO_STREAM_H
#define HITL_DEMO_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

/* Items of the pool part (rows x_pool, dataset indices pool_idx) arrive one
 * batch at a time; each stream kind decides which a person labels within a
 * 10% budget; test accuracy on (x_test, test_idx) and when the stopping
 * criteria would have stopped.  0, or -1 after printing the failure. */
int demo_section_stream(const dataset *ds, const float *x_pool, const size_t *pool_idx,
                        size_t n_pool, const float *x_test, const size_t *test_idx,
                        size_t n_test, uint64_t seed);

#endif
