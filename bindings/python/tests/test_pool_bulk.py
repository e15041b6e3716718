"""Pool's bulk calls: whole arrays in one C call, all or nothing."""
import numpy as np
import pytest

import hitl
from conftest import blobs


def one_by_one(pool):
    items = [pool.item(i) for i in range(len(pool))]
    return (np.array([it.id for it in items], np.uint64),
            np.array([int(it.state) for it in items]),
            np.array([it.label for it in items], np.int32),
            np.array([pool.weight(i) for i in range(len(pool))], np.float32))


def test_bulk_reads_match_the_one_item_calls():
    X, y = blobs(50, 4, 3, seed=1)
    pool = hitl.Pool.from_array(X[:30], ids=np.arange(100, 130))
    pool.borrow(X[30:], ids=np.arange(200, 220))
    pool.set_labels([3, 31, 7], [2, 0, 1])
    pool.set_state(8, "skipped")
    pool.set_weights(np.array([3, 40]), [2.5, 0.25])
    ids, states, labels, weights = one_by_one(pool)
    assert np.array_equal(pool.ids(), ids)
    assert np.array_equal(pool.states(), states)
    assert np.array_equal(pool.labels(), labels)
    assert np.array_equal(pool.weights(), weights)
    assert np.array_equal(pool.rows(), X)
    assert labels[31] == 0 and states[8] == hitl.ItemState.SKIPPED
    assert np.array_equal(pool.labels(28, 4), labels[28:32])
    assert np.array_equal(pool.rows(29, 2), X[29:31])
    assert pool.labels(50).shape == (0,)
    assert (pool.states() == hitl.ItemState.LABELED).sum() == 3


def test_set_labels_takes_query_indices(small):
    pool, X, y = small
    r = hitl.query(hitl.Strategy("random", seed=3), None, pool, 20)
    pool.set_labels(r.indices, y[r.indices])
    assert pool.count("labeled") == 20
    assert np.array_equal(pool.labels()[r.indices], y[r.indices])
    pool.set_labels([5, 5], [1, 2])          # the last entry wins
    assert pool.item(5).label == 2


@pytest.mark.parametrize("indices, labels, message", [
    ([0, 1, 2], [0, 1, 7], "labels[2] = 7 (item 2) is not below the pool's 3"),
    ([0, 1, 2], [0, -1, 1], "labels[1] = -1 (item 1) is < 0"),
    ([0, 1, 400], [0, 1, 1], "indices[2] = 400 >= pool size 400"),
    ([0, -1], [0, 1], "indices must be in [0,"),
    ([0, 1], [0, 1, 2], "labels must have 2 entries, got 3"),
    ([0, 1], [0.0, 1.5], "labels must be a 1-D array of integers"),
])
def test_a_bad_entry_changes_nothing(small, indices, labels, message):
    pool, X, y = small
    pool.n_classes = 3
    pool.set_labels([10, 11], [1, 2])
    pool.set_weights([12], [4.0])
    before = one_by_one(pool)
    with pytest.raises(hitl.InvalidArgument, match=message.replace("[", r"\[")
                       .replace("(", r"\(").replace(")", r"\)")):
        pool.set_labels(indices, labels)
    with pytest.raises(hitl.InvalidArgument):
        pool.set_weights([0, 1, 2], [1.0, 2.0, float("nan")])
    with pytest.raises(hitl.InvalidArgument):
        pool.set_weights([0, 1], [1.0])
    after = one_by_one(pool)
    for a, b in zip(before, after):
        assert np.array_equal(a, b)


def test_bad_ranges(small):
    pool, X, y = small
    with pytest.raises(hitl.InvalidArgument, match="leave the pool of 400"):
        pool.labels(399, 2)
    with pytest.raises(hitl.InvalidArgument):
        pool.rows(401)
