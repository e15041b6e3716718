"""Real text end to end: reviews from data/finefoods.tsv.gz, scikit-learn's
TfidfVectorizer, a sparse pool made from its CSR matrix as it is, and the
active-learning loop: margin sampling beats random sampling at equal labels,
as the demo's text section shows in C."""
import gzip
import os

import numpy as np
import pytest

import hitl
from conftest import TOP_SRCDIR

text = pytest.importorskip("sklearn.feature_extraction.text")

N_POOL, N_TEST = 1500, 600                 # a slice of the 5,000 reviews
START, BATCH, ROUNDS = 20, 20, 12          # 20 -> 260 labels
SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def reviews():
    path = os.path.join(TOP_SRCDIR, "data", "finefoods.tsv.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t", 2) for line in f]
    assert len(rows) == 5000
    y = np.array([int(r[0]) for r in rows])
    order = np.random.default_rng(0).permutation(len(rows))[:N_POOL + N_TEST]
    docs = [rows[i][2] for i in order]
    # Fitted on pool and test texts alike, as the demo's C vectoriser is:
    # the vocabulary and idf see no label.
    X = text.TfidfVectorizer(ngram_range=(1, 2), min_df=2).fit_transform(docs)
    return X.tocsr(), y[order]


def learning_curve(reviews, strategy, seed):
    X, y = reviews
    Xtr, ytr, Xte, yte = X[:N_POOL], y[:N_POOL], X[N_POOL:], y[N_POOL:]
    curve = []
    with hitl.Pool.from_array(Xtr) as pool, \
            hitl.LogisticRegression(X.shape[1], 2, C=10.0) as model:
        assert pool.sparse and pool.dim == X.shape[1]
        first = np.random.default_rng(100 + seed).choice(N_POOL, START, replace=False)
        with hitl.Feedback(pool) as fb:
            fb.label_many(first, ytr[first])
        with hitl.ActiveLearner(model, hitl.Strategy(strategy, seed=seed), pool) as al:
            curve.append(al.score(Xte, yte))      # predict on CSR rows
            for _ in range(ROUNDS):
                idx, ids, _ = al.query(k=BATCH)
                assert not np.isin(idx, first).any()
                al.teach(ids, ytr[idx])
                curve.append(al.score(Xte, yte))
            assert pool.count(hitl.ItemState.LABELED) == START + BATCH * ROUNDS
    return np.array(curve)


def test_tfidf_reviews_margin_beats_random(reviews):
    margin = np.mean([learning_curve(reviews, "margin", s) for s in SEEDS], axis=0)
    rand = np.mean([learning_curve(reviews, "random", s) for s in SEEDS], axis=0)
    _, y = reviews
    majority = max(np.mean(y[N_POOL:]), 1 - np.mean(y[N_POOL:]))
    assert abs(margin[0] - rand[0]) < 1e-12             # the same start
    assert margin[1:].mean() > rand[1:].mean() + 0.01, (margin, rand)
    assert margin[-1] > majority + 0.04, (margin, majority)
