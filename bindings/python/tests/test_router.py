"""Routing by confidence, against numpy implementations of hitl.h's rules
("Routing"), and through a model and pool."""
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import hitl

TINY = np.float64(np.finfo(np.float32).smallest_subnormal)


def scaled(P, T):
    L = np.log(np.maximum(P.astype(np.float64), TINY)) / T
    L -= L.max(axis=1, keepdims=True)
    Q = np.exp(L)
    return Q / Q.sum(axis=1, keepdims=True)


def nll(P, y, T):
    return -np.mean(np.log(scaled(P, T)[np.arange(len(y)), y]))


def noisy_set(n, K, seed, sharp=4.0):
    """Over-confident probabilities and labels that follow them loosely."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=sharp, size=(n, K))
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    P = (P / P.sum(axis=1, keepdims=True)).astype(np.float32)
    soft = scaled(P, 2.5)                        # the truth is softer
    y = np.array([rng.choice(K, p=row) for row in soft])
    return P, y


def test_route_follows_the_rule():
    P, _ = noisy_set(500, 4, seed=1)
    with hitl.Router(4, threshold=0.8, temperature=1.7) as r:
        out = r.route(P)
        conf = scaled(P, 1.7).max(axis=1)
        np.testing.assert_array_equal(out.labels, P.argmax(axis=1))
        np.testing.assert_allclose(out.confidence, conf, rtol=1e-6)
        np.testing.assert_array_equal(out.accept, conf >= 0.8)
        assert out.accept.dtype == np.bool_ and out.n_accepted == (conf >= 0.8).sum()
        assert r.threshold == 0.8 and r.get_params()["temperature"] == 1.7
    with hitl.Router(4) as fresh:                    # +Inf: review everything
        assert fresh.route(P).n_accepted == 0
        with pytest.raises(hitl.StateError):
            fresh.info("n")                          # no report yet


def test_temperature_minimises_the_nll():
    P, y = noisy_set(2000, 5, seed=2)
    with hitl.Router(5) as r:
        r.fit_temperature(P, y)
        T = r.temperature
        best = minimize_scalar(lambda t: nll(P, y, t), bounds=(0.01, 100),
                               method="bounded", options={"xatol": 1e-10})
        assert abs(T - best.x) < 1e-4 * best.x
        rep = r.report()
        assert abs(rep["nll"] - nll(P, y, T)) < 1e-6
        assert abs(rep["nll_raw"] - nll(P, y, 1.0)) < 1e-6
        assert rep["nll"] < rep["nll_raw"] and rep["ece"] < rep["ece_raw"]


def test_calibrate_point_rule():
    P, y = noisy_set(3000, 3, seed=3)
    with hitl.Router(3, target=0.9, level=0) as r:
        r.calibrate(P, y)
        conf = P.astype(np.float64).max(axis=1)
        correct = P.argmax(axis=1) == y
        # smallest observed confidence whose accepted set has precision >= P
        best = np.inf
        for t in np.unique(conf):
            acc = conf >= t
            if acc.any() and correct[acc].mean() >= 0.9:
                best = min(best, t)
        assert r.threshold == pytest.approx(best, abs=1e-7)
        assert r.info("target_met") == 1
        assert r.info("precision") >= 0.9
        assert r.info(hitl.RouterInfo.N) == 3000


def test_route_through_model_and_pool(digits):
    X, y = digits
    with hitl.Pool.from_array(X, borrow=True) as pool, \
            hitl.LogisticRegression(64, 10, C=1.0) as model:
        for i in range(600):
            pool.set_label(i, int(y[i]))
        model.fit(pool)
        for i in range(600, 1200):                   # held-out labeled block
            pool.set_label(i, int(y[i]))
        with hitl.Router(10, target=0.97, level=0.9) as r:
            r.fit_temperature_pool(model, pool, 600, 600)
            r.calibrate_pool(model, pool, 600, 600)
            r.evaluate_pool(model, pool, 600, 600)
            out = r.route_pool(model, pool, 1200)
            assert len(out.accept) == len(X) - 1200
            direct = r.route(model.predict_proba(X[1200:]))
            np.testing.assert_array_equal(out.accept, direct.accept)
            np.testing.assert_array_equal(out.labels, direct.labels)
            acc = out.accept
            if acc.any():
                assert (out.labels[acc] == y[1200:][acc]).mean() > 0.9


def test_router_errors():
    with pytest.raises(hitl.InvalidArgument):
        hitl.Router(1)
    with hitl.Router(3) as r:
        with pytest.raises(hitl.InvalidArgument):
            r.set_param("target", 1.5)
        with pytest.raises(hitl.InvalidArgument):
            r.route(np.ones((4, 2), np.float32))           # 2 columns
        with pytest.raises(hitl.InvalidArgument):
            r.route(np.full((2, 3), 0.5, np.float32))      # rows sum to 1.5
        bad = np.full((2, 3), 1 / 3, np.float32)
        bad[1, 1] = np.nan
        with pytest.raises(hitl.NumericError):
            r.route(bad)
        with pytest.raises(hitl.InvalidArgument):
            r.calibrate(np.full((2, 3), 1 / 3), [0, 3])    # label out of range
        with pytest.raises(hitl.InvalidArgument):
            r.calibrate(np.full((2, 3), 1 / 3), [0])       # length
        assert r.get_param("threshold") == np.inf
