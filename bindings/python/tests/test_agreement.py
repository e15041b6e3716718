"""Agreement metrics from Python: scikit-learn's Cohen's kappa, Fleiss' own
worked example, and numpy implementations of the formulas in hitl.h."""
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

import hitl


def test_cohen_kappa_matches_sklearn():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 500)
    b = np.where(rng.random(500) < 0.7, a, rng.integers(0, 4, 500))
    got = hitl.cohen_kappa(a, b)
    assert abs(got - cohen_kappa_score(a, b)) < 1e-12
    assert hitl.cohen_kappa(a, a) == 1.0
    with pytest.raises(hitl.StateError):
        hitl.cohen_kappa([1, 1, 1], [1, 1, 1])           # p_e = 1
    with pytest.raises(hitl.InvalidArgument):
        hitl.cohen_kappa([0, 1], [0, 1, 1])
    with pytest.raises(hitl.InvalidArgument):
        hitl.cohen_kappa([0, 5], [0, 1], n_classes=2)


# Fleiss (1971), the example on Wikipedia's "Fleiss' kappa" page: 10 items,
# 14 raters each, 5 categories; kappa = 0.210.
FLEISS_TABLE = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])


def ratings_from_table(table):
    item, rater, label = [], [], []
    for u, row in enumerate(table):
        r = 0
        for c, count in enumerate(row):
            for _ in range(count):
                item.append(u)
                rater.append(r)
                label.append(c)
                r += 1
    return np.array(item), np.array(rater), np.array(label)


def fleiss_ref(table):
    table = np.asarray(table, float)
    N, m = table.shape[0], table[0].sum()
    P_u = ((table ** 2).sum(axis=1) - m) / (m * (m - 1))
    p = table.sum(axis=0) / (N * m)
    Pe = (p ** 2).sum()
    return (P_u.mean() - Pe) / (1 - Pe)


def test_fleiss_kappa_worked_example():
    assert abs(hitl.fleiss_kappa_counts(FLEISS_TABLE) - 0.210) < 1e-3
    assert abs(hitl.fleiss_kappa_counts(FLEISS_TABLE) - fleiss_ref(FLEISS_TABLE)) < 1e-12
    item, rater, label = ratings_from_table(FLEISS_TABLE)
    assert abs(hitl.fleiss_kappa(item, rater, label) - fleiss_ref(FLEISS_TABLE)) < 1e-12
    with pytest.raises(hitl.InvalidArgument):
        hitl.fleiss_kappa_counts(FLEISS_TABLE[:, :4])   # rows sum differently
    with pytest.raises(hitl.InvalidArgument):
        hitl.fleiss_kappa(item[1:], rater[1:], label[1:])


def krippendorff_ref(item, label, K):
    n_uc = {}
    for u, c in zip(item, label):
        n_uc.setdefault(u, np.zeros(K))[c] += 1
    rows = [r for r in n_uc.values() if r.sum() >= 2]
    n = sum(r.sum() for r in rows)
    Do = sum((r.sum() ** 2 - (r ** 2).sum()) / (r.sum() - 1) for r in rows) / n
    nc = sum(rows)
    De = (n ** 2 - (nc ** 2).sum()) / (n * (n - 1))
    return 1 - Do / De


def test_krippendorff_alpha_matches_formula():
    rng = np.random.default_rng(3)
    item, rater, label = [], [], []
    for u in range(120):
        truth = rng.integers(0, 3)
        for r in rng.choice(6, size=rng.integers(1, 5), replace=False):
            item.append(u)
            rater.append(r)
            label.append(truth if rng.random() < 0.75 else rng.integers(0, 3))
    got = hitl.krippendorff_alpha(item, rater, label)
    assert abs(got - krippendorff_ref(item, label, 3)) < 1e-12
    with pytest.raises(hitl.InvalidArgument):                # pair twice
        hitl.krippendorff_alpha([0, 0], [1, 1], [0, 1])


def test_accuracy_against_a_reference():
    item = [1, 1, 2, 2, 3, 3, 9]
    rater = [10, 11, 10, 11, 10, 11, 10]
    label = [0, 1, 2, 2, 1, 0, 1]
    acc, n = hitl.accuracy([10, 11, 12], item, rater, label,
                           ref_item=[1, 2, 3], ref_label=[0, 2, 1])
    np.testing.assert_array_equal(acc[:2], [1.0, 1 / 3])
    assert np.isnan(acc[2])
    assert n.tolist() == [3, 3, 0]


def test_feedback_answers_feed_the_metrics():
    X = np.zeros((6, 1), np.float32)
    with hitl.Pool.from_array(X) as pool, hitl.Feedback(pool) as fb:
        for u, (a, b) in enumerate([(0, 0), (1, 1), (1, 0), (2, 2), (0, 0), (2, 1)]):
            fb.label(u, a, annotator=1)
            fb.label(u, b, annotator=2)
        items, raters, labels = fb.answers()
        la, lb = labels[raters == 1], labels[raters == 2]
        assert abs(hitl.cohen_kappa(la, lb) - cohen_kappa_score(la, lb)) < 1e-12
        assert np.isfinite(hitl.fleiss_kappa(items, raters, labels))
        assert np.isfinite(hitl.krippendorff_alpha(items, raters, labels))
