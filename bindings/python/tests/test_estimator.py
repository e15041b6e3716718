"""hitl.LogisticRegression as a scikit-learn classifier: C means what it
means in scikit-learn, the estimator checks pass, and the model selection
tools work with it."""
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression as SkLR
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import hitl
from conftest import blobs

# Checks of sklearn.utils.estimator_checks that cannot run here, and why.
# Every other check must pass.
SKIPPED_CHECKS = {
    "check_sample_weights_pandas_series":
        "needs pandas, which this test environment does not have (the check "
        "raises SkipTest)",
    "check_classifier_data_not_an_array":
        "needs pandas, as above",
}


def _check_name(check):
    return getattr(check, "func", check).__name__


def test_check_estimator():
    ran = 0
    for est, check in check_estimator(hitl.LogisticRegression(),
                                      generate_only=True):
        name = _check_name(check)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                check(est)
            ran += 1
        except Exception as exc:            # SkipTest included
            if name not in SKIPPED_CHECKS:
                raise AssertionError("%s failed: %r" % (name, exc)) from exc
    assert ran > 40


def _sk(C, X, y, **kw):
    # newton-cg converges to ||grad|| <= tol; lbfgs stops early on a flat
    # objective (see test_model.py).  float64: scikit-learn fits float32 X
    # in float32.
    return SkLR(C=C, solver="newton-cg", tol=1e-10, max_iter=1000,
                **kw).fit(X.astype(np.float64), y)


@pytest.mark.parametrize("C", [0.01, 1.0, 30.0])
@pytest.mark.parametrize("K", [2, 5])
def test_parity_with_sklearns_C(C, K):
    X, y = blobs(400, 7, K, seed=30 + K)
    Xt, _ = blobs(300, 7, K, seed=77)
    ours = hitl.LogisticRegression(C=C, tol=1e-9).fit(X, y)
    ref = _sk(C, X, y)
    np.testing.assert_allclose(ours.predict_proba(Xt), ref.predict_proba(Xt),
                               atol=1e-4, rtol=0)
    np.testing.assert_array_equal(ours.predict(Xt), ref.predict(Xt))
    # multiclass scores are unique up to a shift per row (unpenalised
    # intercepts): compare them centred
    d, r = ours.decision_function(Xt), ref.decision_function(Xt)
    if K > 2:
        d, r = d - d.mean(axis=1, keepdims=True), r - r.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(d, r, atol=1e-3 * max(1, np.abs(r).max()), rtol=0)
    assert ours.coef_.shape == ref.coef_.shape
    assert ours.intercept_.shape == ref.intercept_.shape


def test_parity_with_sample_weight():
    X, y = blobs(300, 5, 2, seed=5)
    w = np.random.default_rng(2).uniform(0.0, 3.0, size=len(y))
    w[::7] = 0.0                                 # zero weights drop the rows
    ours = hitl.LogisticRegression(C=0.3, tol=1e-9).fit(X, y, sample_weight=w)
    ref = SkLR(C=0.3, solver="newton-cg", tol=1e-10).fit(
        X.astype(np.float64), y, sample_weight=w)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X),
                               atol=1e-4, rtol=0)


def test_string_labels_round_trip():
    X, y = blobs(200, 4, 3, seed=9)
    names = np.array(["ham", "spam", "eggs"])
    clf = hitl.LogisticRegression().fit(X, names[y])
    assert list(clf.classes_) == ["eggs", "ham", "spam"]      # sorted, as sklearn
    pred = clf.predict(X)
    assert pred.dtype.kind == "U" and set(pred) <= set(names)
    assert clf.score(X, names[y]) > 0.8
    ref = _sk(1.0, X, names[y])
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X),
                               atol=1e-4, rtol=0)
    # floats with integral values (a pandas column with a NaN somewhere
    # else) are classes; continuous values are not
    f = hitl.LogisticRegression().fit(X, y.astype(np.float64))
    assert f.classes_.dtype.kind == "f" and list(f.classes_) == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="Unknown label type"):
        hitl.LogisticRegression().fit(X, y + 0.5)


