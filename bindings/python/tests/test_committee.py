"""Committees (query-by-committee) and the disagreement measures, against
numpy implementations of the formulas in hitl.h ("Committee")."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLR

import hitl
from conftest import blobs


def H(P):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(P > 0, P * np.log(P), 0.0).sum(axis=-1)


def vote_entropy(T):                       # T: items x members x classes
    M, K = T.shape[1], T.shape[2]
    votes = np.argmax(T, axis=2)           # ties to the lower class
    V = np.stack([(votes == c).sum(axis=1) for c in range(K)], axis=1)
    return H(V / M)


def consensus_entropy(T):
    return H(T.mean(axis=1))


def mean_kl(T):
    Pbar = T.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(T > 0, T * (np.log(T) - np.log(Pbar)), 0.0)
    return t.sum(axis=2).mean(axis=1)


def bald(T):
    return H(T.mean(axis=1)) - H(T).mean(axis=1)


QBC = {"QBC_VOTE_ENTROPY": vote_entropy,
       "QBC_CONSENSUS_ENTROPY": consensus_entropy,
       "QBC_KL": mean_kl, "QBC_BALD": bald}


def normalised(T):
    T = np.asarray(T, np.float64)
    return T / T.sum(axis=2, keepdims=True)


@pytest.mark.parametrize("kind", sorted(QBC))
def test_disagreement_matches_formula(kind):
    rng = np.random.default_rng(1)
    T = rng.gamma(0.7, size=(200, 5, 4)).astype(np.float32)
    T[3] = T[3, :1]                        # full agreement
    T[4, :, 1:] = 0                        # certain rows
    T[4, :, 0] = 1
    got = hitl.disagreement(T, kind)
    ref = QBC[kind](normalised(T))
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=1e-5)
    assert got.dtype == np.float64 and got.shape == (200,)
    # float64 input is converted once, same answer
    np.testing.assert_allclose(hitl.disagreement(T.astype(np.float64), kind),
                               got, atol=1e-7)


def test_disagreement_hand_worked():
    T = np.array([[[1, 0], [0, 1]],           # two members, opposite
                  [[0.5, 0.5], [0.5, 0.5]]],  # agree, both unsure
                 np.float32)
    np.testing.assert_allclose(hitl.disagreement(T, "qbc_vote_entropy"),
                               [np.log(2), 0.0], atol=1e-7)
    np.testing.assert_allclose(hitl.disagreement(T, "qbc_bald"),
                               [np.log(2), 0.0], atol=1e-6)
    np.testing.assert_allclose(hitl.disagreement(T, "qbc_consensus_entropy"),
                               [np.log(2), np.log(2)], atol=1e-6)


def test_disagreement_errors():
    T = np.ones((3, 2, 2), np.float32)
    with pytest.raises(hitl.InvalidArgument):
        hitl.disagreement(T, "margin")                   # not QBC_*
    with pytest.raises(hitl.InvalidArgument):
        hitl.disagreement(np.ones((3, 2)), "qbc_kl")      # not 3-D
    bad = T.copy()
    bad[1, 1, 0] = np.nan
    with pytest.raises(hitl.NumericError):
        hitl.disagreement(bad, "qbc_kl")
    bad[1, 1, 0] = -1
    with pytest.raises(hitl.InvalidArgument):
        hitl.disagreement(bad, "qbc_kl")


@pytest.fixture(scope="module")
def fitted():
    X, y = blobs(3000, 8, 4, seed=5, spread=0.9)
    pool = hitl.Pool.from_array(X, borrow=True)
    rng = np.random.default_rng(2)
    labeled = rng.choice(len(X), 120, replace=False)
    for i in labeled:
        pool.set_label(int(i), int(y[i]))
    com = hitl.Committee(8, 4, l2=[0.1, 1.0, 10.0, 1.0, 1.0], seed=3)
    com.fit(pool)
    # every member's probabilities as the library gives them
    T = np.stack([m.predict_proba_pool(pool) for m in com.members], axis=1)
    unl = np.ones(len(X), bool)
    unl[labeled] = False
    yield X, y, pool, com, normalised(T), unl
    com.close()
    pool.close()


def test_committee_basics(fitted):
    X, y, pool, com, T, unl = fitted
    assert len(com) == 5 and com.dim == 8 and com.n_classes == 4
    assert com.get_params()["bootstrap"] == 1 and com.get_params()["seed"] == 3
    W = [m.get_coef()[0] for m in com.members]
    assert not np.allclose(W[1], W[3])          # bagged: members differ
    assert com.member(0).get_param("l2") == 0.1
    np.testing.assert_allclose(com.predict_proba(X[:50]), T[:50].mean(axis=1),
                               atol=2e-6)
    np.testing.assert_allclose(com.predict_proba_pool(pool, 10, 20),
                               T[10:30].mean(axis=1), atol=2e-6)


@pytest.mark.parametrize("kind", sorted(QBC))
def test_committee_query_follows_the_formula(fitted, kind):
    X, y, pool, com, T, unl = fitted
    ref = QBC[kind](T)
    with hitl.Strategy(kind) as s:
        r = hitl.query(s, com, pool, 40)
    idx = r.indices.astype(np.intp)
    assert unl[idx].all() and len(set(idx)) == 40
    np.testing.assert_allclose(r.scores, ref[idx], atol=2e-5)
    key = -r.scores
    assert list(zip(key, idx)) == sorted(zip(key, idx))
    rest = unl.copy()
    rest[idx] = False
    assert (ref[rest] <= r.scores[-1] + 2e-5).all()


def test_committee_of_one_equals_the_model():
    X, y = blobs(500, 5, 3, seed=8)
    with hitl.Pool.from_array(X) as pool:
        for i in range(80):
            pool.set_label(i, int(y[i]))
        single = hitl.LogisticRegression(5, 3, l2=0.5).fit(pool)
        with hitl.Committee(5, 3, l2=[0.5], bootstrap=0) as com:
            com.fit(pool)
            np.testing.assert_allclose(com.predict_proba(X), single.predict_proba(X),
                                       atol=1e-6)
            m = hitl.query(hitl.Strategy("margin"), single, pool, 10)
            c = hitl.query(hitl.Strategy("margin"), com, pool, 10)
            np.testing.assert_array_equal(m.indices, c.indices)


def test_custom_members_and_their_exceptions():
    X, y = blobs(600, 4, 3, seed=9)

    class Sk(SkLR):
        fail = False

        def predict_proba(self, X):
            if self.fail:
                raise FloatingPointError("member failed")
            return super().predict_proba(X)

    est = Sk()
    with hitl.Pool.from_array(X) as pool, \
            hitl.CustomModel(est, 4, 3) as custom, \
            hitl.Committee(4, 3, l2=[1.0], models=[custom], bootstrap=0) as com:
        assert len(com) == 2 and com.member(1) is custom
        for i in range(60):
            pool.set_label(i, int(y[i]))
        com.fit(pool)
        assert hasattr(est, "coef_")            # the sklearn member was fitted
        r = hitl.query(hitl.Strategy("qbc_kl"), com, pool, 5)
        assert len(r.ids) == 5
        est.fail = True
        with pytest.raises(FloatingPointError, match="member failed"):
            hitl.query(hitl.Strategy("qbc_kl"), com, pool, 5)
        est.fail = False
        with hitl.ActiveLearner(com, "qbc_bald", pool) as learner:
            idx, ids, _ = learner.query(k=4)
            learner.teach(ids, y[idx])
            assert pool.count("labeled") == 64
    assert com.closed


def test_closing_a_member_closes_the_committee():
    model = hitl.LogisticRegression(3, 2)
    com = hitl.Committee(3, 2, models=[model])
    view = hitl.Committee(3, 2, l2=[1.0])
    member = view.member(0)
    model.close()
    assert com.closed
    view.close()
    with pytest.raises(hitl.StateError):
        member.get_param("l2")


def test_committee_errors():
    with pytest.raises(hitl.InvalidArgument):
        hitl.Committee(3, 2, l2=[-1.0])
    with hitl.Committee(3, 2) as com:
        with pytest.raises(hitl.InvalidArgument):
            com.add_model(hitl.LogisticRegression(4, 2))   # dim differs
        with pytest.raises(hitl.InvalidArgument):
            com.add_model(object())
        with hitl.Pool(3) as pool:
            pool.add(np.ones((2, 3)))
            pool.set_label(0, 1)
            with pytest.raises(hitl.StateError):
                com.fit(pool)                               # no member
        with pytest.raises(hitl.InvalidArgument):
            com.member(0)
        assert len(com) == 0
