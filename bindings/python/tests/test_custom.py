"""Python estimators as libhitl models (extern "Python" callbacks)."""
import threading

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLR
from sklearn.neighbors import KNeighborsClassifier

import hitl
from conftest import blobs


def test_sklearn_estimator_drives_a_full_loop(digits):
    X, y = digits
    Xtr, ytr, Xte, yte = X[:1200], y[:1200], X[1200:], y[1200:]
    est = SkLR(C=10.0, max_iter=2000)
    with hitl.Pool.from_array(Xtr, borrow=True) as pool:
        rng = np.random.default_rng(3)
        start = rng.choice(len(Xtr), size=20, replace=False)
        for i in start:
            pool.set_label(int(i), int(ytr[i]))
        with hitl.ActiveLearner(est, "margin", pool, n_classes=10) as learner:
            assert isinstance(learner.model, hitl.CustomModel)
            assert learner.model.get_param("threads") == 1
            first = learner.score(Xte, yte)
            asked = set()
            for _ in range(12):
                idx, ids, scores = learner.query(pool, 10)
                assert not asked & set(ids.tolist())
                asked |= set(ids.tolist())
                # margin scores are the estimator's margins
                P = np.sort(est.predict_proba(Xtr[idx]), axis=1)
                np.testing.assert_allclose(scores, P[:, -1] - P[:, -2],
                                           atol=1e-6)
                learner.teach(ids, ytr[idx])          # the "person" answers
            assert pool.count("labeled") == 140
            assert est.n_features_in_ == 64 and len(est.classes_) == 10
            last = learner.score(Xte, yte)
            assert last > first and last > 0.85
            # what libhitl scores with is the estimator's own predict_proba
            np.testing.assert_allclose(learner.predict_proba(Xte),
                                       est.predict_proba(Xte), atol=1e-6)


def test_missing_classes_get_zero_probability():
    X, y = blobs(200, 4, 5, seed=12)
    est = SkLR()
    with hitl.Pool.from_array(X) as pool, \
            hitl.CustomModel(est, 4, 5) as model:
        seen = [i for i in range(200) if y[i] in (1, 3)][:30]
        for i in seen:
            pool.set_label(i, int(y[i]))
        model.fit(pool)
        assert list(est.classes_) == [1, 3]
        P = model.predict_proba(X[:10])
        assert P.shape == (10, 5)
        np.testing.assert_array_equal(P[:, [0, 2, 4]], 0)
        np.testing.assert_allclose(P[:, [1, 3]], est.predict_proba(X[:10]),
                                   atol=1e-6)


def test_estimator_that_keeps_its_training_data():
    # k-NN stores X from fit: the bindings must hand it a copy, not memory
    # that libhitl frees after the callback returns
    X, y = blobs(300, 3, 3, seed=5)
    est = KNeighborsClassifier(n_neighbors=3)
    with hitl.Pool.from_array(X) as pool, hitl.CustomModel(est, 3, 3) as model:
        for i in range(60):
            pool.set_label(i, int(y[i]))
        model.fit(pool)
        np.testing.assert_array_equal(est._fit_X, X[:60])
        for _ in range(3):
            hitl.Strategy("entropy").query(model, pool, 5)
        np.testing.assert_array_equal(est._fit_X, X[:60])
        assert model.predict(X[:60]).shape == (60,)


class Flaky:
    """predict_proba/fit raise on demand; remembers what it raised."""

    def __init__(self, k=3, fail_fit=False, fail_predict=False):
        self.k, self.fail_fit, self.fail_predict = k, fail_fit, fail_predict
        self.raised = []
        self.calls = 0

    def fit(self, X, y):
        if self.fail_fit:
            exc = ZeroDivisionError("fit failed on purpose")
            self.raised.append(exc)
            raise exc
        self.fitted = True

    def predict_proba(self, X):
        self.calls += 1
        if self.fail_predict:
            exc = LookupError("predict failed on call %d" % self.calls)
            self.raised.append(exc)
            raise exc
        return np.full((len(X), self.k), 1.0 / self.k)


def test_exception_in_predict_surfaces_unchanged(small):
    pool, X, y = small
    est = Flaky()
    with hitl.CustomModel(est, 6, 3) as model:
        for i in range(10):
            pool.set_label(i, int(y[i]))
        model.fit(pool)
        est.fail_predict = True
        for call in (lambda: model.predict_proba(X[:5]),
                     lambda: model.predict_proba_pool(pool),
                     lambda: hitl.Strategy("entropy").query(model, pool, 3)):
            with pytest.raises(LookupError) as e:
                call()
            assert e.value is est.raised[-1]        # the very same object
            assert not isinstance(e.value, hitl.Error)
        # the model and pool stay usable
        est.fail_predict = False
        assert hitl.Strategy("entropy").query(model, pool, 3).scores.shape == (3,)
        assert model.predict_proba(X[:2]).shape == (2, 3)


def test_exception_in_fit_surfaces_unchanged(small):
    pool, X, y = small
    est = Flaky(fail_fit=True)
    with hitl.CustomModel(est, 6, 3) as model:
        pool.set_label(0, 1)
        with pytest.raises(ZeroDivisionError) as e:
            model.fit(pool)
        assert e.value is est.raised[0]
        assert "fit()" in "".join(getattr(e.value, "__notes__", ["fit()"]))
        assert not model.fitted
        est.fail_fit = False
        model.fit(pool)
        assert model.fitted


