"""Expected gradient length from Python: the query's scores equal a numpy
sum over labels of the logistic loss's gradient norms."""
import numpy as np
import pytest

import hitl


def direct_egl(P, X, intercept=True):
    Xt = np.hstack([X, np.ones((len(X), 1))]) if intercept else X
    out = np.zeros(len(X))
    K = P.shape[1]
    for y in range(K):
        R = P.astype(np.float64) - np.eye(K)[y]              # (n, K)
        G = R[:, :, None] * Xt[:, None, :]                  # (n, K, d+1) gradients
        out += P[:, y] * np.sqrt((G ** 2).sum(axis=(1, 2)))
    return out


def test_scores_match_direct_gradient_norms():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 6)).astype(np.float32)
    pool = hitl.Pool.from_array(X)
    for i in range(0, 400, 8):
        pool.set_label(i, int(rng.integers(4)))
    model = hitl.LogisticRegression(dim=6, n_classes=4).fit_pool(pool)
    r = hitl.query(hitl.Strategy("expected_gradient_length"), model, pool, k=50)
    P = model.predict_proba(X)
    want = direct_egl(P[r.indices], X[r.indices].astype(np.float64))
    np.testing.assert_allclose(r.scores, want, rtol=1e-5)
    everything = direct_egl(P, X.astype(np.float64))
    everything[::8] = -1                                    # labeled
    assert np.all(r.scores[-1] >= np.sort(everything)[-50] * (1 - 1e-5))


def test_committee_refused():
    X = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    pool = hitl.Pool.from_array(X)
    pool.set_label(0, 0)
    pool.set_label(1, 1)
    c = hitl.Committee(3, 2)
    c.add_logreg()
    c.fit(pool)
    with pytest.raises(hitl.InvalidArgument):
        hitl.query(hitl.Strategy("expected_gradient_length"), c, pool, k=5)
