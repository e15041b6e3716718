"""The objects one to one with the C API: pools, feedback, lifetimes."""
import gc
import threading

import numpy as np
import pytest

import hitl
from conftest import blobs, label_first


def test_pool_basics():
    X, _ = blobs(10, 3, 2, seed=0)
    with hitl.Pool(3) as pool:
        assert len(pool) == 0 and pool.dim == 3 and pool.size == 0
        assert pool.add(X[:4]) == range(0, 4)
        assert pool.add(X[4:], ids=range(100, 106)) == range(4, 10)
        assert len(pool) == 10
        assert pool.item(5) == hitl.Item(101, hitl.ItemState.UNLABELED, -1)
        assert pool.find(3) == 3 and pool.find(105) == 9
        pool.set_label(2, 1)
        assert pool.item(2) == (2, hitl.ItemState.LABELED, 1)
        assert pool.count("labeled") == 1 and pool.count() == 9
        pool.set_state(2, hitl.ItemState.SKIPPED)
        assert pool.item(2).state == hitl.ItemState.SKIPPED
        assert pool.item(2).label == -1
        assert pool.count(hitl.ItemState.SKIPPED) == 1
        np.testing.assert_array_equal(pool.row(7), X[7])
        assert pool.weight(7) == 1.0
        pool.set_weight(7, 2.5)
        assert pool.weight(7) == 2.5
        pool.set_state(7, "skipped")                 # survives state changes
        assert pool.weight(7) == 2.5
        assert "size=10" in repr(pool)


def test_feedback_updates_the_pool():
    X, _ = blobs(8, 2, 2, seed=0)
    pool = hitl.Pool.from_array(X, ids=[10 * i for i in range(8)])
    fb = hitl.Feedback(pool)
    fb.label(30, 1, annotator=7)
    fb.skip(40, annotator=7)
    fb.label_many([50, 60], np.array([0, 1]))
    assert len(fb) == 4 and fb.count == 4
    assert pool.item(3) == (30, hitl.ItemState.LABELED, 1)
    assert pool.item(4).state == hitl.ItemState.SKIPPED
    assert pool.count("labeled") == 3
    with pytest.raises(hitl.InvalidArgument):
        fb.label_many([1, 2], [0])
    with pytest.raises(hitl.InvalidArgument):
        fb.label_many([0, 10], [0, -1])
    with pytest.raises(hitl.InvalidArgument):
        fb.label(0, -1)
    assert len(fb) == 4
    del pool                     # the feedback keeps the pool alive
    gc.collect()
    fb.label(70, 0)
    assert fb.pool.item(7).label == 0
    fb.pool.close()
    assert fb.closed


def test_garbage_collection_order_is_safe():
    # Feedback and pool become garbage together, in any order: the pool's C
    # handle is freed after the feedback's.
    for _ in range(200):
        pool = hitl.Pool(2)
        pool.add(np.ones((2, 2)))
        fbs = [hitl.Feedback(pool) for _ in range(3)]
        fbs.append(fbs)          # a reference cycle for the collector
        del pool, fbs
    gc.collect()


def test_enums_are_intenums():
    assert hitl.Status.EINVAL == hitl.lib.HITL_EINVAL == -1
    assert hitl.Param.L2 == 100 and hitl.Param.SEED == 200
    assert hitl.ItemState.LABELED == 1
    assert hitl.StrategyKind.ENTROPY == hitl.lib.HITL_STRATEGY_ENTROPY
    assert hitl.Info.GRAD_NORM == 2
    assert hitl.enum_value(hitl.Param, "max-iter", "p") is hitl.Param.MAX_ITER


def test_learner_needs_what_it_wraps():
    with pytest.raises(hitl.InvalidArgument, match="no fit method"):
        hitl.ActiveLearner(object(), "margin")
    learner = hitl.ActiveLearner(hitl.LogisticRegression(2, 2), "margin")
    with pytest.raises(hitl.InvalidArgument, match="pool"):
        learner.query(k=3)
    with pytest.raises(hitl.InvalidArgument, match="pool"):
        learner.teach([0], [1])


def test_concurrent_reads_from_python_threads(small):
    """Several Python threads query one model and pool at once (each with its
    own strategy): the calls run in C without the GIL and agree."""
    pool, X, y = small
    label_first(pool, y, 50)
    model = hitl.LogisticRegression(6, 3).fit(pool)
    want = hitl.Strategy("entropy").query(model, pool, 20)
    out, errors = [], []

    def work():
        try:
            with hitl.Strategy("entropy") as s:
                for _ in range(20):
                    out.append(s.query(model, pool, 20))
                    model.predict_proba_pool(pool)
        except BaseException as exc:       # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(out) == 80
    for r in out:
        np.testing.assert_array_equal(r.indices, want.indices)


def test_model_kinds_and_repr(small):
    pool, X, y = small
    with pytest.raises(TypeError):
        hitl.Model()
    label_first(pool, y, 30)
    m = hitl.LogisticRegression(6, 3, l2=0.5).fit(pool)
    assert isinstance(m, hitl.Model) and m.fitted and m.n_iter > 0
    assert m.coef_.shape == (3, 6) and m.intercept_.shape == (3,)
    assert m.objective > 0 and m.n_train == 30
    assert repr(m) == "LogisticRegression(dim=6, n_classes=3, l2=0.5)"
    assert repr(hitl.Strategy("margin")) == "<hitl.Strategy margin>"
