#!/usr/bin/python3
"""Python against C: the cost of an entropy query through the bindings.

    bench_python.py [--n 1000000] [--dim 128] [--classes 10] [--k 100]
                    [--repeat 7] [--threads 0] [--c-bench bench/bench_query]

One pool of N x dim float32 rows (borrowed: zero-copy) and one fitted
built-in model; the same query (entropy, k) is timed, interleaved, through
  C        a small C loop calling hitl_query, compiled here with cffi and
           timed with clock_gettime inside C (no Python in the timed region);
  raw      hitl.lib.hitl_query called from Python (preallocated outputs);
  python   hitl.Strategy.query, the high-level layer (allocates and wraps
           the numpy results, checks arguments).
It prints min and median seconds per query, the ratios python/C and
raw/C (target: python/C <= 1.1, i.e. no hidden conversion or copy; judged
on the median of the per-round ratios, as the runs of one round share the
machine's load), the layer's own cost per call measured on a tiny pool
(free of the query's noise), a numpy read-once pass over the same matrix
for scale, and, if the program given by --c-bench exists, the figures of
that separate C benchmark run first.
Run by `make bench` (bench-python); never by make check.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import hitl
from hitl import ffi, lib

C_LOOP = r"""
#include <time.h>
#include "hitl.h"
/* Time `reps` calls of hitl_query; seconds of each into times. */
static int bench_query(double *times, int reps, void *s, const void *m,
                       const void *p, size_t k, size_t *idx, uint64_t *ids,
                       double *scores)
{
    for (int r = 0; r < reps; r++) {
        struct timespec t0, t1;
        size_t count;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int st = hitl_query(&count, idx, ids, scores, (hitl_strategy *)s,
                            (const hitl_model *)m, (const hitl_pool *)p, k);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (st != 0)
            return st;
        times[r] = (double)(t1.tv_sec - t0.tv_sec)
                 + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    }
    return 0;
}
"""


def build_c_loop(tmp):
    """Compile the C timing loop against the same hitl.h and libhitl."""
    import cffi
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    os.pardir, "bindings", "python"))
    import build_hitl
    kw = build_hitl._pkg_config("libhitl")
    b = cffi.FFI()
    b.cdef("int bench_query(double *, int, void *, const void *, const void *,"
           " size_t, size_t *, uint64_t *, double *);")
    b.set_source("_hitl_bench_c", C_LOOP, **kw)
    b.compile(tmpdir=tmp, verbose=False)
    sys.path.insert(0, tmp)
    from _hitl_bench_c import ffi as cffi_c, lib as lib_c
    return cffi_c, lib_c


def addr(cffi_c, handle):
    return cffi_c.cast("void *", int(ffi.cast("uintptr_t", handle._ptr)))


def summary(ts):
    return min(ts), statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0,
                    help="HITL_PARAM_THREADS of the model (0: one per CPU)")
    ap.add_argument("--c-bench", default=None,
                    help="the C benchmark program (bench/bench_query) to run too")
    a = ap.parse_args()

    if a.c_bench and os.access(a.c_bench, os.X_OK):
        print("== %s %d %d %d (separate C benchmark) ==" % (a.c_bench, a.n, a.dim,
                                                          a.classes))
        sys.stdout.flush()
        subprocess.run([a.c_bench, str(a.n), str(a.dim), str(a.classes)])
        print("== Python ==")
    elif a.c_bench:
        print("(%s not built: make bench/bench_query to compare with it)" % a.c_bench)

    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    X = rng.standard_normal((a.n, a.dim), dtype=np.float32)
    W = rng.standard_normal((a.dim, a.classes)).astype(np.float32)
    print("pool: N=%d dim=%d K=%d k=%d (%.0f MiB float32), made in %.1f s"
          % (a.n, a.dim, a.classes, a.k, X.nbytes / 2**20,
             time.perf_counter() - t0))

    with tempfile.TemporaryDirectory(prefix="hitl-bench-") as tmp:
        cffi_c, lib_c = build_c_loop(tmp)
        pool = hitl.Pool.from_array(X, borrow=True)
        labeled = rng.choice(a.n, 5000, replace=False)
        y = np.argmax(X[labeled] @ W, axis=1)
        for i, label in zip(labeled.tolist(), y.tolist()):
            pool.set_label(i, label)
        model = hitl.LogisticRegression(a.dim, a.classes, C=1.0,
                                        threads=a.threads).fit(pool)
        strategy = hitl.Strategy("entropy")

        # outputs shared by the C loop and the raw calls
        count = ffi.new("size_t *")
        idx = np.empty(a.k, np.uintp)
        ids = np.empty(a.k, np.uint64)
        scores = np.empty(a.k, np.float64)
        pi = ffi.from_buffer("size_t[]", idx, require_writable=True)
        pd = ffi.from_buffer("uint64_t[]", ids, require_writable=True)
        ps = ffi.from_buffer("double[]", scores, require_writable=True)
        ci = cffi_c.from_buffer("size_t[]", idx, require_writable=True)
        cd = cffi_c.from_buffer("uint64_t[]", ids, require_writable=True)
        cs = cffi_c.from_buffer("double[]", scores, require_writable=True)
        ct = cffi_c.new("double[1]")
        hs, hm, hp = (addr(cffi_c, h) for h in (strategy, model, pool))

        def run_c():
            st = lib_c.bench_query(ct, 1, hs, hm, hp, a.k, ci, cd, cs)
            assert st == 0, hitl.errors.last_message(st)
            return ct[0]

        def run_raw():
            t = time.perf_counter()
            st = lib.hitl_query(count, pi, pd, ps, strategy._ptr, model._ptr,
                                pool._ptr, a.k)
            t = time.perf_counter() - t
            assert st == 0
            return t

        def run_python():
            t = time.perf_counter()
            r = strategy.query(model, pool, a.k)
            t = time.perf_counter() - t
            assert len(r.ids) == a.k
            return t

        def run_read():
            t = time.perf_counter()
            X.sum(dtype=np.float32)
            return time.perf_counter() - t

        runs = {"C": run_c, "raw": run_raw, "python": run_python,
                "read": run_read}
        for fn in runs.values():           # warm-up: pages, threads, caches
            fn()
        times = {name: [] for name in runs}
        for _ in range(a.repeat):           # interleaved: drift hits all alike
            for name, fn in runs.items():
                times[name].append(fn())
        ref = strategy.query(model, pool, a.k)
        run_c()
        assert np.array_equal(idx, ref.indices), "C and Python picked differently"

        print("threads=%g block_rows=%g, %d runs each, interleaved"
              % (model.get_param("threads"), model.get_param("block_rows"),
                 a.repeat))
        print("%-8s %12s %12s" % ("", "min s", "median s"))
        labels = {"C": "C loop", "raw": "raw cffi", "python": "hitl.query",
                  "read": "numpy read"}
        for name in runs:
            lo, med = summary(times[name])
            print("%-10s %10.4f %12.4f" % (labels[name], lo, med))
        c_min, c_med = summary(times["C"])
        for name in ("raw", "python"):
            lo, med = summary(times[name])
            # per round: the runs of one round saw the same machine load
            rounds = statistics.median(t / c for t, c in zip(times[name],
                                                              times["C"]))
            print("ratio %s / C: %.3f (min)  %.3f (median)  %.3f (median "
                  "of per-round ratios)" % (labels[name], lo / c_min,
                                           med / c_med, rounds))
        ratio = statistics.median(t / c for t, c in zip(times["python"],
                                                         times["C"]))
        ok = ratio <= 1.1
        print("target hitl.query <= 1.1 x C: %s" % ("met" if ok else "NOT MET"))

        # The layer's own cost, free of the query's noise: the same calls on
        # a 64-item pool, many times.
        small = hitl.Pool.from_array(X[:64], borrow=True)
        small.set_label(0, 0)
        reps = 2000
        t = time.perf_counter()
        for _ in range(reps):
            lib.hitl_query(count, pi, pd, ps, strategy._ptr, model._ptr,
                           small._ptr, a.k)
        raw_us = (time.perf_counter() - t) / reps * 1e6
        t = time.perf_counter()
        for _ in range(reps):
            strategy.query(model, small, a.k)
        layer_us = (time.perf_counter() - t) / reps * 1e6
        print("Python layer overhead per query (64-item pool, %d calls): raw "
              "cffi %.1f us, hitl.query %.1f us: +%.1f us = %.4f%% of the C "
              "query" % (reps, raw_us, layer_us, layer_us - raw_us,
                         100 * (layer_us - raw_us) * 1e-6 / c_med))
        small.close()
        print("query / numpy read pass: %.2f" % (c_med / summary(times["read"])[1]))
        print("peak RSS %.0f MiB" % (resource.getrusage(resource.RUSAGE_SELF)
                                    .ru_maxrss / 1024))
        strategy.close()
        model.close()
        pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
