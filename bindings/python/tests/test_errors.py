"""Bad input raises the right exception, with the library's message, and the
objects stay as they were and usable."""
import numpy as np
import pytest

import hitl
from conftest import blobs, label_first


def _fitted(pool, y, k=3):
    label_first(pool, y, 60)
    return hitl.LogisticRegression(pool.dim, k).fit(pool)


def test_exception_hierarchy():
    assert issubclass(hitl.InvalidArgument, ValueError)
    assert issubclass(hitl.NumericError, ValueError)
    assert issubclass(hitl.FormatError, ValueError)
    assert issubclass(hitl.OutOfMemory, MemoryError)
    assert issubclass(hitl.StateError, RuntimeError)
    assert issubclass(hitl.CallbackError, RuntimeError)
    assert issubclass(hitl.FileIOError, OSError)
    assert issubclass(hitl.NotFound, KeyError)
    for cls in hitl.errors.STATUS_CLASSES.values():
        assert issubclass(cls, hitl.Error)
        assert hitl.error_class(cls.status) is cls


def test_message_is_the_libraries(small):
    pool, X, _ = small
    bad = X[:5].copy()
    bad[3, 2] = np.nan
    with pytest.raises(hitl.NumericError) as e:
        pool.add(bad)
    assert e.value.status == hitl.Status.ENUMERIC
    # the detail names the function, row and column (hitl_error_message)
    assert "hitl_pool_add" in str(e.value)
    assert "3" in str(e.value) and "2" in str(e.value)
    assert str(e.value) == hitl.ffi.string(hitl.lib.hitl_error_message()).decode()


@pytest.mark.parametrize("bad", [
    np.array([["a"] * 6] * 3),                      # strings
    np.ones((3, 6), dtype=np.complex64),            # complex
    np.array([[object()] * 6] * 3, dtype=object),   # objects
])
def test_wrong_dtype(small, bad):
    pool, X, _ = small
    n = len(pool)
    with pytest.raises(hitl.InvalidArgument, match="dtype"):
        pool.add(bad)
    assert len(pool) == n
    pool.add(X[:2])
    assert len(pool) == n + 2


@pytest.mark.parametrize("shape", [(6,), (4, 5), (4, 7), (2, 3, 6), (0,)])
def test_wrong_shape(small, shape):
    pool, X, y = small
    n = len(pool)
    with pytest.raises(hitl.InvalidArgument, match="shape"):
        pool.add(np.zeros(shape, np.float32))
    model = _fitted(pool, y)
    with pytest.raises(hitl.InvalidArgument, match="shape"):
        model.predict_proba(np.zeros(shape, np.float32))
    assert len(pool) == n
    assert model.predict_proba(X[:3]).shape == (3, 3)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_and_inf(small, value):
    pool, X, y = small
    model = _fitted(pool, y)
    before = model.predict_proba(X[:4])
    bad = X[:4].copy()
    bad[1, 5] = value
    n = len(pool)
    with pytest.raises(hitl.NumericError):
        pool.add(bad)
    with pytest.raises(hitl.NumericError):
        pool.borrow(bad)
    with pytest.raises(hitl.NumericError):
        model.predict_proba(bad)
    assert len(pool) == n
    np.testing.assert_array_equal(model.predict_proba(X[:4]), before)
    with pytest.raises(hitl.InvalidArgument):
        pool.set_weight(0, value)


def test_unknown_item_id(small):
    pool, X, y = small
    with hitl.Feedback(pool) as fb:
        with pytest.raises(hitl.NotFound) as e:
            fb.label(10**9, 1)
        assert "hitl_feedback_label" in str(e.value)
        with pytest.raises(hitl.NotFound):
            fb.skip(10**9)
        with pytest.raises(hitl.NotFound):
            pool.find(10**9)
        assert 10**9 not in pool and 5 in pool
        # label_many checks every id before recording any answer
        with pytest.raises(hitl.NotFound):
            fb.label_many([1, 2, 10**9], [0, 1, 2])
        assert len(fb) == 0
        assert pool.count(hitl.ItemState.LABELED) == 0
        fb.label(3, 2)
        assert pool.item(3) == (3, hitl.ItemState.LABELED, 2)
        assert len(fb) == 1


def test_bad_ids(small):
    pool, X, _ = small
    n = len(pool)
    with pytest.raises(hitl.InvalidArgument):
        pool.add(X[:3], ids=[1, 2])                  # wrong length
    with pytest.raises(hitl.InvalidArgument):
        pool.add(X[:3], ids=[-1, 2**40, 2**41])      # negative
    with pytest.raises(hitl.InvalidArgument):
        pool.add(X[:2], ids=[5000, 5000])            # duplicate (library)
    with pytest.raises(hitl.InvalidArgument):
        pool.add(X[:2], ids=[0.5, 2.5])              # not integers
    assert len(pool) == n
    pool.add(X[:2], ids=[5000, 5001])
    assert pool.find(5001) == n + 1


def test_bad_indices_labels_and_states(small):
    pool, _, _ = small
    for call in (lambda: pool.set_label(len(pool), 0),
                 lambda: pool.set_label(-1, 0),
                 lambda: pool.set_label(0, -3),
                 lambda: pool.item(len(pool)),
                 lambda: pool.row(10**6),
                 lambda: pool.set_state(0, 99),
                 lambda: pool.set_state(0, "labeled"),      # has no label
                 lambda: pool.count("nonsense"),
                 lambda: pool.set_weight(0, 0.0),
                 lambda: pool.set_label("x", 0)):
        with pytest.raises(hitl.InvalidArgument):
            call()
    assert pool.count(hitl.ItemState.UNLABELED) == len(pool)


