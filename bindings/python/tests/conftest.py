"""Shared fixtures of the Python bindings' tests.

Run through `make check` (bindings/python/check-python sets PYTHONPATH to the
build tree's bindings/python and LD_LIBRARY_PATH to its lib/.libs), or by hand:
    bindings/python/check-python -k strategy      (in the build directory)
"""
import gzip
import os

import numpy as np
import pytest

import hitl

TOP_SRCDIR = os.environ.get(
    "HITL_TOP_SRCDIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))
HEADER = os.path.join(TOP_SRCDIR, "include", "hitl.h")


def load_digits():
    """The UCI digits (1797 x 64, labels 0..9): data/digits.csv.gz of the
    source tree, else scikit-learn's identical copy."""
    path = os.path.join(TOP_SRCDIR, "data", "digits.csv.gz")
    if os.path.exists(path):
        with gzip.open(path, "rt") as f:
            a = np.loadtxt(f, delimiter=",", dtype=np.float64)
        X, y = a[:, :-1], a[:, -1].astype(np.int64)
    else:
        from sklearn.datasets import load_digits as sk_load
        X, y = sk_load(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


@pytest.fixture(scope="session")
def digits():
    return load_digits()


def blobs(n, dim, k, seed, spread=1.5):
    """n float32 points around k random centres, and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(k, dim))
    y = rng.integers(0, k, size=n)
    X = (centres[y] + rng.normal(size=(n, dim))).astype(np.float32)
    return X, y


@pytest.fixture
def small():
    """A pool of 400 labeled-able items, 6 features, 3 classes."""
    X, y = blobs(400, 6, 3, seed=7)
    with hitl.Pool.from_array(X) as pool:
        yield pool, X, y


def label_first(pool, y, n):
    for i in range(n):
        pool.set_label(i, int(y[i]))
