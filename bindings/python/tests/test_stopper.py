"""Stopping criteria from Python: a loop through update(), the same rounds
through observe(), a numpy reference of stabilizing predictions and
classification change, and errors."""
import numpy as np
import pytest

import hitl


def kappa(a, b, K):
    if np.array_equal(a, b):
        return 1.0
    po = np.mean(a == b)
    pe = sum(np.mean(a == c) * np.mean(b == c) for c in range(K))
    return (po - pe) / (1 - pe)


def settling_rounds(R, n, K, seed):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(n, K))
    for t in range(R):
        z = (1 + 0.3 * t) * truth + rng.normal(scale=2 / (1 + 0.3 * t * t), size=(n, K))
        P = np.exp(z - z.max(axis=1, keepdims=True))
        yield (P / P.sum(axis=1, keepdims=True)).astype(np.float32)


def test_observe_matches_numpy_reference():
    tables = list(settling_rounds(30, 300, 4, seed=2))
    s = hitl.Stopper(4, window=3, kappa=0.99)
    for P in tables:
        s.observe(P)
    labels = [P.argmax(axis=1) for P in tables]
    kap = [kappa(labels[t - 1], labels[t], 4) for t in range(1, 30)]
    sp = next((t + 1 for t in range(3, 30)
               if np.mean(kap[t - 3:t]) >= 0.99), 0)
    cc = next((t + 1 for t in range(1, 30)
               if np.array_equal(labels[t], labels[t - 1])), 0)
    assert s.fired("stabilizing_predictions") == sp
    assert s.fired("classification_change") == cc
    assert sp > 0 and cc > 0
    assert s.info("rounds") == 30


def test_loop_with_heldout():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(900, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    pool = hitl.Pool.from_array(X[:700])
    model = hitl.LogisticRegression(dim=5, n_classes=3)
    s = hitl.Stopper(3, budget=200).set_heldout(X[700:], y[700:])
    fired = set()
    for r in range(20):
        for i in range(r * 12, r * 12 + 12):
            pool.set_label(i, int(y[i]))
        model.fit_pool(pool)
        fired = s.update(model, pool)
    assert "budget" in fired and s.fired("budget") == 17   # 17 x 12 >= 200
    assert s.info("stop_set") == 700 - 12                  # unlabeled at round 1
    assert 0.5 < s.info("accuracy") <= 1
    assert set(s.fired()) == {c.name.lower() for c in hitl.StopCriterion}
    assert s.report()["rounds"] == 20


def test_errors():
    with pytest.raises(hitl.InvalidArgument):
        hitl.Stopper(1)
    s = hitl.Stopper(2)
    with pytest.raises(hitl.InvalidArgument):
        s.set_param("kappa", 2)
    with pytest.raises(hitl.NumericError):
        s.observe(np.array([[np.nan, 1]], dtype=np.float32))
    s.observe(np.array([[0.5, 0.5]], dtype=np.float32), accuracy=0.5)
    with pytest.raises(hitl.InvalidArgument):
        s.observe(np.full((2, 2), 0.5, dtype=np.float32))
    with pytest.raises(hitl.StateError):
        s.set_param("window", 2)
    assert s.get_params()["set_size"] == 1000
