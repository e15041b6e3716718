"""No leak over 10,000 create/use/free cycles of every object: resident memory
stays bounded (measured from /proc/self/statm between a warm-up and the end).
A leak of one pool (1 KiB of rows), one model or one callback handle per
cycle would add at least 10 MiB."""
import gc
import os

import numpy as np

import hitl

CYCLES = 10000
BOUND = 4 << 20                      # bytes of growth allowed


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Uniform:
    def fit(self, X, y):
        pass

    def predict_proba(self, X):
        return np.full((len(X), 2), 0.5)


def cycle(i, X, y):
    explicit = i % 2 == 0           # half closed explicitly, half by ffi.gc
    pool = hitl.Pool.from_array(X, borrow=(i % 4 == 1))
    fb = hitl.Feedback(pool)
    fb.label(0, int(y[0]))
    fb.label(1, int(y[1]))
    model = hitl.LogisticRegression(X.shape[1], 2, max_iter=20)
    model.fit(pool)
    custom = hitl.CustomModel(Uniform(), X.shape[1], 2)
    custom.fit(pool)
    s = hitl.Strategy("margin")
    s.query(model, pool, 2)
    s.query(custom, pool, 2)
    try:
        fb.label(10**6, 0)
    except hitl.NotFound:
        pass
    data = model.to_bytes()
    hitl.Model.from_bytes(data).close()
    if explicit:
        for obj in (s, custom, model, fb, pool):
            obj.close()


def test_no_leak_over_10000_cycles():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 16)).astype(np.float32)
    y = np.array([0, 1] * 8)
    for i in range(500):            # warm-up: allocator pools, caches
        cycle(i, X, y)
    gc.collect()
    before = rss()
    for i in range(CYCLES):
        cycle(i, X, y)
    gc.collect()
    grown = rss() - before
    assert grown < BOUND, "RSS grew by %.1f MiB over %d cycles" % (
        grown / 2**20, CYCLES)
