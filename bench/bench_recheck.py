#!/usr/bin/python3
"""The re-check queue's ranking in C against the numpy reference.

    bench_recheck.py [--n 1000000] [--classes 10] [--noise 0.1]
                     [--repeat 3] [--k 1000]

N x K float32 out-of-sample probabilities (softmax of noisy logits, the
true class favoured) and labels of which a share --noise is flipped; the
same confident-learning ranking (thresholds, confident joint, calibration,
prune by noise rate, self-confidence order) is timed in one process
  C       hitl.Recheck.query_proba (hitl_recheck_query_proba), whole queue;
  numpy   bindings/python/tests/cl_reference.py, the numpy implementation
          written from the paper that the tests compare the library with
          (the same queue, checked here too);
  read    a numpy read-once pass over the probabilities (proba.sum(1)), the
          floor no ranking can beat.
Best of --repeat runs each.  Extra memory of the C call, for a queue of
k = --k entries: the peak of the bytes the library holds during the call
beyond what it held before, counted exactly by an allocator hook
(hitl_set_allocator, a small C shim compiled here with cffi), at N and at
N/4 items: it should be O(K^2) plus k and not grow with N.  Of the numpy
reference: its peak numpy allocation (tracemalloc).  Targets: C >= 10 x
faster than numpy (wall clock); C extra memory the same at N as at N/4
(within 64 KiB).  Run by `make bench` (bench-recheck); never by make
check.
"""
import argparse
import os
import sys
import tempfile
import time
import tracemalloc

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "bindings", "python", "tests"))
import cl_reference as ref  # noqa: E402
import hitl                  # noqa: E402


def fixture(n, K, noise, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, size=n)
    z = rng.normal(scale=1.5, size=(n, K)).astype(np.float32)
    z[np.arange(n), y] += 3
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    noisy, _ = ref.flip_labels(y, noise, K, rng)
    return np.ascontiguousarray(p, dtype=np.float32), noisy


def best(fn, repeat):
    """(best wall seconds, best CPU seconds of the process: every thread),
    and fn's result."""
    wall, cpu, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return (min(wall), min(cpu)), out


COUNTER = r"""
#include <stdlib.h>
#include <string.h>
#include "hitl.h"
/* Bytes the library holds now and at most, through the allocator hook; a
 * 16-byte header keeps each block's size. */
static size_t cur, top;
static void *c_malloc(void *u, size_t s)
{
    (void)u;
    unsigned char *p = malloc(s + 16);
    if (!p)
        return NULL;
    memcpy(p, &s, sizeof s);
    size_t now = __atomic_add_fetch(&cur, s, __ATOMIC_RELAXED);
    if (now > top)
        top = now;
    return p + 16;
}
static void c_free(void *u, void *q)
{
    (void)u;
    if (!q)
        return;
    unsigned char *p = (unsigned char *)q - 16;
    size_t s;
    memcpy(&s, p, sizeof s);
    __atomic_sub_fetch(&cur, s, __ATOMIC_RELAXED);
    free(p);
}
static void *c_realloc(void *u, void *q, size_t s)
{
    if (!q)
        return c_malloc(u, s);
    void *n = c_malloc(u, s);
    if (!n)
        return NULL;
    size_t old;
    memcpy(&old, (unsigned char *)q - 16, sizeof old);
    memcpy(n, q, old < s ? old : s);
    c_free(u, q);
    return n;
}
static int counter_install(void) { return hitl_set_allocator(c_malloc, c_realloc, c_free, NULL); }
static void counter_reset(void) { top = cur; }
static size_t counter_extra(void) { return top - cur; }
"""


def build_counter(tmp):
    """Compile the counting allocator against the same hitl.h and libhitl."""
    import cffi
    sys.path.insert(0, os.path.join(HERE, os.pardir, "bindings", "python"))
    import build_hitl
    b = cffi.FFI()
    b.cdef("int counter_install(void); void counter_reset(void); "
           "size_t counter_extra(void);")
    b.set_source("_hitl_bench_counter", COUNTER, **build_hitl._pkg_config("libhitl"))
    b.compile(tmpdir=tmp, verbose=False)
    sys.path.insert(0, tmp)
    from _hitl_bench_counter import lib as counter
    return counter


