"""Sparse pools from scipy.sparse CSR: the same fit and queries as the same
rows held dense, zero-copy borrowing that really reads the caller's arrays,
clear errors for other formats, and a TfidfVectorizer -> hitl loop."""
import numpy as np
import pytest

import hitl

sp = pytest.importorskip("scipy.sparse")


def data(n=300, dim=200, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, dim, density=0.05, format="csr", dtype=np.float32,
                  random_state=seed)
    T = rng.standard_normal((dim, 3))
    y = np.asarray(X @ T).argmax(axis=1).astype(np.int32)
    return X, y


def label(pool, y, idx):
    for i in idx:
        pool.set_label(int(i), int(y[i]))


def test_same_fit_and_queries_as_dense():
    X, y = data()
    lab = np.arange(0, 300, 5)
    with hitl.Pool.from_array(X) as ps, hitl.Pool.from_array(X.toarray()) as pd:
        assert ps.sparse and not pd.sparse
        label(ps, y, lab)
        label(pd, y, lab)
        ms = hitl.LogisticRegression(200, 3, C=2.0).fit(ps)
        md = hitl.LogisticRegression(200, 3, C=2.0).fit(pd)
        a, b = ms.predict_proba_pool(ps), md.predict_proba_pool(pd)
        assert np.abs(a - b).max() < 1e-5
        # caller CSR rows, scipy's csr_array too
        assert np.abs(ms.predict_proba(X) - b).max() < 1e-5
        assert np.abs(ms.predict_proba(sp.csr_array(X)) - b).max() < 1e-5
        for kind in ("entropy", "margin", "least_confident", "kcenter", "hybrid",
                     "density", "ranked_batch", "default"):
            qs = hitl.query(hitl.Strategy(kind, seed=3), ms, ps, 10)
            qd = hitl.query(hitl.Strategy(kind, seed=3), md, pd, 10)
            np.testing.assert_allclose(qs.scores, qd.scores, rtol=1e-5, atol=1e-6)
        idx, val = ps.sparse_row(7)
        assert np.array_equal(idx, X[7].indices) and np.array_equal(val, X[7].data)
        assert np.array_equal(ps.row(7), X[7].toarray()[0])
        ms.close()
        md.close()


def test_borrow_reads_the_callers_arrays():
    X, _ = data(50)
    with hitl.Pool.from_array(X, borrow=True) as pool:
        i = next(r for r in range(50) if X.indptr[r + 1] > X.indptr[r])
        X.data[X.indptr[i]] = 123.0           # the pool sees the caller's memory
        assert pool.sparse_row(i)[1][0] == 123.0
    with hitl.Pool.from_array(X) as pool:     # add copies
        X.data[X.indptr[i]] = 7.0
        assert pool.sparse_row(i)[1][0] == 123.0


def test_conversions_and_refusals():
    X, _ = data(40)
    X64 = X.astype(np.float64)
    with hitl.Pool(200, sparse=True) as pool:
        assert list(pool.add(X64)) == list(range(40))     # converted once
        with pytest.raises(hitl.InvalidArgument, match="cannot be borrowed"):
            pool.borrow(X64)
        with pytest.raises(hitl.InvalidArgument, match=r"\.tocsr\(\)"):
            pool.add(X.tocsc())
        with pytest.raises(hitl.InvalidArgument, match="the pool is sparse"):
            pool.add(X.toarray())
        # unsorted columns (as TfidfVectorizer makes them): sorted on a copy
        # by add, refused by borrow; a column out of range: the library's
        # message names the row and the position
        r = next(r for r in range(40) if X.indptr[r + 1] - X.indptr[r] >= 2)
        shuffled = X.copy()
        a, b = shuffled.indptr[r], shuffled.indptr[r + 1]
        shuffled.indices[a:b] = shuffled.indices[a:b][::-1].copy()
        shuffled.data[a:b] = shuffled.data[a:b][::-1].copy()
        shuffled.has_sorted_indices = False
        pool.add(shuffled)
        assert np.array_equal(pool.sparse_row(40 + r)[0], X[r].indices)
        with pytest.raises(hitl.InvalidArgument, match=r"sum_duplicates\(\)"):
            pool.borrow(shuffled)
        bad = X.copy()
        bad.indices[bad.indptr[r + 1] - 1] = 500     # still increasing
        with pytest.raises(hitl.InvalidArgument,
                           match=r"row %d: indices\[%d\] = 500 is not in \[0, dim 200\)"
                           % (r, X.indptr[r + 1] - 1)):
            pool.add(bad)
        assert len(pool) == 80
    with pytest.raises(hitl.InvalidArgument, match=r"\.tocsr\(\)"):
        hitl.Pool.from_array(sp.coo_matrix(X))
    with hitl.Pool(200) as dense:
        with pytest.raises(hitl.InvalidArgument, match="pool is dense"):
            dense.add(X)


