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


# ---- costs, capacity, budget, small samples, the detector, report() -------

def test_cost_decision_is_the_argmin():
    P, _ = noisy_set(300, 4, seed=7)
    rng = np.random.default_rng(3)
    C = rng.uniform(0, 5, size=(4, 4))
    np.fill_diagonal(C, 0)
    with hitl.Router(4, costs=C, decision="cost", score="cost",
                     threshold=0.5) as r:
        np.testing.assert_array_equal(r.costs, C)
        out = r.route(P)
        expected = P.astype(np.float64) @ C          # [i, c] = sum_y p_y C[y][c]
        chosen = expected[np.arange(len(P)), out.labels]
        assert np.all(chosen <= expected.min(axis=1) + 1e-9)
        np.testing.assert_allclose(out.confidence, 1 - chosen / C.max(), atol=1e-5)


@pytest.mark.parametrize("bad, err", [
    (-np.eye(3), hitl.InvalidArgument),
    (np.full((3, 3), np.nan), hitl.NumericError),
    (np.zeros((3, 4)), hitl.InvalidArgument),
    (np.zeros(9), ValueError),
])
def test_bad_cost_matrices(bad, err):
    with hitl.Router(3) as r:
        with pytest.raises(err):
            r.costs = bad
        np.testing.assert_array_equal(r.costs, 1 - np.eye(3))


def test_capacity_reviews_the_least_confident():
    P, y = noisy_set(1000, 3, seed=2)
    with hitl.Router(3, mode="capacity", capacity=0.25) as r:
        out = r.route(P)
        assert out.n_accepted == 750
        assert out.confidence[~out.accept].max() <= out.confidence[out.accept].min()
        r.evaluate(P, y)
        assert r.info("review_rate") == 0.25
        with pytest.raises(hitl.InvalidArgument):
            r.set_param("capacity", 1.5)


def test_budget_keeps_the_mean_expected_cost():
    P, _ = noisy_set(2000, 3, seed=4)
    with hitl.Router(3, mode="budget", cost_budget=0.1) as r:
        out = r.route(P)
        assert out.n_accepted > 0
        assert np.mean(1 - out.confidence[out.accept].astype(np.float64)) <= 0.1 + 1e-6


def test_small_sample_says_what_it_needs():
    P = np.tile(np.array([[0.999, 0.001]], dtype=np.float32), (200, 1))
    y = np.zeros(200, dtype=np.int32)
    with hitl.Router(2) as r:
        r.calibrate(P, y)
        assert r.info("target_met") == 0 and r.info("needed") == 99
        r.set_param("fallback", 1)
        r.calibrate(P, y)
        assert r.info("point_estimate") == 1
        assert r.route(P).n_accepted == 200


def test_detector_and_report_table(tmp_path):
    rng = np.random.default_rng(5)
    n, k = 1200, 3
    y = rng.integers(0, k, size=n)
    X = (rng.normal(size=(n, 2)) + np.stack([1.2 * y, (y == 1) * 1.0], 1)).astype(np.float32)
    with hitl.Pool(2) as pool, hitl.LogisticRegression(2, k) as m, hitl.Router(k) as r:
        pool.add(X)
        for i in range(700):
            pool.set_label(i, int(y[i]))
        m.fit(pool)
        for i in range(700, n):
            pool.set_label(i, int(y[i]))
        r.fit_detector(m, pool, 700)
        assert r.info("detector_active") == 1
        conf_curve = r.report(model=m, pool=pool, first=700)
        r.set_param("score", "detector")
        det_curve = r.report(model=m, pool=pool, first=700)
        assert det_curve.n == 500 and det_curve.n_errors == conf_curve.n_errors
        assert "errors caught" in str(det_curve)
        assert np.all(np.diff(det_curve.errors_caught) >= 0)
        P = m.predict_proba(X[700:])
        r.set_param("score", "confidence")
        curve = r.report(P, y[700:])
        np.testing.assert_allclose(curve.errors_caught, conf_curve.errors_caught)
        png = det_curve.plot(str(tmp_path / "review.png"),
                             others={"confidence": conf_curve})
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_detector_with_a_committee():
    rng = np.random.default_rng(8)
    n, k = 1200, 3
    y = rng.integers(0, k, size=n)
    X = (rng.normal(size=(n, 2)) + np.stack([1.2 * y, (y == 1) * 1.0], 1)).astype(np.float32)
    with hitl.Pool(2) as pool, hitl.LogisticRegression(2, k) as m, \
            hitl.Committee(2, k, l2=(0.5, 1.0, 2.0)) as com, \
            hitl.Router(k, score="detector") as r:
        pool.add(X)
        for i in range(700):
            pool.set_label(i, int(y[i]))
        m.fit(pool)
        com.fit(pool)
        for i in range(700, n):
            pool.set_label(i, int(y[i]))
        r.committee = com
        assert r.committee is com
        r.fit_detector(m, pool, 700)
        assert r.info("detector_active") == 1
        with_com = r.route_pool(m, pool, 700).confidence
        r.committee = None
        with pytest.raises(hitl.InvalidArgument, match="committee"):
            r.route_pool(m, pool, 700)
        with hitl.Committee(2, k + 1, l2=(1.0,)) as other:
            with pytest.raises(hitl.InvalidArgument):
                r.committee = other
        r.fit_detector(m, pool, 700)
        assert not np.array_equal(with_com, r.route_pool(m, pool, 700).confidence)
