"""hitl.evaluate: the simulated loop's curves, table and picture."""
import pickle

import numpy as np
import pytest

import hitl
from conftest import blobs


@pytest.fixture(scope="module")
def data():
    X, y = blobs(240, 5, 3, seed=21, spread=2.5)
    names = np.array(["ant", "bee", "cat"])[y]      # any hashable labels
    return X, names


@pytest.fixture(scope="module")
def result(data):
    X, y = data
    return hitl.evaluate(X, y, ["random", "margin"], budget=40, batch=10,
                         seeds=[0, 1], test_size=0.25, progress=False)


def test_curves(result):
    assert result.strategies == ["random", "margin"] and result.seeds == [0, 1]
    assert list(result.classes) == ["ant", "bee", "cat"]
    for s in result.strategies:
        for seed in result.seeds:
            labels, acc = result.curves[s][seed]
            assert list(labels) == [10, 20, 30, 40]
            assert acc.shape == (4,) and np.all((acc >= 0) & (acc <= 1))
        assert result.area(s) > 0.5
    assert all(0.8 < r <= 1 for r in result.reference.values())
    rows = result.rows()
    assert len(rows) == 2 * 2 * 4
    assert set(rows[0]) == {"strategy", "seed", "labels", "accuracy"}


def test_reproducible(data, result):
    X, y = data
    again = hitl.evaluate(X, y, ["random", "margin"], budget=40, batch=10,
                          seeds=[0, 1], progress=False)
    for s in result.strategies:
        for seed in result.seeds:
            assert np.array_equal(again.curves[s][seed][1],
                                  result.curves[s][seed][1])


def test_labels_to_reach_and_table(result):
    reach = result.labels_to_reach(0.0)
    assert reach == {"random": [10, 10], "margin": [10, 10]}
    assert result.labels_to_reach(1.01) == {"random": [None, None],
                                            "margin": [None, None]}
    assert result.target == pytest.approx(
        0.95 * np.mean(list(result.reference.values())))
    text = str(result)
    assert "margin" in text and "labels to reach" in text
    pickle.loads(pickle.dumps(result))


def test_plot_writes_a_png(result, tmp_path):
    pytest.importorskip("matplotlib")
    path = str(tmp_path / "curves.png")
    assert result.plot(path) == path
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_models_and_strategy_objects(data):
    from sklearn.naive_bayes import GaussianNB
    X, y = data
    s = hitl.Strategy("entropy")
    for model in (hitl.LogisticRegression(5, 3, l2=0.1), GaussianNB(),
                  lambda dim, k: hitl.LogisticRegression(dim, k)):
        r = hitl.evaluate(X, y, [s, "entropy"], budget=20, batch=10,
                          seeds=3, model=model, progress=False)
        assert r.strategies == ["entropy", "entropy'"]
        assert len(r.curves["entropy"][3][1]) == 2


def test_budget_beyond_the_pool(data):
    X, y = data
    r = hitl.evaluate(X[:40], y[:40], "random", budget=1000, batch=16,
                      seeds=[0], progress=False)
    labels = r.curves["random"][0][0]
    n_test = sum(int(round(0.25 * c)) for c in
                 np.unique(y[:40], return_counts=True)[1])
    assert labels[-1] == 40 - n_test       # every pool item got labeled
    assert list(labels[:-1]) == list(range(16, 40 - n_test, 16))


@pytest.mark.parametrize("kwargs, message", [
    (dict(test_size=0), "test_size"),
    (dict(budget=0), "budget"),
    (dict(batch=2.5), "batch"),
    (dict(strategies=[]), "strategies is empty"),
    (dict(strategies=["nope"]), "unknown strategy kind"),
    (dict(model=3), "model must be"),
])
def test_bad_arguments(data, kwargs, message):
    X, y = data
    with pytest.raises(hitl.InvalidArgument, match=message):
        hitl.evaluate(X, y, **kwargs)


def test_bad_data():
    with pytest.raises(hitl.InvalidArgument, match="2 classes"):
        hitl.evaluate(np.zeros((5, 2)), [1] * 5)
    with pytest.raises(hitl.InvalidArgument, match="3 labels"):
        hitl.evaluate(np.zeros((5, 2)), [0, 1, 0])


def test_progress_bar(data, capsys):
    pytest.importorskip("tqdm")
    X, y = data
    hitl.evaluate(X, y, "random", budget=20, batch=10, seeds=[0],
                  progress=True)
    assert "hitl.evaluate" in capsys.readouterr().err
    hitl.evaluate(X, y, "random", budget=20, batch=10, seeds=[0])
    assert capsys.readouterr().err == ""        # short run: no bar