def test_model_selection_tools():
    X, y = blobs(240, 6, 3, seed=12)
    clf = hitl.LogisticRegression(C=2.0, max_iter=200)
    c = clone(clf)
    assert c is not clf and c.get_params() == clf.get_params()
    assert type(c.get_params()["max_iter"]) is int
    pipe = make_pipeline(StandardScaler(), hitl.LogisticRegression())
    assert pipe.fit(X, y).score(X, y) > 0.8
    scores = cross_val_score(hitl.LogisticRegression(), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.7
    grid = GridSearchCV(pipe, {"logisticregression__C": [0.01, 1.0]}, cv=3)
    grid.fit(X, y)
    assert grid.best_params_["logisticregression__C"] in (0.01, 1.0)
    assert grid.best_estimator_.predict(X).shape == (240,)


def test_pickle_and_positional_construction():
    X, y = blobs(150, 4, 2, seed=3)
    clf = hitl.LogisticRegression(C=0.5).fit(X, np.array(["a", "b"])[y])
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    assert list(copy.classes_) == ["a", "b"] and copy.get_params() == clf.get_params()
    # the pre-0.2 form: dim and n_classes given, labels are class indices,
    # and the C model exists before any fit (strategies can use it)
    old = hitl.LogisticRegression(4, 2, C=0.5)
    assert old.dim == 4 and old.n_classes == 2 and not old.fitted
    pool = hitl.Pool.from_array(X)
    for i in range(20):
        pool.set_label(i, int(y[i]))
    old.fit(pool)                                   # fit(pool) is fit_pool(pool)
    assert list(old.classes_) == [0, 1] and old.n_features_in_ == 4
    with pytest.raises(ValueError, match="n_classes=2"):
        hitl.LogisticRegression(4, 2).fit(X, y + 1)


def test_refused_inputs():
    X, y = blobs(50, 3, 2, seed=1)
    # sparse rows are taken (test_sparse.py), not refused
    with pytest.raises(ValueError, match="1 class"):
        hitl.LogisticRegression().fit(X, np.zeros(50))
    with pytest.raises(hitl.NotFittedError):
        hitl.LogisticRegression().predict(X)
    with pytest.raises(ValueError, match="inconsistent"):
        hitl.LogisticRegression().fit(X, y[:-1])


@pytest.mark.parametrize("cls", [hitl.LogisticRegression, hitl.CustomModel,
                                 hitl.Model, hitl.ActiveLearner])
def test_help_says_threads_borrowing_and_shows_an_example(cls):
    doc = cls.__doc__
    assert "Thread-safety" in doc and "Borrowed" in doc
    # a three-line example, indented as a code block
    example = [line for line in doc.splitlines() if line.startswith("        ")
               and "=" in line or line.startswith("        ") and "(" in line]
    assert len(example) >= 3, doc


def test_set_params_refused_by_the_library_changes_nothing():
    clf = hitl.LogisticRegression(3, 2, C=2.0, max_iter=50)
    with pytest.raises(hitl.InvalidArgument):
        clf.set_params(max_iter=100, tol=-1.0)
    assert clf.get_params()["max_iter"] == 50 and clf.get_params()["tol"] == 1e-6
    assert clf.get_param("max_iter") == 50 and clf.get_param("l2") == 1.0
    clf.set_params(C=4.0)                  # a binary model: lambda = 2/C
    assert clf.get_param("l2") == 0.5


def test_grid_search_in_worker_processes():
    X, y = blobs(150, 4, 3, seed=13)
    grid = GridSearchCV(hitl.LogisticRegression(threads=1), {"C": [0.1, 10.0]},
                        cv=3, n_jobs=2).fit(X, y)
    assert grid.best_estimator_.score(X, y) > 0.7
