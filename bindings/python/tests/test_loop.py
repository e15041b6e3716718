"""The whole loop on the UCI digits, through the modAL-style layer: margin
sampling reaches better test accuracy than random sampling at equal labels."""
import numpy as np
import pytest

import hitl

SEEDS = (1, 2, 3, 4)
START, BATCH, ROUNDS = 10, 10, 14          # 10 -> 150 labels


def split(digits, seed):
    X, y = digits
    order = np.random.default_rng(seed).permutation(len(X))
    tr, te = order[:1200], order[1200:]
    return X[tr], y[tr], X[te], y[te]


def learning_curve(digits, strategy, seed):
    Xtr, ytr, Xte, yte = split(digits, seed)
    curve = []
    with hitl.Pool.from_array(Xtr, borrow=True) as pool, \
            hitl.LogisticRegression(64, 10, C=10.0) as model:
        # the same random first batch for every strategy
        first = np.random.default_rng(100 + seed).choice(len(Xtr), START,
                                                         replace=False)
        with hitl.Feedback(pool) as fb:
            fb.label_many(first, ytr[first])
        learner = hitl.ActiveLearner(model, hitl.Strategy(strategy, seed=seed),
                                     pool)
        with learner:
            curve.append(learner.score(Xte, yte))
            for _ in range(ROUNDS):
                idx, ids, _ = learner.query(k=BATCH)
                learner.teach(ids, ytr[idx])
                curve.append(learner.score(Xte, yte))
            assert pool.count(hitl.ItemState.LABELED) == START + BATCH * ROUNDS
            assert len(learner.feedback) == BATCH * ROUNDS
    return np.array(curve)


def test_margin_beats_random_on_digits(digits):
    margin = np.mean([learning_curve(digits, "margin", s) for s in SEEDS], axis=0)
    rand = np.mean([learning_curve(digits, "random", s) for s in SEEDS], axis=0)
    # same start, then margin ahead: over the curve and at the end
    assert abs(margin[0] - rand[0]) < 1e-12
    assert margin[1:].mean() > rand[1:].mean() + 0.01, (margin, rand)
    assert margin[-1] > rand[-1], (margin, rand)
    assert margin[-1] > 0.9


def test_learner_binds_pool_later(digits):
    Xtr, ytr, _, _ = split(digits, 0)
    with hitl.Pool.from_array(Xtr) as pool:
        learner = hitl.ActiveLearner(hitl.LogisticRegression(64, 10), "random")
        r = learner.query(pool, 20)                  # random needs no fit
        learner.teach(r.ids, ytr[r.indices])
        assert learner.model.fitted and learner.model.n_train == 20
        r2 = learner.query(k=5)
        assert not set(r2.ids.tolist()) & set(r.ids.tolist())
        learner.close()
        assert learner.strategy.closed and not learner.model.closed
        learner.model.close()


def test_learner_says_what_to_pass_and_stays_usable(digits):
    """modAL habits (an array to query(), feature rows to teach(), a label
    that is not a class) get messages that say what to pass instead, and
    record nothing: the learner goes on as if they had not happened."""
    Xtr, ytr, _, _ = split(digits, 0)
    with hitl.Pool.from_array(Xtr) as pool:
        learner = hitl.ActiveLearner(hitl.LogisticRegression(64, 10), "random", pool)
        r = learner.query(k=5)
        learner.teach(r.ids, ytr[r.indices])
        with pytest.raises(hitl.InvalidArgument, match="Pool.from_array"):
            learner.query(Xtr, 5)
        with pytest.raises(hitl.InvalidArgument, match="not feature rows"):
            learner.teach(Xtr[:5], ytr[:5])
        before = len(learner.feedback)
        r = learner.query(k=2)
        with pytest.raises(hitl.InvalidArgument, match="label 10 is not a class"):
            learner.teach(r.ids, [3, 10])
        assert len(learner.feedback) == before            # nothing recorded
        learner.teach(r.ids, ytr[r.indices])              # and it goes on
        assert learner.model.n_train == 7
        # query indices index and concatenate like numpy's own
        idx = np.concatenate([r.indices, learner.query(k=3).indices])
        assert idx.dtype == np.intp and Xtr[idx].shape == (5, 64)
        learner.close()


def test_every_strategy_starts_cold(digits):
    """No labels yet: "margin" (and every strategy) picks a diverse first
    batch by the cold-start rule instead of asking for a fitted model."""
    Xtr, ytr, _, _ = split(digits, 1)
    with hitl.Pool.from_array(Xtr) as pool:
        firsts = {}
        for rule in ("kmeanspp", "kcenter"):
            s = hitl.Strategy("margin", seed=3, cold_start=rule)
            learner = hitl.ActiveLearner(hitl.LogisticRegression(64, 10), s, pool)
            r = learner.query(k=10)
            assert len(r.ids) == 10 and len(set(ytr[r.indices])) >= 5   # diverse
            firsts[rule] = r.ids.tolist()
            learner.teach(r.ids, ytr[r.indices])
            assert learner.model.fitted
            for i in r.indices:                  # unlabel for the next rule
                pool.set_state(int(i), hitl.ItemState.UNLABELED)
            learner.close()
            s.close()
        assert firsts["kmeanspp"] != firsts["kcenter"]          # cold_start= is used
