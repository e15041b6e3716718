"""Every strategy against a numpy implementation of its formula (hitl.h),
computed on the probabilities the library itself returns for the pool."""
import numpy as np
import pytest

import hitl
from conftest import blobs


def least_confident(P):
    return 1.0 - P.max(axis=1)


def margin(P):
    s = np.sort(P, axis=1)
    return s[:, -1] - s[:, -2]


def entropy(P):
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(P > 0, P * np.log(P), 0.0)
    return -t.sum(axis=1)


# kind name -> (numpy score of the probability rows, "largest" or "smallest"
# first).  A strategy of hitl.StrategyKind missing here fails
# test_every_strategy_has_a_reference.
FORMULAS = {
    "LEAST_CONFIDENT": (least_confident, "largest"),
    "MARGIN": (margin, "smallest"),
    "ENTROPY": (entropy, "largest"),
}
# Strategies whose scores do not come from the model's probabilities alone,
# with the test that checks them instead.
OTHER_TESTS = {
    "RANDOM": "test_random_keys",
    "KCENTER": "test_kcenter_is_farthest_first",
    "RANKED_BATCH": "test_ranked_batch_follows_the_formula",
    "DENSITY": "test_density_exact / test_density_sampled_anchors",
    "HYBRID": "test_hybrid_follows_the_formula",
    "DEFAULT": "test_default_is_hybrid_margin_beta_10_kmeanspp",
    "QBC_VOTE_ENTROPY": "test_committee.py",
    "QBC_CONSENSUS_ENTROPY": "test_committee.py",
    "QBC_KL": "test_committee.py",
    "QBC_BALD": "test_committee.py",
    "EXPECTED_GRADIENT_LENGTH": "test_egl.py",
}


@pytest.fixture(scope="module")
def setup():
    X, y = blobs(3000, 12, 5, seed=31, spread=0.8)
    pool = hitl.Pool.from_array(X, borrow=True)
    rng = np.random.default_rng(0)
    labeled = rng.choice(len(X), size=80, replace=False)
    for i in labeled:
        pool.set_label(int(i), int(y[i]))
    model = hitl.LogisticRegression(12, 5, C=1.0).fit(pool)
    # probabilities as the library computes them, in float64 for the formulas
    P = model.predict_proba_pool(pool).astype(np.float64)
    unl = np.ones(len(X), bool)
    unl[labeled] = False
    yield pool, model, P, unl
    pool.close()
    model.close()


@pytest.fixture(scope="module")
def geometry(setup):
    """setup plus the rows in float64, for distance formulas."""
    pool, model, P, unl = setup
    X = np.stack([pool.row(i) for i in range(len(pool))]).astype(np.float64)
    return pool, model, P, unl, X


def informativeness(P, base):
    """u in [0, 1], larger = more informative (hitl.h, "Diversity")."""
    K = P.shape[1]
    s = np.sort(P, axis=1)
    return {"LEAST_CONFIDENT": (1 - s[:, -1]) / (1 - 1 / K),
            "MARGIN": 1 - (s[:, -1] - s[:, -2]),
            "ENTROPY": entropy(P) / np.log(K)}[base]


def dist_to(X, rows):
    """Euclidean distance of every row of X to its nearest row in `rows`."""
    if len(rows) == 0:
        return np.full(len(X), np.inf)
    d2 = ((X[:, None, :] - X[None, rows, :]) ** 2).sum(axis=2)
    return np.sqrt(d2.min(axis=1))


def check_farthest_first(X, centres, cand, picks, scores, tol=2e-3,
                         eligible=None):
    """Each pick is (within tol) the candidate farthest from its nearest
    centre, centres being `centres` plus the earlier picks; its score is
    that distance.  `eligible` (default cand) may be a superset of cand whose
    items may be picked (near-ties at a first-stage cut-off)."""
    cand = cand.copy()
    eligible = cand.copy() if eligible is None else eligible.copy()
    mind = dist_to(X, np.flatnonzero(centres))
    for p, sc in zip(picks, scores):
        assert eligible[p], "picked an item outside the candidates"
        if np.isinf(sc):
            assert not centres.any()
        else:
            assert abs(sc - mind[p]) <= tol * max(1.0, mind[p])
        assert mind[p] >= mind[cand].max() - tol * max(1.0, mind[p])
        cand[p] = eligible[p] = False
        mind = np.minimum(mind, np.sqrt(((X - X[p]) ** 2).sum(axis=1)))