def test_model_state_errors(small):
    pool, X, y = small
    model = hitl.LogisticRegression(6, 3)
    with pytest.raises(hitl.StateError):
        model.predict_proba(X[:2])                   # not fitted
    with pytest.raises(hitl.StateError):
        model.fit(pool)                              # nothing labeled
    # nothing labeled: not an error, the cold-start batch
    assert len(hitl.Strategy("entropy").query(model, pool, 5).ids) == 5
    with pytest.raises(hitl.StateError):
        model.get_coef()
    pool.set_label(0, 7)                             # >= n_classes
    with pytest.raises(hitl.InvalidArgument, match="0|7"):
        model.fit(pool)
    assert not model.fitted
    with pytest.raises(hitl.StateError, match="not fitted"):
        hitl.Strategy("entropy").query(model, pool, 5)   # labeled, not fitted
    pool.set_state(0, hitl.ItemState.UNLABELED)
    label_first(pool, y, 40)
    model.fit(pool)
    assert model.fitted


def test_model_argument_errors(small):
    pool, X, y = small
    model = _fitted(pool, y)
    coef = model.get_coef()
    for call in (lambda: model.set_param("l2", -1.0),
                 lambda: model.set_param("tol", 0.0),
                 lambda: model.set_param("max_iter", 1.5),
                 lambda: model.set_param("seed", 1),       # a strategy's
                 lambda: model.set_param("no_such", 1),
                 lambda: model.info("nonsense"),
                 lambda: hitl.LogisticRegression(0, 3),
                 lambda: hitl.LogisticRegression(6, 1),
                 lambda: hitl.LogisticRegression(6, 3, l2=-1),
                 lambda: model.predict_proba_pool(pool, first=len(pool) + 1, n=1)):
        with pytest.raises(hitl.InvalidArgument):
            call()
    with hitl.Pool(5) as other:
        other.add(np.ones((3, 5)))
        other.set_label(0, 1)
        with pytest.raises(hitl.InvalidArgument):
            model.fit(other)                         # dim differs
        with pytest.raises(hitl.InvalidArgument):
            hitl.query(hitl.Strategy("margin"), model, other, 1)
    np.testing.assert_array_equal(model.get_coef()[0], coef[0])
    assert model.get_param("l2") == 1.0


def test_serialization_errors(small, tmp_path):
    pool, X, y = small
    model = _fitted(pool, y)
    data = model.to_bytes()
    for bad in (data[:-1], data[:10], b"", b"\0" * len(data),
                data[:20] + bytes([data[20] ^ 1]) + data[21:]):
        with pytest.raises((hitl.FormatError, hitl.InvalidArgument)):
            hitl.Model.from_bytes(bad)
    with pytest.raises(hitl.FormatError):
        hitl.Model.from_bytes(data[:-1])
    with pytest.raises(hitl.FileIOError):
        hitl.Model.load(tmp_path / "missing.hitl")
    with pytest.raises(hitl.FileIOError):
        model.save(tmp_path / "no" / "such" / "dir" / "m.hitl")
    custom = hitl.CustomModel(_Const(), 6, 3, trained=True)
    with pytest.raises(hitl.InvalidArgument):
        custom.to_bytes()
    assert hitl.Model.from_bytes(data).to_bytes() == data


class _Const:
    def predict_proba(self, X):
        return np.full((len(X), 3), 1 / 3)


def test_strategy_errors(small):
    pool, X, y = small
    with pytest.raises(hitl.InvalidArgument):
        hitl.Strategy("no-such-strategy")
    with pytest.raises(hitl.InvalidArgument):
        hitl.Strategy(999)
    s = hitl.Strategy("margin", seed=3)
    with pytest.raises(hitl.InvalidArgument):
        s.set_param("l2", 1.0)                       # a model's
    with pytest.raises(hitl.InvalidArgument):
        s.set_param("seed", -1)
    assert len(s.query(None, pool, 3).ids) == 3     # nothing labeled: cold start
    model = _fitted(pool, y)
    with pytest.raises(hitl.InvalidArgument):
        s.query(None, pool, 3)                       # margin needs a model now
    with pytest.raises(hitl.InvalidArgument):
        s.query(model, pool, 0)
    assert s.seed == 3
    assert len(s.query(model, pool, 3).ids) == 3


def test_closed_objects(small):
    pool, X, y = small
    model = _fitted(pool, y)
    fb = hitl.Feedback(pool)
    s = hitl.Strategy("random")
    model.close()
    model.close()                                    # idempotent
    s.close()
    with pytest.raises(hitl.StateError, match="closed"):
        model.predict_proba(X[:1])
    with pytest.raises(hitl.StateError, match="closed"):
        s.query(None, pool, 1)
    pool.close()                                     # closes the feedback first
    assert fb.closed and pool.closed
    with pytest.raises(hitl.StateError):
        fb.label(0, 0)
    with pytest.raises(hitl.StateError):
        len(pool)
    assert "closed" in repr(pool)


def test_python_argument_checks():
    with pytest.raises(hitl.InvalidArgument):
        hitl.Pool(-1)
    with pytest.raises(hitl.InvalidArgument):
        hitl.Pool("3")
    with pytest.raises(hitl.InvalidArgument):
        hitl.Pool(0)                                 # library: dim is 0
    with hitl.Pool(2) as pool:
        with pytest.raises(hitl.InvalidArgument):
            pool.borrow(np.ones((3, 2)))             # float64: would copy
        with pytest.raises(hitl.InvalidArgument):
            pool.borrow(np.ones((3, 2), np.float32, order="F"))
        assert len(pool) == 0
        X, _ = blobs(10, 2, 2, seed=1)
        pool.borrow(X)
        assert len(pool) == 10
