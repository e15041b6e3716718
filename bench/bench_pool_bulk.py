#!/usr/bin/python3
"""The pool's bulk calls against a Python loop of one-item calls.

    bench_pool_bulk.py [--n 200000] [--repeat 5]

A pool of N items (8 features); half of them are labeled, then every
label, state and weight is read back, timed three ways (min of --repeat
runs):
  loop     pool.set_label(i, y) / pool.item(i) per item (one cffi call each);
  bulk     pool.set_labels(indices, y) / labels() + states() + weights();
  floor    numpy doing the same memory work in-process (a fancy-index
           store of the labels, copies of three N-entry arrays): what the
           bulk calls cannot beat.
Prints the speedup bulk/loop and the ratio bulk/floor.
Run by `make bench-python` (so `make bench`); never by make check.
"""
import argparse
import sys
import time

import numpy as np

import hitl


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(a.n, 8)).astype(np.float32)
    idx = np.arange(0, a.n, 2, dtype=np.intp)
    y = rng.integers(0, 10, size=idx.size).astype(np.int32)
    pool = hitl.Pool.from_array(X, borrow=True)
    idx_l, y_l = idx.tolist(), y.tolist()

    def loop_set():
        for i, v in zip(idx_l, y_l):
            pool.set_label(i, v)

    def loop_read():
        for i in range(a.n):
            pool.item(i)
            pool.weight(i)

    lab = np.full(a.n, -1, np.int32)
    st = np.zeros(a.n, np.int32)
    w = np.ones(a.n, np.float32)

    def floor_set():
        lab[idx] = y
        st[idx] = 1

    def floor_read():
        lab.copy(), st.copy(), w.copy()

    t = {
        "set loop": best(loop_set, max(1, a.repeat // 2)),
        "set bulk": best(lambda: pool.set_labels(idx, y), a.repeat),
        "set floor": best(floor_set, a.repeat),
        "read loop": best(loop_read, max(1, a.repeat // 2)),
        "read bulk": best(lambda: (pool.labels(), pool.states(),
                                   pool.weights()), a.repeat),
        "read floor": best(floor_read, a.repeat),
    }
    print("pool of %d items, %d labeled; min of %d runs (loops: %d)"
          % (a.n, idx.size, a.repeat, max(1, a.repeat // 2)))
    for name, sec in t.items():
        print("%-11s %10.6f s" % (name, sec))
    for what in ("set", "read"):
        speedup = t[what + " loop"] / t[what + " bulk"]
        floor = t[what + " bulk"] / t[what + " floor"]
        print("%s: bulk is %.0fx faster than the loop, %.2fx the numpy floor"
              % (what, speedup, floor))
        good = speedup >= 20
        print("target %s_speedup: %.0f (goal >= 20): %s"
              % (what, speedup, "ok" if good else "MISSED"))
    pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
