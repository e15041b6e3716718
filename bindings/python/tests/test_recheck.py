"""hitl.Recheck / find_label_issues (hitl_recheck) against an independent
numpy implementation of confident learning (cl_reference.py, written from
the paper): the same flagged items in the same order, the same scores,
thresholds and joints, on fixtures with known injected noise."""
import numpy as np
import pytest

import hitl
from hitl import RecheckInfo
import cl_reference as ref
from conftest import blobs


def labeled_pool(X, labels, unlabeled=()):
    pool = hitl.Pool.from_array(X)
    skip = set(unlabeled)
    for i, c in enumerate(labels):
        if i not in skip:
            pool.set_label(i, int(c))
    return pool


def random_proba(rng, n, K, quantum=None, concentration=0.5):
    """Dirichlet rows; with quantum, rounded to multiples of it (many exact
    ties of probabilities, margins and thresholds) keeping the sum 1."""
    p = rng.dirichlet(np.full(K, concentration), size=n)
    if quantum:
        q = np.floor(p / quantum) * quantum
        q[np.arange(n), p.argmax(axis=1)] += 1.0 - q.sum(axis=1)
        p = q
    return p.astype(np.float32)


def same_as_reference(rc, pool, proba, labels, rank_by):
    r = rc.query_proba(proba, pool)
    rows, scores, info = ref.find_label_issues(labels, proba, rank_by)
    labeled = np.array([i for i in range(len(pool))
                        if pool.item(i).state == hitl.ItemState.LABELED])
    np.testing.assert_array_equal(r.indices, labeled[rows])
    np.testing.assert_array_equal(r.scores, scores)
    j = rc.joint()
    np.testing.assert_array_equal(j.joint, info["joint"])
    np.testing.assert_array_equal(j.calibrated, info["calibrated"])
    np.testing.assert_allclose(j.thresholds, info["thresholds"], rtol=1e-12)
    assert rc.info("n_noisy") == info["n_noisy"]
    assert rc.info("n_flagged") == len(rows)
    return r


