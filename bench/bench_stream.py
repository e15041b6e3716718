#!/usr/bin/python3
"""Python against C: stream selection's cost per batch through the bindings.

    bench_stream.py [--n 200000] [--dim 128] [--classes 10] [--batch 4096]
                    [--repeat 7] [--kind variable_uncertainty]

N float32 rows arrive in batches; a fitted built-in model scores each batch
and a stream decides it (hitl_stream_decide_rows, on the calling thread).
Each batch is read once, then decided through C and through Python (two
streams that see the same items; which goes first alternates), so both
calls of a batch find it in cache and share the machine's load:
  C        a C call timed with clock_gettime inside C (compiled here with
           cffi);
  python   hitl.Stream.decide_rows (argument checks, the numpy outputs it
           allocates and wraps).
Prints microseconds per batch and the ratio python / C: the median of the
per-batch ratios for each order, combined by their geometric mean (going
second is worth a few percent, which that cancels), with the target python <= 1.1 x C.  Run by `make bench`
(bench-stream-python); never by make check.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

import hitl
from hitl import ffi

C_LOOP = r"""
#include <time.h>
#include "hitl.h"
/* Decide n rows of d in batches; seconds into *t; a status. */
static int bench_stream(double *t, void *s, const void *m, const float *X,
                        size_t n, size_t d, size_t batch, uint8_t *ask,
                        float *wt)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n; i += batch) {
        size_t b = n - i < batch ? n - i : batch, asked;
        int st = hitl_stream_decide_rows(&asked, ask, wt, (hitl_stream *)s,
                                         (const hitl_model *)m, X + i * d,
                                         b, d);
        if (st != 0)
            return st;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *t = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return 0;
}
"""


def build_c_loop(tmp):
    import cffi
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    os.pardir, "bindings", "python"))
    import build_hitl
    b = cffi.FFI()
    b.cdef("int bench_stream(double *, void *, const void *, const float *,"
           " size_t, size_t, size_t, uint8_t *, float *);")
    b.set_source("_hitl_bench_stream", C_LOOP, **build_hitl._pkg_config("libhitl"))
    b.compile(tmpdir=tmp, verbose=False)
    sys.path.insert(0, tmp)
    from _hitl_bench_stream import ffi as cffi_c, lib as lib_c
    return cffi_c, lib_c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--kind", default="variable_uncertainty")
    a = ap.parse_args()

    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(a.n, a.dim)).astype(np.float32)
    fitX = rng.uniform(-1, 1, size=(5000, a.dim)).astype(np.float32)
    pool = hitl.Pool.from_array(fitX)
    for i, label in enumerate(np.argmax(fitX[:, :a.classes], axis=1).tolist()):
        pool.set_label(i, label)
    model = hitl.LogisticRegression(a.dim, a.classes, max_iter=50,
                                    threads=1).fit_pool(pool)
    batches = [X[i:i + a.batch] for i in range(0, a.n, a.batch)]

    with tempfile.TemporaryDirectory(prefix="hitl-bench-") as tmp:
        cffi_c, lib_c = build_c_loop(tmp)
        ask = np.empty(a.batch, np.uint8)
        wt = np.empty(a.batch, np.float32)
        pa = cffi_c.from_buffer("uint8_t[]", ask, require_writable=True)
        pw = cffi_c.from_buffer("float[]", wt, require_writable=True)
        px = cffi_c.from_buffer("float[]", X)
        hm = cffi_c.cast("void *", int(ffi.cast("uintptr_t", model._ptr)))
        ct = cffi_c.new("double[1]")

        def one_round():
            """Each batch through C, then through Python, on two streams
            that see the same items: per batch, both saw the same load."""
            sc, sp = hitl.Stream(a.kind), hitl.Stream(a.kind)
            hs = cffi_c.cast("void *", int(ffi.cast("uintptr_t", sc._ptr)))
            tc, tp = [], []
            def c_call(i, b):
                st = lib_c.bench_stream(ct, hs, hm, px + i * a.batch * a.dim,
                                        b.shape[0], a.dim, a.batch, pa, pw)
                assert st == 0, st
                tc.append(ct[0])

            def py_call(i, b):
                t = time.perf_counter()
                sp.decide_rows(model, b)
                tp.append(time.perf_counter() - t)

            for i, b in enumerate(batches):
                b.sum()                       # both find the batch in cache
                first, second = (c_call, py_call) if i % 2 else (py_call, c_call)
                first(i, b)
                second(i, b)
            assert sc.info("asked") == sp.info("asked"), "C and Python differ"
            return tc, tp

        one_round()                         # warm-up
        tc, tp = [], []
        for _ in range(a.repeat):
            c, p = one_round()
            tc += c
            tp += p
        nb = len(batches)
        print("stream %s: N=%d dim=%d K=%d, %d batches of %d, %d rounds, each "
              "batch through both" % (a.kind, a.n, a.dim, a.classes,
                                               nb, a.batch, a.repeat))
        print("C loop             %8.1f us per batch (median)"
              % (1e6 * statistics.median(tc)))
        print("Stream.decide_rows %8.1f us per batch (median)"
              % (1e6 * statistics.median(tp)))
        # The second call of a batch finds more of it in cache, so the two
        # orders are summarised apart and combined by their geometric mean,
        # which cancels what going second is worth.
        r = [p / c for p, c in zip(tp, tc)]
        py_first = statistics.median(r[i] for i in range(len(r)) if (i % nb) % 2 == 0)
        c_first = statistics.median(r[i] for i in range(len(r)) if (i % nb) % 2 == 1)
        ratio = (py_first * c_first) ** 0.5
        print("ratio python / C: %.3f with Python first, %.3f with C first; "
              "geometric mean %.3f" % (py_first, c_first, ratio))
        print("target stream python / C per batch: %.3f (goal <= 1.1): %s"
              % (ratio, "ok" if ratio <= 1.1 else "MISSED"))
        return 0 if ratio <= 1.1 else 3


if __name__ == "__main__":
    sys.exit(main())
