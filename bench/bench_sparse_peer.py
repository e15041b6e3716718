#!/usr/bin/python3
"""The sparse query and fit against the modAL-style scikit-learn reference,
in one process, on the same scipy.sparse CSR data.

    bench_sparse_peer.py [--n 1000000] [--dim 262144] [--nnz 100]
                         [--classes 10] [--k 100] [--labeled 10000]
                         [--repeat 3]

Data: N rows of `nnz` Zipf-distributed columns (like words), TF-IDF-like
positive values, labels from a random sparse linear teacher.
  query   hitl: a pool borrowing the CSR arrays (zero-copy), entropy query
          of k; reference: LogisticRegression.predict_proba on the same CSR
          matrix, entropy, argsort (what modAL's entropy_sampling does);
          both with the same fitted weights.  Target: hitl >= 20x faster.
  fit     cold fit of the built-in model on the first `labeled` rows against
          LogisticRegression(lbfgs) at the same C, with the test accuracy of
          both and the largest difference of their probabilities.  Target:
          hitl <= 0.5x scikit-learn's time.
Best of `repeat`, interleaved.  Never run by make check.
"""
import argparse
import time

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

import hitl


def zipf_csr(n, dim, nnz, rng):
    """n rows of nnz distinct Zipf columns: draw twice as many, sort, drop
    repeats, keep the first nnz (rows left short are drawn again)."""
    p = np.arange(1, dim + 1, dtype=np.float64) ** -1.07
    cdf = np.cumsum(p / p.sum())
    perm = rng.permutation(dim).astype(np.int32)
    cols = np.empty((n, nnz), np.int32)
    todo = np.arange(n)
    while todo.size:
        u = rng.random((todo.size, 2 * nnz))
        d = np.sort(perm[np.minimum(np.searchsorted(cdf, u), dim - 1)], axis=1)
        fresh = np.ones_like(d, dtype=bool)
        fresh[:, 1:] = d[:, 1:] != d[:, :-1]
        enough = fresh.sum(axis=1) >= nnz
        for j in np.nonzero(enough)[0]:
            cols[todo[j]] = d[j][fresh[j]][:nnz]
        todo = todo[~enough]
    data = rng.random((n, nnz), dtype=np.float32) + np.float32(0.1)
    data /= np.sqrt((data ** 2).sum(axis=1, keepdims=True))
    indptr = np.arange(0, (n + 1) * nnz, nnz, dtype=np.int32)
    return sp.csr_matrix((data.ravel(), cols.ravel(), indptr), shape=(n, dim))


def best(f, repeat):
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t0)
    return min(ts), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000000)
    ap.add_argument("--dim", type=int, default=1 << 18)
    ap.add_argument("--nnz", type=int, default=100)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--labeled", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    X = zipf_csr(a.n, a.dim, a.nnz, rng)
    T = sp.random(a.dim, a.classes, density=0.2, random_state=1, format="csr")
    y = np.asarray((X @ T).argmax(axis=1)).ravel().astype(np.int32)
    print("bench_sparse_peer: N %d, dim %d, %d Zipf non-zeros a row, K %d, k %d; "
          "data made in %.1f s" % (a.n, a.dim, a.nnz, a.classes, a.k,
                                  time.perf_counter() - t0))
    C = 10.0
    L = a.labeled
    Xl, yl = X[:L], y[:L]
    Xt, yt = X[L:L + 20000], y[L:L + 20000]

    # ---- fit --------------------------------------------------------------
    pool_l = hitl.Pool.from_array(Xl, borrow=True)
    for i in range(L):
        pool_l.set_label(i, int(yl[i]))

    def hitl_fit():
        m = hitl.LogisticRegression(a.dim, a.classes, C=C)
        return m.fit(pool_l)

    def sk_fit():
        return LogisticRegression(C=C, max_iter=1000).fit(Xl, yl)
    th, mh = best(hitl_fit, a.repeat)
    ts, ms = best(sk_fit, a.repeat)
    ph, ps = mh.predict_proba(Xt), ms.predict_proba(Xt)
    print("fit on %d rows: hitl %.2f s (%d iterations), scikit-learn lbfgs %.2f s: "
          "%.2f x; test accuracy %.4f vs %.4f; max |p diff| %.1e"
          % (L, th, mh.n_iter, ts, th / ts, (ph.argmax(1) == yt).mean(),
             (ps.argmax(1) == yt).mean(), np.abs(ph - ps).max()))

    # ---- query: the same weights on both sides -----------------------------
    pool = hitl.Pool.from_array(X, borrow=True)
    for i in range(L):
        pool.set_label(i, int(y[i]))
    strategy = hitl.Strategy("entropy")

    def hitl_query():
        return hitl.query(strategy, mh, pool, a.k).indices

    unl = X[L:]

    def modal_query():
        P = ms.predict_proba(unl)
        H = -(P * np.log(np.maximum(P, 1e-30))).sum(axis=1)
        return L + np.argsort(H)[-a.k:]
    qh, _ = best(hitl_query, a.repeat)
    qs, _ = best(modal_query, a.repeat)
    print("entropy query, k %d: hitl %.1f ms, scikit-learn predict_proba + entropy + "
          "argsort %.1f ms: hitl %.1f x faster" % (a.k, 1e3 * qh, 1e3 * qs, qs / qh))
    print("target sparse query vs modAL-style reference: %.1f x (goal >= 20): %s"
          % (qs / qh, "ok" if qs / qh >= 20 else "MISSED"))
    print("target sparse cold fit vs scikit-learn lbfgs: %.2f x (goal <= 0.5): %s"
          % (th / ts, "ok" if th / ts <= 0.5 else "MISSED"))


if __name__ == "__main__":
    main()
