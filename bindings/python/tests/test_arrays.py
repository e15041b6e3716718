"""numpy in, numpy out: zero-copy where promised, one documented conversion
elsewhere, and borrowed memory kept alive as long as the pool may read it."""
import gc
import weakref

import numpy as np
import pytest

import hitl
from hitl import ffi, lib
from conftest import blobs, label_first


def row_address(pool, i):
    p = ffi.new("const float **")
    assert lib.hitl_pool_row(p, pool._ptr, i) == 0
    return int(ffi.cast("uintptr_t", p[0]))


def test_borrow_is_zero_copy_and_keeps_the_array_alive():
    X, _ = blobs(100, 8, 2, seed=3)
    base = X.ctypes.data
    pool = hitl.Pool.from_array(X, borrow=True)
    for i in (0, 1, 57, 99):
        assert row_address(pool, i) == base + i * 8 * 4
    ref = weakref.ref(X)
    expected = X[57].copy()
    del X
    gc.collect()
    assert ref() is not None                 # the pool holds it
    np.testing.assert_array_equal(pool.row(57), expected)
    pool.close()
    gc.collect()
    assert ref() is None                     # released with the pool


def test_borrow_kept_alive_until_garbage_collection():
    X, _ = blobs(10, 4, 2, seed=3)
    ref = weakref.ref(X)
    pool = hitl.Pool(4)
    pool.borrow(X)
    del X
    gc.collect()
    assert ref() is not None
    del pool                                 # ffi.gc frees the C pool first
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("view", ["rows", "columns", "both"])
def test_strided_views_are_read_in_place(view):
    big, _ = blobs(200, 16, 2, seed=5)
    X = {"rows": big[::3], "columns": big[:, :8], "both": big[10::2, 4:12]}[view]
    dim = X.shape[1]
    with hitl.Pool(dim) as pool:
        pool.borrow(X)
        assert len(pool) == len(X)
        for i in (0, 1, len(X) - 1):
            assert row_address(pool, i) == X[i:].ctypes.data
            np.testing.assert_array_equal(pool.row(i), X[i])


def test_other_dtypes_and_layouts_are_converted_once():
    X64, _ = blobs(50, 5, 2, seed=9)
    X64 = X64.astype(np.float64)
    cases = [X64, np.asfortranarray(X64.astype(np.float32)), X64.tolist(),
             (X64 * 10).astype(np.int32), X64.astype(">f4")]
    for X in cases:
        with hitl.Pool(5) as pool:
            pool.add(X)
            want = np.asarray(X, dtype=np.float32)
            for i in (0, 49):
                np.testing.assert_array_equal(pool.row(i), want[i])


def test_add_copies():
    X, _ = blobs(20, 3, 2, seed=1)
    with hitl.Pool(3) as pool:
        pool.add(X)
        assert row_address(pool, 0) != X.ctypes.data
        X[0] = 1e6
        assert pool.row(0)[0] != 1e6


def test_outputs_are_numpy(small):
    pool, X, y = small
    label_first(pool, y, 50)
    model = hitl.LogisticRegression(6, 3).fit(pool)
    P = model.predict_proba(X[:7])
    assert P.dtype == np.float32 and P.shape == (7, 3) and P.flags.c_contiguous
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-5)
    assert model.predict(X[:7]).shape == (7,)
    Pp = model.predict_proba_pool(pool, 3, 4)
    np.testing.assert_array_equal(Pp, model.predict_proba(X[3:7]))
    r = hitl.Strategy("entropy").query(model, pool, 5)
    assert r.indices.dtype == np.intp and r.ids.dtype == np.uint64
    # numpy's index type: joins with other index arrays and still indexes
    assert np.concatenate([np.arange(2), r.indices]).dtype == np.intp
    assert r.scores.dtype == np.float64 and len(r.indices) == 5
    # float64 input gives the same probabilities as its float32 rounding
    np.testing.assert_array_equal(model.predict_proba(X[:7].astype(np.float64)), P)
    np.testing.assert_array_equal(model.predict_proba(X[:14:2]),
                                  model.predict_proba(X[:14:2].copy()))


def test_ids():
    X, _ = blobs(6, 2, 2, seed=0)
    with hitl.Pool(2) as pool:
        r = pool.add(X[:3], ids=np.array([10, 20, 2**63 + 5], dtype=np.uint64))
        assert list(r) == [0, 1, 2]
        assert pool.find(2**63 + 5) == 2
        pool.add(X[3:], ids=[7, 8, 9])
        assert pool.item(4).id == 8
        assert len(pool.add(np.empty((0, 2), np.float32))) == 0