def test_every_strategy_has_a_reference():
    for kind in hitl.StrategyKind:
        assert kind.name in FORMULAS or kind.name in OTHER_TESTS, (
            "no numpy reference for strategy %s" % kind.name)


@pytest.mark.parametrize("kind", sorted(FORMULAS))
@pytest.mark.parametrize("k", [1, 37, 400])
def test_scores_and_selection_follow_the_formula(setup, kind, k):
    pool, model, P, unl = setup
    formula, order = FORMULAS[kind]
    ref = formula(P)
    with hitl.Strategy(kind) as s:
        r = s.query(model, pool, k)
    assert len(r.indices) == k
    idx = r.indices.astype(np.intp)
    assert unl[idx].all(), "a labeled item was picked"
    assert len(set(idx)) == k
    np.testing.assert_array_equal(r.ids, idx)            # ids = indices here
    # returned scores are the formula's
    np.testing.assert_allclose(r.scores, ref[idx], atol=2e-6, rtol=0)
    # in order, ties by lower index
    key = -r.scores if order == "largest" else r.scores
    pairs = list(zip(key, idx))
    assert pairs == sorted(pairs)
    # nothing left out ranks clearly better than the worst picked item
    rest = unl.copy()
    rest[idx] = False
    worst = key[-1]
    rest_key = -ref[rest] if order == "largest" else ref[rest]
    assert (rest_key >= worst - 2e-6).all()


def test_formulas_on_a_hand_worked_table():
    """The references themselves, on rows worked out by hand."""
    P = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    np.testing.assert_allclose(least_confident(P), [0.0, 0.5, 0.5])
    np.testing.assert_allclose(margin(P), [1.0, 0.0, 0.2])
    np.testing.assert_allclose(entropy(P), [0.0, np.log(2),
                                            -(0.2 * np.log(0.2) + 0.3 * np.log(0.3)
                                              + 0.5 * np.log(0.5))])


def test_fewer_unlabeled_than_k(setup):
    _, model, _, _ = setup
    X, y = blobs(30, 12, 5, seed=2)
    with hitl.Pool.from_array(X) as pool:
        for i in range(25):
            pool.set_label(i, int(y[i]))
        r = hitl.query(hitl.Strategy("entropy"), model, pool, 10)
        assert sorted(r.indices.tolist()) == [25, 26, 27, 28, 29]
        for i in range(25, 30):
            pool.set_label(i, 0)
        r = hitl.query(hitl.Strategy("entropy"), model, pool, 10)
        assert len(r.indices) == 0 and len(r.scores) == 0


def test_random_keys(setup):
    """RANDOM: a uniform key per (seed, item), smallest first; no model."""
    pool, model, _, unl = setup
    n_unl = int(unl.sum())
    with hitl.Strategy("random", seed=5) as s:
        full = s.query(None, pool, n_unl)
        again = s.query(None, pool, n_unl)
        top = s.query(model, pool, 50)           # a model is allowed, unused
    assert sorted(full.indices.tolist()) == np.flatnonzero(unl).tolist()
    np.testing.assert_array_equal(full.indices, again.indices)
    np.testing.assert_array_equal(top.indices, full.indices[:50])
    np.testing.assert_array_equal(top.scores, full.scores[:50])
    keys = full.scores
    assert (np.diff(keys) >= 0).all()
    assert keys.min() >= 0 and keys.max() < 1
    # uniform: 10 equal bins each within 5 standard deviations of n/10
    counts = np.histogram(keys, bins=10, range=(0, 1))[0]
    sd = np.sqrt(n_unl * 0.1 * 0.9)
    assert (np.abs(counts - n_unl / 10) < 5 * sd).all(), counts
    with hitl.Strategy("random", seed=6) as other:
        assert not np.array_equal(other.query(None, pool, 50).indices, top.indices)


def test_deterministic_across_thread_counts(setup):
    pool, model, _, _ = setup
    results = []
    for threads in (1, 2):
        model.set_param("threads", threads)
        results.append(hitl.Strategy("margin").query(model, pool, 100))
    model.set_param("threads", 0)
    np.testing.assert_array_equal(results[0].indices, results[1].indices)
    np.testing.assert_array_equal(results[0].scores, results[1].scores)


def test_kinds_by_name_and_value():
    for kind in hitl.StrategyKind:
        for spec in (kind, int(kind), kind.name.lower(),
                     kind.name.lower().replace("_", "-")):
            with hitl.Strategy(spec) as s:
                assert s.kind is kind


