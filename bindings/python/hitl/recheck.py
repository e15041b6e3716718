"""hitl.Recheck and hitl.find_label_issues (hitl_recheck): the labeled items
whose label is probably wrong, by confident learning, for a reviewer to
look at again."""
import collections

import numpy as np

from ._ffi import ffi, lib
from ._base import Handle, Params, check, size_arg, enum_value
from ._enums import ItemState, RecheckInfo
from .errors import InvalidArgument
from .strategy import QueryResult
from . import _arrays

__all__ = ["Recheck", "RecheckJoint", "find_label_issues"]

RecheckJoint = collections.namedtuple("RecheckJoint",
                                      "thresholds joint calibrated")
RecheckJoint.__doc__ = """The estimates of the last run: thresholds (K,
NaN for a class without labeled items), joint (K, K: the confident joint,
row = given label, column = confident class) and calibrated (K, K: the
calibrated counts; off the diagonal, the estimated wrong labels)."""


class Recheck(Params, Handle):
    """A re-check queue (hitl_recheck): confident learning (Northcutt,
    Jiang & Chuang, JAIR 2021) over the pool's LABELED items.

    Recheck(**params): folds, seed, rank ("self_confidence" or
    "normalized_margin"), threads (the RECHECK_* hitl.Param names, prefix
    optional).  Probability tables have one row per LABELED item, in pool
    index order.
    Not thread-safe (a run replaces the report); model and pool are only
    read."""
    _c_free = "hitl_recheck_free"
    _c_set_param = "hitl_recheck_set_param"
    _c_get_param = "hitl_recheck_get_param"
    _param_prefix = "RECHECK_"

    def __init__(self, **params):
        self._create("hitl_recheck_create")
        self._configure(params)

    @staticmethod
    def _k(pool, k):
        return size_arg(max(pool.count(ItemState.LABELED), 1) if k is None else k, "k")

    @staticmethod
    def _result(count, idx, ids, scores):
        c = count[0]
        return QueryResult(idx[:c].view(np.intp), ids[:c], scores[:c])

    def _run(self, call, k):
        count = ffi.new("size_t *")
        idx, pi = _arrays.out(k, np.uintp, "size_t")
        ids, pd = _arrays.out(k, np.uint64, "uint64_t")
        scores, ps = _arrays.out(k, np.float64, "double")
        call(count, pi, pd, ps)
        return self._result(count, idx, ids, scores)

    def query(self, model, pool, k=None):
        """Cross-fit `model` (folds) on the pool's labeled items, then the
        queue: QueryResult(indices, ids, scores) of up to k items (default:
        all flagged), most probably wrong first."""
        k = self._k(pool, k)
        return self._run(lambda *out: check(lib.hitl_recheck_query(
            *out, self._ptr, model._ptr, pool._ptr, k), model), k)

    def query_proba(self, proba, pool, k=None):
        """The queue from out-of-sample probabilities (n_labeled, K), row r
        for the r-th labeled item in pool index order (float32 C-contiguous
        is read in place, else converted once)."""
        p, pp = _arrays.table(proba, None, "proba")
        n = pool.count(ItemState.LABELED)
        if p.shape[0] != n:
            raise InvalidArgument("proba must have one row per labeled item "
                                  "(%d), got %d" % (n, p.shape[0]))
        k = self._k(pool, k)
        return self._run(lambda *out: check(lib.hitl_recheck_query_proba(
            *out, self._ptr, pp, p.shape[1], pool._ptr, k)), k)

    def cross_fit(self, model, pool):
        """The out-of-sample probabilities (n_labeled, K) float32 that query()
        ranks, by stratified k-fold cross-fitting of `model`."""
        n = pool.count(ItemState.LABELED)
        proba, pp = _arrays.out((n, model.n_classes), np.float32, "float")
        check(lib.hitl_recheck_cross_fit(pp, self._ptr, model._ptr, pool._ptr),
              model)
        return proba

    def info(self, what):
        """One figure of the last run (hitl.RecheckInfo member or name)."""
        v = ffi.new("double *")
        check(lib.hitl_recheck_get_info(
            v, self._ptr, enum_value(RecheckInfo, what, "recheck info")))
        return v[0]

    def report(self):
        """{name: value} of every figure of the last run."""
        return {i.name.lower(): self.info(i) for i in RecheckInfo}

    def joint(self):
        """RecheckJoint(thresholds, joint, calibrated) of the last run."""
        K = int(self.info(RecheckInfo.N_CLASSES))
        t, pt = _arrays.out(K, np.float64, "double")
        j, pj = _arrays.out((K, K), np.float64, "double")
        c, pc = _arrays.out((K, K), np.float64, "double")
        check(lib.hitl_recheck_joint(pt, pj, pc, self._ptr))
        return RecheckJoint(t, j, c)


def find_label_issues(pool, model=None, proba=None, k=None, **params):
    """The pool's labeled items whose label is probably wrong, most probably
    wrong first, as QueryResult(indices, ids, scores); give a model to
    cross-fit (hitl.Model) or out-of-sample `proba` (one row per labeled
    item, pool index order).  params as Recheck (folds=5, seed=0,
    rank="self_confidence", threads=0).

        pool = hitl.Pool.from_array(X); [pool.set_label(i, int(c)) for i, c in enumerate(y)]
        r = hitl.find_label_issues(pool, hitl.LogisticRegression(X.shape[1], 10))
        print(r.ids[:20])    # the labels a reviewer should check first
    """
    if (model is None) == (proba is None):
        raise InvalidArgument("give exactly one of model and proba")
    with Recheck(**params) as rc:
        if model is not None:
            return rc.query(model, pool, k)
        return rc.query_proba(proba, pool, k)
