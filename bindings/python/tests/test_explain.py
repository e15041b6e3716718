"""Model.explain, explain_pool, counterfactual, Committee.votes and
hitl.explain_proba: figures equal the C library's identities and numpy
recomputations; the readable forms name features and classes."""
import numpy as np
import pytest

import hitl


def _data(n=120, d=6, K=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % K
    X = rng.normal(size=(n, d)).astype(np.float32)
    X[np.arange(n), y] += 2.0
    return X, y


def _fitted(X, y, K):
    pool = hitl.Pool(X.shape[1])
    pool.add(X)
    for i, label in enumerate(y):
        pool.set_label(i, int(label))
    model = hitl.LogisticRegression(X.shape[1], K)
    model.fit_pool(pool)
    return model, pool


def test_explanation_sums_and_names():
    X, y = _data()
    model, pool = _fitted(X, y, 3)
    ex = hitl.Model.explain(model, X, top=3, as_frame=False)
    W, b = model.get_coef()
    for i in range(len(X)):
        for r in range(2):
            c = ex.classes[i, r]
            s = ex.rest[i, r, 0] + ex.contrib[i, r].sum(dtype=np.float64) + ex.rest[i, r, 1]
            assert abs(s - ex.scores[i, c]) <= 1e-5 * (1 + abs(ex.scores[i, c]))
            assert abs(ex.scores[i, c] - (W[c] @ X[i] + b[c])) <= 1e-4
            feats = ex.features[i, r]
            assert np.allclose(ex.contrib[i, r], W[c, feats] * X[i, feats], atol=1e-6)
    assert np.array_equal(ex.proba, model.predict_proba_pool(pool))
    names = ["f%d" % j for j in range(6)]
    ex2 = hitl.Model.explain(model, X[:2], top=2, feature_names=names, as_frame=False)
    assert ex2[0]["toward_predicted"][0][0] in names
    assert "over" in str(ex2)
    pooled = model.explain_pool(pool, 10, 5, top=3, as_frame=False)
    assert np.array_equal(pooled.contrib, ex.contrib[10:15])


def test_dataframe_when_pandas():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    model, _ = _fitted(X, y, 3)
    df = hitl.Model.explain(model, X[:4], top=2, feature_names=list("abcdef"))
    assert isinstance(df, pd.DataFrame)
    assert len(df) == 4
    assert {"predicted", "runner_up", "margin", "toward_predicted"} <= set(df.columns)


def test_sklearn_style_class_names():
    X, y = _data()
    labels = np.array(["billing", "refund", "other"])[y]
    est = hitl.LogisticRegression().fit(X, labels)
    ex = est.explain(X[:3], top=2, as_frame=False)
    assert ex[0]["predicted"] in {"billing", "refund", "other"}


def test_explain_proba_and_votes():
    classes, top2, margin = hitl.explain_proba([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2]])
    assert classes.tolist() == [[1, 2], [0, 1]]
    assert np.allclose(margin, [0.2, 0.0])
    X, y = _data()
    pool = hitl.Pool(6)
    pool.add(X)
    for i, label in enumerate(y):
        pool.set_label(i, int(label))
    com = hitl.Committee(6, 3, l2=(0.1, 1.0, 10.0))
    com.fit(pool)
    v = com.votes(X)
    assert v.shape == (len(X), 3) and (v.sum(axis=1) == 3).all()


def test_counterfactual_flips():
    X, y = _data()
    model, _ = _fitted(X, y, 3)
    x = X[0]
    now = int(model.predict(x[None])[0])
    target = (now + 1) % 3
    xn, dist = model.counterfactual(x, target)
    assert int(model.predict(xn[None])[0]) == target
    assert dist > 0
    xn1, d1 = model.counterfactual(x, target, norm="L2", editable=[0, 1, 2])
    assert np.array_equal(xn1[3:], x[3:]) and d1 >= dist - 1e-9
    with pytest.raises(hitl.StateError):
        model.counterfactual(x, target, editable=[], lower=-1, upper=1)


def test_shown_explanation_is_recorded(tmp_path):
    X, y = _data()
    model, pool = _fitted(X, y, 3)
    ex = hitl.Model.explain(model, X[:1], top=3, as_frame=False)
    row = ex[0]
    fb = hitl.Feedback(pool)
    fb.open_journal(str(tmp_path / "j"))
    eid = fb.record(0, "OVERRIDE", label=(row["predicted"] + 1) % 3, annotator=5,
                    shown_label=row["predicted"], shown_confidence=row["p_predicted"],
                    shown=row["toward_predicted"])
    got = fb.event_shown(eid)
    assert [f for f, _ in got] == [f for f, _ in row["toward_predicted"]]
    assert np.allclose([v for _, v in got], [v for _, v in row["toward_predicted"]])
    fb.close_journal()
    pool2 = hitl.Pool(X.shape[1])
    pool2.add(X)
    fb2 = hitl.Feedback(pool2)
    fb2.open_journal(str(tmp_path / "j"))
    assert fb2.event_shown(eid) == got
