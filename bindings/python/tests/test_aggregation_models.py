"""One-coin Dawid-Skene, the prior on the confusion matrices and the
recommended aggregation, against an EM written here from the formulas of
hitl.h (hitl_feedback_aggregate) with numpy, independent of the C code."""
import math

import numpy as np
import pytest

import hitl


def numpy_em(answers, n_items, n_annot, K, kind, s=0.0, tol=1e-6, max_iter=100):
    """MAP EM of Dawid-Skene (kind "ds", prior strength s centred on each
    annotator's one-coin matrix) or one coin (kind "coin").  answers: list of
    (item, annotator, label).  Returns (posteriors, matrices, iterations)."""
    it = np.array([a[0] for a in answers])
    an = np.array([a[1] for a in answers])
    lb = np.array([a[2] for a in answers])
    T = np.zeros((n_items, K))
    np.add.at(T, (it, lb), 1.0)
    T /= T.sum(axis=1, keepdims=True)
    prev = None
    for iteration in range(1, max_iter + 1):
        # M-step
        n_k = T.sum(axis=0)
        logpi = np.log((1.0 + n_k) / (K + n_items))
        logp = logpi.sum()
        N = np.zeros((n_annot, K, K))
        np.add.at(N, (an, slice(None), lb), T[it])     # N[a, k, l] += T[i, k]
        theta = np.empty_like(N)
        for a in range(n_annot):
            right = 0.01 * K + np.trace(N[a])
            wrong = 0.01 * K * (K - 1) + N[a].sum() - np.trace(N[a])
            q = right / (right + wrong)
            if kind == "coin":
                theta[a] = (1 - q) / (K - 1)
                np.fill_diagonal(theta[a], q)
                c = np.full((K, K), 0.01)
            else:
                c = np.full((K, K), 0.01 + s * (1 - q) / (K - 1))
                np.fill_diagonal(c, 0.01 + s * q)
                theta[a] = (c + N[a]) / (0.01 * K + s + N[a].sum(axis=1, keepdims=True))
            logp += (c * np.log(theta[a])).sum()
        # E-step
        S = np.tile(logpi, (n_items, 1))
        np.add.at(S, it, np.log(theta[an, :, lb]))
        m = S.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(S - m).sum(axis=1))
        T = np.exp(S - lse[:, None])
        J = lse.sum() + logp
        if prev is not None and abs(J - prev) <= tol * max(1.0, abs(J)):
            break
        prev = J
    return T, theta, iteration


def crowd(seed, n_items, K, acc, rotate=True):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, n_items)
    answers = []
    for i in range(n_items):
        # a rotating order: the vote's ties do not always favour one annotator
        for a in [(j + i * rotate) % len(acc) for j in range(len(acc))]:
            p = acc[a]
            if rng.random() < p:
                answers.append((i, a, int(truth[i])))
            else:
                answers.append((i, a, int((truth[i] + rng.integers(1, K)) % K)))
    return truth, answers


def feedback_of(answers, n_items, K, **params):
    pool = hitl.Pool(dim=1)
    pool.add(np.zeros((n_items, 1), dtype=np.float32))
    fb = hitl.Feedback(pool, n_classes=K)
    for i, a, l in answers:
        fb.label(i, l, a)
    fb.set_params(**params)
    return pool, fb


@pytest.mark.parametrize("kind,method,s", [
    ("coin", "one_coin", 0.0), ("ds", "dawid_skene", 0.0), ("ds", "dawid_skene", 5.0)])
def test_matches_numpy_em(kind, method, s):
    K, n_items, acc = 4, 120, [0.9, 0.7, 0.55, 0.6]
    truth, answers = crowd(7, n_items, K, acc)
    T, theta, iters = numpy_em(answers, n_items, len(acc), K, kind, s)
    pool, fb = feedback_of(answers, n_items, K, ds_prior=s, aggregation=method)
    assert fb.info("em_iterations") == iters
    for a in range(len(acc)):
        m = fb.confusion(a)
        np.testing.assert_allclose(m, theta[a], rtol=1e-8, atol=1e-10)
    for i in range(n_items):
        item = fb.item(i)
        assert item.label == int(np.argmax(T[i]))
        assert math.isclose(item.confidence, T[i].max(), rel_tol=1e-8)
    fb.close()
    pool.close()


def test_enums_and_params():
    assert hitl.Aggregation.ONE_COIN == 4
    assert hitl.Aggregation.RECOMMENDED == 5
    assert hitl.Param.DS_PRIOR == 410
    truth, answers = crowd(3, 8, 3, [0.8, 0.7, 0.6])
    pool, fb = feedback_of(answers, 8, 3, aggregation="recommended")
    # 8 answers per annotator: too few for a model
    assert fb.aggregation_used() == hitl.Aggregation.MAJORITY
    assert math.isnan(fb.info("prior_used"))
    fb.set_param("ds_prior", 2.5)
    assert fb.get_params()["ds_prior"] == 2.5
    with pytest.raises(hitl.InvalidArgument, match="HITL_PARAM_DS_PRIOR"):
        fb.set_param("ds_prior", -1)
    with pytest.raises(hitl.InvalidArgument, match="HITL_PARAM_AGGREGATION"):
        fb.set_param("aggregation", 6)
    assert fb.get_param("ds_prior") == 2.5
    fb.close()
    pool.close()


@pytest.mark.parametrize("rotate,slack", [(True, 0.0), (False, 0.01)])
def test_recommended_not_worse_than_majority(rotate, slack):
    """The case where full Dawid-Skene loses to the vote.  With the best
    annotator always answering first, the vote's tie rule (the earliest
    answer) trusts them on every three-way disagreement, as one coin does."""
    K, n_items = 10, 300
    truth, answers = crowd(11, n_items, K, [0.95, 0.75, 0.55], rotate)
    pool, fb = feedback_of(answers, n_items, K)
    mv = np.mean([fb.item(i).label == truth[i] for i in range(n_items)])
    fb.set_param("aggregation", "dawid_skene")
    ds = np.mean([fb.item(i).label == truth[i] for i in range(n_items)])
    fb.set_param("aggregation", "recommended")
    rec = np.mean([fb.item(i).label == truth[i] for i in range(n_items)])
    assert ds < mv
    assert rec >= mv - slack
    assert fb.aggregation_used() == hitl.Aggregation.ONE_COIN
    fb.close()
    pool.close()


def test_default_is_recommended():
    pool = hitl.Pool(dim=1)
    fb = hitl.Feedback(pool)
    assert fb.get_params()["aggregation"] == hitl.Aggregation.RECOMMENDED
    fb.close()
    pool.close()


def test_constant_annotators_left_out():
    # 2 classes, 4 annotators of accuracy 0.7 and 3 who always answer 0;
    # 5 of the 7 answer each item.  Before they were left out, RECOMMENDED
    # took them for experts of class 0 and fell 10 points below the vote.
    rng = np.random.default_rng(5)
    n_items, K = 60, 2
    truth = rng.integers(0, K, n_items)
    answers = []
    for i in range(n_items):
        for a in rng.permutation(7)[:5]:
            if a >= 4:
                answers.append((i, int(a), 0))
            else:
                ok = rng.random() < 0.7
                answers.append((i, int(a), int(truth[i] if ok else 1 - truth[i])))
    pool, fb = feedback_of(answers, n_items, K, aggregation="majority")
    mv = np.mean([fb.item(i).label == truth[i] for i in range(n_items)])
    fb.set_params(aggregation="recommended")
    rec = np.mean([fb.item(i).label == truth[i] for i in range(n_items)])
    assert rec >= mv
    fb.close()
    pool.close()
