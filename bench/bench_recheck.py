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
Best of --repeat runs each.  Extra memory: of the C call with a queue of
k = --k entries, the growth of peak RSS during the call (Linux: the peak is
reset through /proc/self/clear_refs first), which should be O(K^2) plus k,
nothing n-sized; of the numpy reference, its peak numpy allocation
(tracemalloc).  Targets: C >= 10 x faster than numpy; C extra memory for
k = 1000 within 1 MiB.  Run by `make bench` (bench-recheck); never by make
check.
"""
import argparse
import os
import sys
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


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def peak_growth(fn):
    """KiB the peak RSS grew by during fn(), or None where it cannot be
    measured (the peak is reset with /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    base = _status_kib("VmRSS")
    fn()
    peak = _status_kib("VmHWM")
    return None if base is None or peak is None else max(peak - base, 0)


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
    print("libhitl %s: confident-learning ranking, %d x %d float32 probabilities, "
          "%.0f%% of labels flipped" % (hitl.library_version(), n, K, a.noise * 100))
    proba, labels = fixture(n, K, a.noise)
    pool = hitl.Pool.from_array(np.zeros((n, 1), np.float32))
    set_label = pool.set_label
    for i, c in enumerate(labels.tolist()):
        set_label(i, c)
    rc = hitl.Recheck()

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

    # extra memory of the C call: outputs allocated and touched before
    k = min(a.k, n)
    keep = [np.ones(k, np.uintp), np.ones(k, np.uint64), np.ones(k)]
    from hitl import ffi, lib
    count = ffi.new("size_t *")
    ptrs = [ffi.from_buffer(t + "[]", x, require_writable=True)
            for t, x in zip(("size_t", "uint64_t", "double"), keep)]
    pp = ffi.from_buffer("float[]", proba)
    c_kib = peak_growth(lambda: lib.hitl_recheck_query_proba(
        count, ptrs[0], ptrs[1], ptrs[2], rc._ptr, pp, K, pool._ptr, k))
    tracemalloc.start()
    ref.find_label_issues(labels, proba)
    np_peak = tracemalloc.get_traced_memory()[1] / 1024
    tracemalloc.stop()
    if c_kib is None:
        print("peak extra memory: C not measurable here (no /proc/self/clear_refs)")
    else:
        print("peak extra memory: C %.0f KiB (k = %d, K = %d); numpy reference %.0f MiB"
              % (c_kib, k, K, np_peak / 1024))
    ok = same
    ok &= target("speedup numpy/C", ratio, ">=", 10, "x")
    if c_kib is not None:
        ok &= target("C extra memory", c_kib / 1024, "<=", 1, " MiB")
    rc.close()
    pool.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