def c_extra_bytes(counter, rc, proba, pool, k):
    """Peak bytes the library allocates during one ranking of k results
    beyond what it holds before (the outputs are the caller's)."""
    from hitl import ffi, lib
    count = ffi.new("size_t *")
    out = [np.empty(k, np.uintp), np.empty(k, np.uint64), np.empty(k)]
    ptrs = [ffi.from_buffer(t + "[]", x, require_writable=True)
            for t, x in zip(("size_t", "uint64_t", "double"), out)]
    counter.counter_reset()
    st = lib.hitl_recheck_query_proba(count, *ptrs, rc._ptr,
                                      ffi.from_buffer("float[]", proba),
                                      proba.shape[1], pool._ptr, k)
    assert st == 0, hitl.lib.hitl_error_message()
    return counter.counter_extra()


def target(name, value, op, goal, unit=""):
    ok = value >= goal if op == ">=" else value <= goal
    print("target %s: %.3g%s (goal %s %g%s): %s"
          % (name, value, unit, op, goal, unit, "ok" if ok else "MISSED"))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--k", type=int, default=1000)
    a = ap.parse_args()
    n, K = a.n, a.classes
    with tempfile.TemporaryDirectory(prefix="hitl-bench-") as tmp:
        counter = build_counter(tmp)
        if counter.counter_install() != 0:
            sys.exit("bench_recheck: cannot install the counting allocator")
        return run(a, n, K, counter)


def labeled_pool(labels):
    pool = hitl.Pool.from_array(np.zeros((len(labels), 1), np.float32))
    set_label = pool.set_label
    for i, c in enumerate(labels.tolist()):
        set_label(i, c)
    return pool


def run(a, n, K, counter):
    print("libhitl %s: confident-learning ranking, %d x %d float32 probabilities, "
          "%.0f%% of labels flipped" % (hitl.library_version(), n, K, a.noise * 100))
    proba, labels = fixture(n, K, a.noise)
    pool = labeled_pool(labels)
    rc = hitl.Recheck()
    k = min(a.k, n)
    quarter = n // 4
    with labeled_pool(labels[:quarter]) as small:
        extra_small = c_extra_bytes(counter, rc, proba[:quarter], small, k)
    extra = c_extra_bytes(counter, rc, proba, pool, k)
    extra_all = c_extra_bytes(counter, rc, proba, pool, n)

    t_read, _ = best(lambda: proba.sum(axis=1), a.repeat)
    t_c, r = best(lambda: rc.query_proba(proba, pool, k=n), a.repeat)
    t_np, (rows, scores, _) = best(lambda: ref.find_label_issues(labels, proba),
                                   max(1, min(a.repeat, 2)))
    same = np.array_equal(r.indices, rows) and np.array_equal(r.scores, scores)
    print("%-8s %10s %12s %10s" % ("", "best s", "/ read pass", "CPU s"))
    for name, t in (("read", t_read), ("C", t_c), ("numpy", t_np)):
        print("%-8s %10.4f %12.1f %10.4f" % (name, t[0], t[0] / t_read[0], t[1]))
    print("queue: %d items flagged; C and numpy agree: %s" % (len(r.indices), same))
    ratio = t_np[0] / t_c[0]
    print("ratio numpy / C: %.1f wall, %.1f CPU (C on %d threads; numpy on one)"
          % (ratio, t_np[1] / t_c[1], rc.get_param("threads") or os.cpu_count()))

    tracemalloc.start()
    ref.find_label_issues(labels, proba)
    np_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print("extra memory of the C call: %.0f KiB for k = %d at N = %d, %.0f KiB at "
          "N = %d; %.1f MiB for the whole queue (k = N: the results); numpy "
          "reference: %.0f MiB" % (extra / 1024, k, n, extra_small / 1024, quarter,
                                  extra_all / 2 ** 20, np_peak / 2 ** 20))
    ok = same
    ok &= target("speedup numpy/C", ratio, ">=", 10, "x")
    ok &= target("C extra memory growth from N/4 to N", (extra - extra_small) / 1024,
                 "<=", 64, " KiB")
    rc.close()
    pool.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