def test_keyboard_interrupt_in_callback_is_kept(small):
    pool, X, y = small

    class Interrupting(Flaky):
        def predict_proba(self, X):
            raise KeyboardInterrupt

    with hitl.CustomModel(Interrupting(), 6, 3, trained=True) as model:
        with pytest.raises(KeyboardInterrupt):
            model.predict_proba(X[:3])


def test_bad_callback_output_is_reported(small):
    pool, X, y = small

    class Wrong:
        def __init__(self, out):
            self.out = out

        def predict_proba(self, X):
            return self.out(len(X))

    cases = [lambda n: np.ones((n, 2)),                 # wrong shape: ValueError
             lambda n: np.full((n, 3), np.nan),         # library rejects NaN
             lambda n: -np.ones((n, 3))]                # negative
    errors = [ValueError, hitl.CallbackError, hitl.CallbackError]
    for out, err in zip(cases, errors):
        with hitl.CustomModel(Wrong(out), 6, 3, trained=True) as model:
            with pytest.raises(err):
                model.predict_proba(X[:4])
            model.estimator.out = lambda n: np.ones((n, 3))
            np.testing.assert_allclose(model.predict_proba(X[:4]), 1 / 3)


def test_trained_model_predicts_without_fit(small):
    pool, X, y = small
    est = SkLR().fit(X, y)
    with hitl.CustomModel(est, 6, 3, trained=True) as model:
        np.testing.assert_allclose(model.predict_proba(X[:20]),
                                   est.predict_proba(X[:20]), atol=1e-6)
        r = hitl.Strategy("least_confident").query(model, pool, 4)
        assert len(r.ids) == 4


def test_sample_weights_reach_the_estimator(small):
    pool, X, y = small

    class Weighted(Flaky):
        def fit(self, X, y, sample_weight=None):
            self.w = sample_weight

    class Unweighted(Flaky):
        pass

    for i in range(5):
        pool.set_label(i, int(y[i]))
    pool.set_weight(2, 4.0)
    est = Weighted()
    with hitl.CustomModel(est, 6, 3) as model:
        model.fit(pool)
        np.testing.assert_array_equal(est.w, [1, 1, 4, 1, 1])
        assert est.w.dtype == np.float64
        pool.set_weight(2, 1.0)             # all ones: no weights passed
        model.fit(pool)
        assert est.w is None
    pool.set_weight(2, 4.0)
    est = Unweighted()
    with hitl.CustomModel(est, 6, 3) as model:
        with pytest.warns(RuntimeWarning, match="sample_weight"):
            model.fit(pool)
        import warnings
        with warnings.catch_warnings():      # said once
            warnings.simplefilter("error")
            model.fit(pool)
    pool.set_weight(2, 1.0)


def test_weights_for_sgd_and_pipelines(small):
    """The usual text model (SGDClassifier with log loss) and a Pipeline
    take the weights: float64, routed to the pipeline's last step."""
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    pool, X, y = small
    for i in range(60):
        pool.set_label(i, int(y[i]))
    pool.set_weight(3, 2.5)
    sgd = SGDClassifier(loss="log_loss", random_state=0)
    with hitl.CustomModel(sgd, 6, 3) as model:
        model.fit(pool)
        assert model.predict_proba(X[:4]).shape == (4, 3)
    seen = {}

    class Recording(SkLR):
        def fit(self, X, y, sample_weight=None):
            seen["w"] = sample_weight
            return super().fit(X, y, sample_weight=sample_weight)

    pipe = Pipeline([("scale", StandardScaler()), ("lr", Recording(max_iter=300))])
    with hitl.CustomModel(pipe, 6, 3) as model:
        model.fit(pool)
        assert seen["w"].dtype == np.float64 and seen["w"][3] == 2.5
        np.testing.assert_allclose(model.predict_proba(X[:5]), pipe.predict_proba(X[:5]),
                                   atol=1e-6)
    pool.set_weight(3, 1.0)


def test_callbacks_from_library_threads():
    """With threads > 1 libhitl may call predict_proba from its worker
    threads; the callback takes the GIL and results equal threads=1."""
    X, y = blobs(20000, 8, 4, seed=17)
    est = SkLR(max_iter=500).fit(X[:500], y[:500])
    seen = set()

    class Recording:
        classes_ = est.classes_

        def predict_proba(self, Xb):
            seen.add(threading.get_ident())
            return est.predict_proba(Xb)

    with hitl.Pool.from_array(X, borrow=True) as pool:
        got = []
        for threads in (1, 2):
            with hitl.CustomModel(Recording(), 8, 4, threads=threads,
                                  trained=True) as model:
                model.set_param("block_rows", 512)
                got.append(hitl.Strategy("margin").query(model, pool, 50))
        np.testing.assert_array_equal(got[0].indices, got[1].indices)
        np.testing.assert_allclose(got[0].scores, got[1].scores)

        # an exception raised on a worker thread still surfaces unchanged
        class Failing(Recording):
            def predict_proba(self, Xb):
                raise ArithmeticError("from thread %d" % threading.get_ident())

        with hitl.CustomModel(Failing(), 8, 4, threads=2, trained=True) as model:
            model.set_param("block_rows", 512)
            with pytest.raises(ArithmeticError, match="from thread"):
                hitl.Strategy("margin").query(model, pool, 50)


def test_not_a_model():
    with pytest.raises(hitl.InvalidArgument, match="predict_proba"):
        hitl.CustomModel(object(), 3, 2)
    with pytest.raises(hitl.InvalidArgument, match="fit"):
        hitl.CustomModel(type("P", (), {"predict_proba": lambda s, X: X})(), 3, 2)
