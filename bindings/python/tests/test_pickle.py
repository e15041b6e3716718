"""pickle and copy.deepcopy: every handle that can be rebuilt behaves like
the original afterwards (same predictions, same next query)."""
import copy
import pickle

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLogReg

import hitl
from conftest import blobs


def roundtrips(obj):
    yield pickle.loads(pickle.dumps(obj))
    yield copy.deepcopy(obj)


def same_pool(a, b):
    assert (a.dim, len(a), a.n_classes) == (b.dim, len(b), b.n_classes)
    for get in ("ids", "states", "labels", "weights", "rows"):
        assert np.array_equal(getattr(a, get)(), getattr(b, get)()), get
    for state in hitl.ItemState:
        assert a.count(state) == b.count(state)


@pytest.fixture
def loop():
    X, y = blobs(300, 5, 3, seed=11)
    pool = hitl.Pool.from_array(X, ids=np.arange(1000, 1300))
    pool.n_classes = 3
    pool.set_labels(np.arange(0, 300, 10), y[::10])
    pool.set_state(1, "skipped")
    pool.set_weights([0, 10], [2.0, 0.5])
    model = hitl.LogisticRegression(5, 3, l2=0.3, max_iter=80).fit(pool)
    return X, y, pool, model


def test_pool(loop):
    X, y, pool, model = loop
    for copy_ in roundtrips(pool):
        same_pool(pool, copy_)
        copy_.set_label(2, 1)                 # independent of the original
        assert pool.item(2).label == -1
        assert copy_.find(1005) == 5


def test_borrowed_pool_pickles_its_rows():
    X, _ = blobs(40, 3, 2, seed=2)
    pool = hitl.Pool.from_array(X, borrow=True)
    clone = pickle.loads(pickle.dumps(pool))
    X[0, 0] = 99.0                 # the caller's array is not the copy's
    assert clone.row(0)[0] != 99.0 and pool.row(0)[0] == 99.0


def test_empty_pool():
    for copy_ in roundtrips(hitl.Pool(4)):
        assert len(copy_) == 0 and copy_.dim == 4


def test_model_and_strategy_give_the_same_next_query(loop):
    X, y, pool, model = loop
    for kind in ("margin", "entropy", "random", "default"):
        strategy = hitl.Strategy(kind, seed=5)
        want = strategy.query(model, pool, 7)
        for s2, m2, p2 in zip(roundtrips(strategy), roundtrips(model),
                              roundtrips(pool)):
            assert s2.kind == strategy.kind
            assert s2.get_params() == strategy.get_params()
            got = s2.query(m2, p2, 7)
            assert np.array_equal(got.indices, want.indices), kind
            assert np.array_equal(got.scores, want.scores)


def test_model(loop):
    X, y, pool, model = loop
    unfitted = hitl.LogisticRegression(5, 3, C=2.0)
    for m2 in roundtrips(model):
        assert type(m2) is type(model) and m2.get_params() == model.get_params()
        assert np.array_equal(m2.predict_proba(X), model.predict_proba(X))
        assert m2.n_iter == model.n_iter
    for m2 in roundtrips(unfitted):
        assert not m2.fitted and m2.get_params() == unfitted.get_params()
        m2.fit(pool)          # and it still learns


def test_custom_model(loop):
    X, y, pool, model = loop
    est = SkLogReg(max_iter=200)
    custom = hitl.CustomModel(est, 5, 3).fit(pool)
    for m2 in roundtrips(custom):
        assert m2.fitted and m2.estimator is not est
        assert np.array_equal(m2.predict_proba(X), custom.predict_proba(X))
        q1 = hitl.query(hitl.Strategy("entropy"), custom, pool, 5)
        q2 = hitl.query(hitl.Strategy("entropy"), m2, pool, 5)
        assert np.array_equal(q1.indices, q2.indices)
        pool.set_label(3, 2)
        m2.fit(pool)                            # fit still reaches it
        assert m2.estimator.coef_.shape == (3, 5)
    trained = hitl.CustomModel(est, 5, 3, trained=True)
    assert pickle.loads(pickle.dumps(trained))._trained


def test_custom_model_needs_a_picklable_estimator():
    class Local:
        def fit(self, X, y):
            pass

        def predict_proba(self, X):
            return np.full((len(X), 2), 0.5)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(hitl.CustomModel(Local(), 2, 2))


def test_committee(loop):
    X, y, pool, model = loop
    extra = hitl.LogisticRegression(5, 3, l2=5.0)
    committee = hitl.Committee(5, 3, l2=(0.1, 1.0), models=[extra],
                               bootstrap=1, seed=4)
    committee.fit(pool)
    strategy = hitl.Strategy("qbc_vote_entropy")
    want = hitl.query(strategy, committee, pool, 6)
    for c2 in roundtrips(committee):
        assert len(c2) == 3 and c2.get_params() == committee.get_params()
        assert np.array_equal(c2.predict_proba(X), committee.predict_proba(X))
        assert np.array_equal(hitl.query(strategy, c2, pool, 6).indices,
                              want.indices)
        c2.fit(pool)                            # same seed, same refit
        assert np.array_equal(c2.predict_proba(X), committee.fit(pool).predict_proba(X))


def test_router(loop):
    X, y, pool, model = loop
    router = hitl.Router(3, target=0.9, level=0.9)
    router.calibrate(model.predict_proba(X), y)
    router.temperature = 1.5
    want = router.route(model.predict_proba(X))
    for r2 in roundtrips(router):
        assert r2.get_params() == router.get_params()
        got = r2.route(model.predict_proba(X))
        assert np.array_equal(got.accept, want.accept)
        assert np.array_equal(got.confidence, want.confidence)


def test_feedback_refuses_and_says_why(loop, tmp_path):
    X, y, pool, model = loop
    fresh = copy.deepcopy(pool)
    fb = hitl.Feedback(pool)
    path = str(tmp_path / "answers.journal")
    fb.open_journal(path)
    fb.label(1100, 2)
    for fn in (pickle.dumps, copy.deepcopy, copy.copy):
        with pytest.raises(TypeError, match="journal"):
            fn(fb)
    fb.close()
    # what the message suggests works
    again = hitl.Feedback(fresh).open_journal(path)
    assert len(again) == 1 and fresh.item(100).label == 2
    again.close()


def test_closed_handles_refuse(loop):
    X, y, pool, model = loop
    model.close()
    with pytest.raises(hitl.StateError, match="closed"):
        pickle.dumps(model)