def test_kcenter_is_farthest_first(geometry):
    pool, model, P, unl, X = geometry
    with hitl.Strategy("kcenter") as s:
        r = s.query(None, pool, 25)             # needs no model
        again = s.query(model, pool, 25)
    np.testing.assert_array_equal(r.indices, again.indices)
    check_farthest_first(X, ~unl, unl, r.indices.astype(np.intp), r.scores)


def test_ranked_batch_follows_the_formula(geometry):
    pool, model, P, unl, X = geometry
    for base in ("LEAST_CONFIDENT", "ENTROPY"):
        u = informativeness(P, base)
        params = {} if base == "LEAST_CONFIDENT" else {"base": hitl.StrategyKind[base]}
        with hitl.Strategy("ranked_batch", **params) as s:
            r = s.query(model, pool, 20)
        cand, n_lab = unl.copy(), int((~unl).sum())
        mind = dist_to(X, np.flatnonzero(~unl))
        for p, sc in zip(r.indices.astype(np.intp), r.scores):
            alpha = cand.sum() / (cand.sum() + n_lab)
            value = alpha * (1 - 1 / (1 + mind)) + (1 - alpha) * u
            assert cand[p]
            assert abs(sc - value[p]) < 1e-4
            assert value[p] >= value[cand].max() - 1e-4
            cand[p] = False
            n_lab += 1
            mind = np.minimum(mind, np.sqrt(((X - X[p]) ** 2).sum(axis=1)))


def density_exact(X, unl, h2):
    A = X[unl]
    D = np.zeros(len(X))
    for start in range(0, len(X), 500):
        blk = X[start:start + 500]
        d2 = ((blk[:, None, :] - A[None, :, :]) ** 2).sum(axis=2)
        D[start:start + 500] = np.exp(-d2 / h2).mean(axis=1)
    return D


def auto_h2(X, unl):
    """The mean squared distance between two unlabeled items (drawn
    independently): 2 (mean ||x||^2 - ||mean x||^2)."""
    A = X[unl]
    return 2 * ((A ** 2).sum(axis=1).mean() - (A.mean(axis=0) ** 2).sum())


@pytest.mark.parametrize("bandwidth,exponent", [(0, 1.0), (3.0, 2.0)])
def test_density_exact(geometry, bandwidth, exponent):
    pool, model, P, unl, X = geometry
    u = informativeness(P, "MARGIN")
    h2 = auto_h2(X, unl) if bandwidth == 0 else bandwidth ** 2
    ref = u * density_exact(X, unl, h2) ** exponent
    with hitl.Strategy("density", density_anchors=len(X),
                       density_bandwidth=bandwidth,
                       density_exponent=exponent) as s:
        r = s.query(model, pool, 30)
    idx = r.indices.astype(np.intp)
    np.testing.assert_allclose(r.scores, ref[idx], rtol=2e-3, atol=1e-6)
    assert list(zip(-r.scores, idx)) == sorted(zip(-r.scores, idx))
    rest = unl.copy()
    rest[idx] = False
    assert (ref[rest] <= r.scores[-1] * (1 + 2e-3) + 1e-6).all()


def test_density_sampled_anchors(geometry):
    """m anchors < unlabeled items: every estimate within the stated
    Hoeffding bound sqrt(ln(2N/delta) / (2m)) of the exact density."""
    pool, model, P, unl, X = geometry
    m, delta = 200, 1e-3
    u = informativeness(P, "MARGIN")
    exact = density_exact(X, unl, auto_h2(X, unl))
    with hitl.Strategy("density", density_anchors=m, seed=4) as s:
        r = s.query(model, pool, 300)
    idx = r.indices.astype(np.intp)
    estimate = r.scores / u[idx]
    bound = np.sqrt(np.log(2 * unl.sum() / delta) / (2 * m))
    assert np.abs(estimate - exact[idx]).max() <= bound
    assert np.abs(estimate - exact[idx]).max() > 0     # really sampled