@pytest.mark.parametrize("K", [2, 3, 5, 10])
@pytest.mark.parametrize("quantum", [None, 1 / 16])
@pytest.mark.parametrize("rank_by", ["self_confidence", "normalized_margin"])
def test_random_tables_match_reference(K, quantum, rank_by):
    """Noisy labels drawn from the rows themselves, so that the confident
    joint has off-diagonal mass; quantised tables test every tie rule."""
    for seed in range(8):
        rng = np.random.default_rng(1000 * K + seed)
        n = int(rng.integers(K * 3, 400))
        proba = random_proba(rng, n, K, quantum)
        truth = np.array([rng.choice(K, p=row / row.sum()) for row in proba])
        labels, _ = ref.flip_labels(truth, 0.2, K, rng)
        unlabeled = rng.choice(n, size=n // 10, replace=False)
        X = rng.normal(size=(n, 2)).astype(np.float32)
        keep = np.setdiff1d(np.arange(n), unlabeled)
        with labeled_pool(X, labels, unlabeled) as pool, \
                hitl.Recheck(rank=rank_by) as rc:
            same_as_reference(rc, pool, proba[keep], labels[keep], rank_by)


def test_class_without_labels():
    """A class no item is labeled with has no threshold (NaN) and no row."""
    rng = np.random.default_rng(5)
    proba = random_proba(rng, 200, 4)
    labels = rng.integers(0, 3, size=200)           # class 3 never given
    X = np.zeros((200, 1), np.float32)
    with labeled_pool(X, labels) as pool, hitl.Recheck() as rc:
        same_as_reference(rc, pool, proba, labels, "self_confidence")
        t, C, Ct = rc.joint()
        assert np.isnan(t[3]) and not np.isnan(t[:3]).any()
        assert Ct[3].sum() == 0


@pytest.mark.parametrize("kind", ["symmetric", "class_conditional"])
@pytest.mark.parametrize("rate", [0.05, 0.1, 0.2])
def test_digits_cross_fit_matches_reference(digits, kind, rate):
    """Digits with known flipped labels: the C queue equals the numpy
    reference on the library's own cross-fit, and it finds the flips."""
    X, y = digits
    rng = np.random.default_rng(int(rate * 100) + (kind == "symmetric"))
    noisy, flipped = ref.flip_labels(y, rate, 10, rng, kind)
    with labeled_pool(X, noisy) as pool, hitl.Recheck(folds=5, seed=3) as rc, \
            hitl.LogisticRegression(64, 10) as m:
        proba = rc.cross_fit(m, pool)
        assert proba.shape == (len(y), 10)
        np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
        r = same_as_reference(rc, pool, proba, noisy, "self_confidence")
        if rate == 0.1:
            q = rc.query(m, pool)
            np.testing.assert_array_equal(q.indices, r.indices)
            assert rc.info(RecheckInfo.FOLDS) == 5
        # at the true noise rate: the first n_flipped of the queue
        top = r.indices[:flipped.sum()]
        precision = flipped[top].mean()
        recall = flipped[r.indices].sum() / flipped.sum()
        assert precision > 0.6 and recall > 0.6, (precision, recall)
        # the noise estimate is near the truth
        assert abs(rc.info("noise_rate") - rate) < 0.06


def test_cross_fit_deterministic_and_stratified(small):
    pool, X, y = small
    for i in range(len(y)):
        pool.set_label(i, int(y[i]))
    with hitl.LogisticRegression(6, 3) as m:
        a = hitl.Recheck(threads=1).cross_fit(m, pool)
        b = hitl.Recheck(threads=3).cross_fit(m, pool)
        c = hitl.Recheck(threads=3, seed=1).cross_fit(m, pool)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
        assert not m.info(hitl.Info.FITTED)


def test_custom_model_cross_fit():
    from sklearn.naive_bayes import GaussianNB
    X, y = blobs(300, 4, 3, seed=2)
    noisy, flipped = ref.flip_labels(y, 0.1, 3, np.random.default_rng(0))
    with labeled_pool(X, noisy) as pool, \
            hitl.CustomModel(GaussianNB(), 4, 3) as m:
        r = hitl.find_label_issues(pool, model=m, folds=4)
        assert len(r.indices) > 0
        assert flipped[r.indices].mean() > 0.7


def test_find_label_issues_and_params(small):
    pool, X, y = small
    for i in range(len(y)):
        pool.set_label(i, int(y[i]))
    proba = random_proba(np.random.default_rng(1), len(y), 3)
    r = hitl.find_label_issues(pool, proba=proba, k=5, rank="normalized_margin")
    assert len(r.indices) <= 5 and r.ids.dtype == np.uint64
    assert np.all(np.diff(r.scores) >= 0)
    rc = hitl.Recheck(folds=7, seed=9, rank=hitl.RecheckRank.NORMALIZED_MARGIN)
    assert rc.get_params() == {"folds": 7, "seed": 9, "rank": 2, "threads": 0}
    with pytest.raises(hitl.InvalidArgument, match="FOLDS 1 is not"):
        rc.set_param("folds", 1)
    with pytest.raises(hitl.StateError, match="no query has run"):
        rc.report()
    rc.query_proba(proba, pool)
    rep = rc.report()
    assert rep["n_labeled"] == len(y) and rep["n_classes"] == 3
    with pytest.raises(hitl.InvalidArgument, match="exactly one"):
        hitl.find_label_issues(pool)
    with pytest.raises(hitl.InvalidArgument, match="one row per labeled item"):
        rc.query_proba(proba[:-1], pool)
    bad = proba.copy()
    bad[3, 1] = np.nan
    with pytest.raises(hitl.NumericError, match=r"proba\[3\]\[1\] is nan"):
        rc.query_proba(bad, pool)
    bad = proba.copy()
    bad[4] *= 2
    with pytest.raises(hitl.InvalidArgument, match="proba row 4 sums to 2"):
        rc.query_proba(bad, pool)
    after = rc.report()
    assert after == rep                     # failures change nothing
    with pytest.raises(hitl.InvalidArgument, match="has label 2, not in"):
        rc.query_proba(proba[:, :2] / proba[:, :2].sum(1, keepdims=True), pool)
    rc.close()


@pytest.mark.parametrize("K", [3, 70])
def test_many_blocks_any_threads(K):
    """Pools of several blocks (65,536 items each) give the same queue on
    any thread count; K = 70 has more cells than one batch of counters
    (4,096), so the first digit gets its own pass."""
    rng = np.random.default_rng(K)
    n = 140_000 if K == 3 else 70_000
    proba = random_proba(rng, n, K, quantum=1 / 64 if K == 3 else None,
                         concentration=0.3)
    truth = proba.argmax(axis=1)
    labels, _ = ref.flip_labels(truth, 0.3, K, rng)
    with labeled_pool(np.zeros((n, 1), np.float32), labels) as pool:
        out = []
        for threads in (1, 3):
            with hitl.Recheck(threads=threads) as rc:
                out.append(rc.query_proba(proba, pool))
                if threads == 1:
                    same_as_reference(rc, pool, proba, labels, "self_confidence")
        np.testing.assert_array_equal(out[0].indices, out[1].indices)
        np.testing.assert_array_equal(out[0].scores, out[1].scores)
