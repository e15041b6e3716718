"""The whole loop on the UCI digits, through the modAL-style layer: margin
sampling reaches better test accuracy than random sampling at equal labels."""
import numpy as np

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