def hybrid_reference_check(X, u, unl, k, beta, r, farthest_first=True):
    """The picks come from the ceil(beta k) most informative unlabeled items
    and are scored by u; with k-center selection each is the farthest (from
    the labeled items and earlier picks) of that first stage."""
    keep = min(int(np.ceil(beta * k)), int(unl.sum()))
    order = np.lexsort((np.arange(len(u)), -np.where(unl, u, -np.inf)))
    cutoff = u[order[keep - 1]]
    strict = unl & (u > cutoff + 1e-6)       # surely in the first stage
    eligible = unl & (u >= cutoff - 1e-6)    # maybe, by rounding
    idx = r.indices.astype(np.intp)
    assert len(set(idx.tolist())) == len(idx)
    np.testing.assert_allclose(r.scores, u[idx], atol=1e-6)
    cand, el = strict.copy(), eligible.copy()
    mind = dist_to(X, np.flatnonzero(~unl))
    for p in idx:
        assert el[p], "picked outside the first stage"
        if farthest_first:
            assert mind[p] >= mind[cand].max() - 2e-3 * max(1.0, mind[p])
        cand[p] = el[p] = False
        mind = np.minimum(mind, np.sqrt(((X - X[p]) ** 2).sum(axis=1)))


@pytest.mark.parametrize("beta", [1.0, 4.0, 10.0])
def test_hybrid_follows_the_formula(geometry, beta):
    pool, model, P, unl, X = geometry
    u = informativeness(P, "MARGIN")
    with hitl.Strategy("hybrid", hybrid_beta=beta) as s:
        assert s.get_param("hybrid_select") == hitl.ColdStart.KCENTER
        r = s.query(model, pool, 12)
    assert len(r.indices) == 12
    hybrid_reference_check(X, u, unl, 12, beta, r)
    if beta == 1.0:   # the first stage is the answer, in k-center order
        top = np.argsort(-np.where(unl, u, -np.inf), kind="stable")[:12]
        assert set(r.indices.tolist()) == set(top.tolist())
    with hitl.Strategy("hybrid", hybrid_beta=beta, hybrid_select="kmeanspp",
                       base="entropy", seed=2) as s:
        r = s.query(model, pool, 12)
        np.testing.assert_array_equal(r.indices, s.query(model, pool, 12).indices)
    hybrid_reference_check(X, informativeness(P, "ENTROPY"), unl, 12, beta, r,
                           farthest_first=False)


def test_default_is_hybrid_margin_beta_10_kmeanspp(geometry):
    """DEFAULT (this version): HYBRID, MARGIN, beta 10, k-means++ second
    stage (hitl.h)."""
    pool, model, P, unl, X = geometry
    for seed in (0, 5):
        with hitl.Strategy("default", seed=seed) as s, \
                hitl.Strategy("hybrid", hybrid_beta=10, base="margin",
                              hybrid_select="kmeanspp", seed=seed) as h:
            r = s.query(model, pool, 10)
            np.testing.assert_array_equal(r.indices,
                                          h.query(model, pool, 10).indices)
        hybrid_reference_check(X, informativeness(P, "MARGIN"), unl, 10, 10.0,
                               r, farthest_first=False)


@pytest.mark.parametrize("kind", ["kcenter", "ranked_batch", "density", "hybrid",
                                  "default"])
@pytest.mark.parametrize("cold", list(hitl.ColdStart))
def test_cold_start(kind, cold):
    X, _ = blobs(400, 5, 3, seed=12)
    Xd = X.astype(np.float64)
    with hitl.Pool.from_array(X) as pool, \
            hitl.Strategy(kind, cold_start=cold, seed=9) as s:
        r = s.query(None, pool, 15)                    # no model, no label
        assert len(set(r.indices.tolist())) == 15
        np.testing.assert_array_equal(r.indices, s.query(None, pool, 15).indices)
        s.seed = 10
        assert not np.array_equal(r.indices, s.query(None, pool, 15).indices)
    idx = r.indices.astype(np.intp)
    if cold == hitl.ColdStart.RANDOM:
        assert (np.diff(r.scores) >= 0).all()
        assert r.scores.min() >= 0 and r.scores.max() < 1
        return
    assert np.isinf(r.scores[0]) and np.isfinite(r.scores[1:]).all()
    for j in range(1, 15):                             # distance to earlier picks
        nearest = np.sqrt(((Xd[idx[:j]] - Xd[idx[j]]) ** 2).sum(axis=1)).min()
        assert abs(r.scores[j] - nearest) < 2e-3 * max(1.0, nearest)
    if cold == hitl.ColdStart.KCENTER:
        everything = np.ones(len(X), bool)
        everything[idx[0]] = False
        centres = np.zeros(len(X), bool)
        centres[idx[0]] = True
        check_farthest_first(Xd, centres, everything, idx[1:], r.scores[1:])