TEXTS = [
    ("the refund has not arrived and I want my money back", 0),
    ("charged twice on my card please refund the payment", 0),
    ("billing error on the invoice, money taken twice", 0),
    ("my package never arrived, tracking shows nothing", 1),
    ("delivery is late and the courier lost the parcel", 1),
    ("the parcel arrived damaged, box crushed in shipping", 1),
    ("cannot log in, password reset email never comes", 2),
    ("the app crashes when I open my account settings", 2),
    ("login fails with an error after the update", 2),
]


def test_tfidf_loop():
    text = pytest.importorskip("sklearn.feature_extraction.text")
    rng = np.random.default_rng(1)
    docs, y = [], []
    words = [t.split() for t, _ in TEXTS]
    for _ in range(300):                     # noisy variants of the examples
        j = int(rng.integers(len(TEXTS)))
        w = [x for x in words[j] if rng.random() < 0.7]
        docs.append(" ".join(w) or words[j][0])
        y.append(TEXTS[j][1])
    y = np.array(y)
    X = text.TfidfVectorizer().fit_transform(docs)    # scipy CSR, float64
    with hitl.Pool.from_array(X) as pool, \
            hitl.LogisticRegression(X.shape[1], 3, C=10.0) as model:
        strategy = hitl.Strategy("entropy", seed=0)
        first = hitl.query(strategy, model, pool, 6)  # cold start: diverse
        label(pool, y, first.indices)
        for _ in range(4):
            model.fit(pool)
            q = hitl.query(strategy, model, pool, 6)
            label(pool, y, q.indices)
        model.fit(pool)
        acc = (model.predict_proba(X).argmax(axis=1) == y).mean()
        assert acc > 0.8


def test_sparse_fit_matches_sklearn():
    lm = pytest.importorskip("sklearn.linear_model")
    X, y = data(n=400, dim=2000, seed=5)      # most columns unused by any row
    with hitl.Pool.from_array(X) as pool:
        for i in range(400):
            pool.set_label(i, int(y[i]))
        model = hitl.LogisticRegression(2000, 3, C=4.0).set_params(tol=1e-8,
                                                                   max_iter=2000)
        model.fit(pool)
        ref = lm.LogisticRegression(C=4.0, tol=1e-10, max_iter=10000).fit(X, y)
        diff = np.abs(model.predict_proba(X) - ref.predict_proba(X)).max()
        assert diff < 1e-4, diff
        model.close()


def test_estimator_takes_sparse_rows():
    """LogisticRegression as a scikit-learn classifier: fit/predict on CSR
    (other sparse formats converted) as on the same rows dense."""
    X, y = data(n=300, dim=150, seed=7)
    a = hitl.LogisticRegression(C=2.0).fit(X, y)
    b = hitl.LogisticRegression(C=2.0).fit(X.toarray(), y)
    assert np.abs(a.predict_proba(X.tocsc()) - b.predict_proba(X.toarray())).max() < 1e-5
    assert np.array_equal(a.predict(X), b.predict(X.toarray()))
    np.testing.assert_allclose(a.decision_function(X), b.decision_function(X.toarray()),
                               rtol=1e-5, atol=1e-5)
