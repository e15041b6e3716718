"""Stream selection from Python: decisions against numpy implementations of
hitl.h's rules, batch independence, scoring rows and pool items, IWAL
weights reaching the pool, pickling mid-stream, and errors."""
import pickle

import numpy as np
import pytest

import hitl


def stream_probs(n, K, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, K)) * rng.uniform(0, 6, size=(n, 1))
    P = np.exp(z - z.max(axis=1, keepdims=True))
    return (P / P.sum(axis=1, keepdims=True)).astype(np.float32)


def variable_reference(P, b=0.1, s=0.01, w=100):
    """Zliobaite et al.'s variable uncertainty with the spending estimate."""
    u, theta, out = 0.0, 1.0, []
    for c in P.max(axis=1).astype(np.float64):
        a = False
        if u / w < b:
            a = c < theta
            theta *= (1 - s) if a else (1 + s)
        u = u * (w - 1) / w + a
        out.append(a)
    return np.array(out)


def quantile_reference(P, b=0.1, w=100, wtol=50):
    """Kottke et al.'s balanced incremental quantile filter."""
    hist, asked, out = [], 0, []
    for t, c in enumerate(P.max(axis=1).astype(np.float64), start=1):
        hist = (hist + [1 - c])[-w:]
        theta = np.quantile(hist, 1 - b)
        bal = theta - (max(hist) - min(hist)) * (b * t - asked) / wtol
        a = 1 - c >= bal
        asked += a
        out.append(a)
    return np.array(out)


def test_rules_match_numpy_references():
    P = stream_probs(4000, 4, seed=3)
    with hitl.Stream("variable_uncertainty") as s:
        np.testing.assert_array_equal(s.decide(P).ask, variable_reference(P))
    with hitl.Stream("quantile_filter", budget=0.2) as s:
        np.testing.assert_array_equal(s.decide(P).ask, quantile_reference(P, b=0.2))


@pytest.mark.parametrize("kind", [k.name.lower() for k in hitl.StreamKind])
def test_batches_and_pickling_do_not_change_decisions(kind):
    P = stream_probs(3000, 3, seed=5)
    whole = hitl.Stream(kind, seed=9).decide(P)
    s = hitl.Stream(kind, seed=9)
    first = s.decide(P[:1234])
    s2 = pickle.loads(pickle.dumps(s))
    assert s2.kind == s.kind and s2.report() == s.report()
    rest = s2.decide(P[1234:])
    np.testing.assert_array_equal(np.concatenate([first.ask, rest.ask]), whole.ask)
    np.testing.assert_array_equal(np.concatenate([first.weight, rest.weight]),
                                  whole.weight)
    assert s2.info("asked") == whole.n_asked == whole.ask.sum()


def test_rate_follows_budget():
    P = stream_probs(30000, 5, seed=1)
    for kind in ("variable_uncertainty", "randomized_uncertainty", "split",
                 "quantile_filter"):
        d = hitl.Stream(kind, budget=0.05).decide(P)
        rates = d.ask[1000:].reshape(-1, 1000).mean(axis=1)
        assert np.all(np.abs(rates - 0.05) <= 0.01), (kind, rates)


def test_rows_pool_and_iwal_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)
    pool = hitl.Pool.from_array(X)
    model = hitl.LogisticRegression(dim=6, n_classes=3)
    # unfitted: every item maximally uncertain, decided anyway
    d0 = hitl.Stream("iwal").decide_rows(model, X[:10])
    assert d0.ask.all() and np.all(d0.weight == 1)
    for i in range(0, 600, 4):
        pool.set_label(i, int(y[i]))
    model.fit_pool(pool)
    P = model.predict_proba(X)
    a = hitl.Stream("iwal", seed=2).decide(P)
    b = hitl.Stream("iwal", seed=2).decide_rows(model, X)
    np.testing.assert_array_equal(a.ask, b.ask)
    np.testing.assert_array_equal(a.weight, b.weight)
    c = hitl.Stream("iwal", seed=2).decide_pool(model, pool)
    np.testing.assert_array_equal(a.ask, c.ask)
    assert c.weight is None
    w = np.array([pool.weight(i) for i in range(600)])
    np.testing.assert_array_equal(w[a.ask], a.weight[a.ask])
    assert a.weight[a.ask].max() > 1          # some items were asked with p < 1


def test_errors():
    with pytest.raises(hitl.InvalidArgument):
        hitl.Stream("no_such_kind")
    s = hitl.Stream("split")
    with pytest.raises(hitl.InvalidArgument):
        s.set_param("budget", 0)
    with pytest.raises(hitl.InvalidArgument):
        s.set_param("l2", 1.0)
    with pytest.raises(hitl.NumericError):
        s.decide(np.array([[0.5, np.nan]], dtype=np.float32))
    assert s.info("seen") == 0
    with pytest.raises(hitl.FormatError):
        hitl.Stream.from_bytes(s.to_bytes()[:-1])
    s.decide(np.full((5, 2), 0.5, dtype=np.float32))
    with pytest.raises(hitl.StateError):
        s.set_param("window", 10)
    s.add_loss(1.0, 2.0)
    with pytest.raises(hitl.InvalidArgument):
        s.add_loss(2.0)
    assert s.get_params()["budget"] == pytest.approx(0.1)
