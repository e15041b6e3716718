"""The built-in logistic regression against scikit-learn, the independent
referee: same data, same C, multinomial loss, tight tolerances."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLR

import hitl
from conftest import blobs


def sklearn_reference(X, y, C, fit_intercept=True, sample_weight=None):
    # newton-cg stops on max|gradient| <= tol; scikit-learn's lbfgs also
    # stops on a relative objective change (ftol = 64 eps), which leaves
    # gradients near 1e-4 and probabilities 1e-4 off the optimum at large C.
    # multi_class="auto": multinomial for K > 2, one sigmoid for K = 2 (what
    # LogisticRegression(C=C) means to a scikit-learn user).
    sk = SkLR(C=C, solver="newton-cg", tol=1e-8,
              max_iter=1000, fit_intercept=fit_intercept)
    return sk.fit(X.astype(np.float64), y, sample_weight=sample_weight)


def fit_hitl(X, y, C, **params):
    pool = hitl.Pool.from_array(X)
    for i, label in enumerate(y):
        pool.set_label(i, int(label))
    model = hitl.LogisticRegression(X.shape[1], int(y.max()) + 1, C=C,
                                    tol=1e-8, **params)
    return pool, model.fit(pool)


@pytest.mark.parametrize("C", [0.05, 1.0, 20.0])
@pytest.mark.parametrize("K", [2, 4])
def test_probabilities_match_sklearn(C, K):
    X, y = blobs(300, 10, K, seed=11 + K)
    Xtest, _ = blobs(200, 10, K, seed=99)
    pool, model = fit_hitl(X, y, C)
    sk = sklearn_reference(X, y, C)
    assert model.grad_norm <= 1e-5
    assert model.n_train == 300
    got = model.predict_proba(Xtest)
    np.testing.assert_allclose(got, sk.predict_proba(Xtest), atol=1e-4, rtol=0)
    # the pool path scores the same way
    np.testing.assert_allclose(model.predict_proba_pool(pool),
                               sk.predict_proba(X), atol=1e-4, rtol=0)
    # The solutions: W is unique (L2); the unpenalised intercepts only up to
    # a common shift.  scikit-learn's sigmoid for K = 2 has w = w1 - w0 and
    # ours is symmetric (w1 = -w0 = w/2); coef_ is scikit-learn's shape.
    W, b = model.get_coef()
    skW, skb = sk.coef_, sk.intercept_
    np.testing.assert_allclose(model.coef_, skW,
                               atol=1e-3 * max(1.0, np.abs(skW).max()), rtol=0)
    if K == 2:
        skW, skb = np.vstack([-skW, skW]) / 2, np.concatenate([-skb, skb]) / 2
    tol = 1e-3 * max(1.0, np.abs(W).max())
    np.testing.assert_allclose(W, skW, atol=tol, rtol=0)
    np.testing.assert_allclose(b - b.mean(), skb - skb.mean(), atol=tol, rtol=0)
    pool.close()
    model.close()


def test_digits_match_sklearn(digits):
    X, y = digits
    X, y = X[:600], y[:600]
    pool, model = fit_hitl(X, y, 0.5)
    sk = sklearn_reference(X, y, 0.5)
    np.testing.assert_allclose(model.predict_proba(digits[0][600:900]),
                               sk.predict_proba(digits[0][600:900]),
                               atol=1e-4, rtol=0)
    assert model.n_classes == 10 and model.dim == 64


def test_no_intercept_matches_sklearn():
    X, y = blobs(200, 5, 3, seed=4)
    _, model = fit_hitl(X, y, 2.0, fit_intercept=0)
    sk = sklearn_reference(X, y, 2.0, fit_intercept=False)
    np.testing.assert_allclose(model.predict_proba(X), sk.predict_proba(X),
                               atol=1e-4, rtol=0)
    np.testing.assert_array_equal(model.intercept_, np.zeros(3))


def test_sample_weights_match_sklearn():
    X, y = blobs(250, 6, 3, seed=8)
    w = np.random.default_rng(1).uniform(0.2, 3.0, size=len(y)).astype(np.float32)
    pool, model = fit_hitl(X, y, 1.0)
    for i, wi in enumerate(w):
        pool.set_weight(i, float(wi))
    model.fit(pool)
    sk = sklearn_reference(X, y, 1.0, sample_weight=w.astype(np.float64))
    np.testing.assert_allclose(model.predict_proba(X), sk.predict_proba(X),
                               atol=1e-4, rtol=0)


def test_warm_refit_matches_sklearn():
    X, y = blobs(400, 8, 4, seed=21)
    pool = hitl.Pool.from_array(X)
    model = hitl.LogisticRegression(8, 4, C=1.0, tol=1e-8)
    for n in (40, 120, 400):
        for i in range(n):
            pool.set_label(i, int(y[i]))
        model.fit(pool)
        sk = sklearn_reference(X[:n], y[:n], 1.0)
        np.testing.assert_allclose(model.predict_proba(X), sk.predict_proba(X),
                                   atol=1e-4, rtol=0)
    assert model.get_params()["warm_start"] == 1


def test_params_and_info():
    model = hitl.LogisticRegression(3, 2, C=4.0, max_iter=50, threads=1)
    # binary: scikit-learn's sigmoid at C is lambda = 2/C here
    assert model.get_param("l2") == 0.5 and model.get_param("max_iter") == 50
    assert hitl.LogisticRegression(3, 4, C=4.0).get_param("l2") == 0.25
    p = model.get_params()
    assert p["C"] == 4.0 and p["max_iter"] == 50 and p["threads"] == 1
    assert type(p["max_iter"]) is int and type(p["block_rows"]) is int
    assert set(p) == {"dim", "n_classes", "C", "l2", "fit_intercept", "tol",
                      "max_iter", "warm_start", "threads", "block_rows"}
    model.set_param(hitl.Param.BLOCK_ROWS, 64)
    assert model.get_param("block_rows") == 64
    assert model.info("dim") == 3 and model.info(hitl.Info.N_CLASSES) == 2
    assert not model.fitted and repr(model) == (
        "LogisticRegression(dim=3, n_classes=2, C=4.0, max_iter=50, threads=1)")


def test_defaults_are_the_libraries():
    # the constructor's defaults are shown by get_params: they must be the C
    # library's own
    fresh = hitl.LogisticRegression(3, 3, l2=1.0)
    for name, value in hitl.LogisticRegression().get_params().items():
        if name in ("tol", "max_iter", "fit_intercept", "warm_start", "threads",
                    "block_rows"):
            assert fresh.get_param(name) == value, name


def test_save_load_round_trip(tmp_path):
    X, y = blobs(150, 5, 3, seed=2)
    pool, model = fit_hitl(X, y, 3.0)
    data = model.to_bytes()
    copy = hitl.Model.from_bytes(data)
    np.testing.assert_array_equal(copy.predict_proba(X), model.predict_proba(X))
    # a loaded model's parameters come from the C handle: lambda as l2
    assert copy.get_params() == dict(model.get_params(), l2=1 / 3.0, C=1.0)
    assert copy.get_param("l2") == model.get_param("l2")
    assert copy.grad_norm == model.grad_norm
    path = tmp_path / "m.hitl"
    model.save(path)
    assert path.read_bytes() == data
    again = hitl.Model.load(str(path))
    np.testing.assert_array_equal(again.get_coef()[0], model.get_coef()[0])
    assert isinstance(again, hitl.LogisticRegression)
