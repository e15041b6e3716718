"""hitl.Strategy and hitl.query: which items to ask a person about next."""
import collections

import numpy as np

from ._ffi import ffi, lib
from ._base import Handle, Params, check, size_arg, enum_value
from ._enums import Param, StrategyKind
from . import _arrays

__all__ = ["Strategy", "QueryResult", "query"]

QueryResult = collections.namedtuple("QueryResult", "indices ids scores")
QueryResult.__doc__ = """What a query picked, most informative first:
indices (pool indices, intp: numpy's index type, so that
np.concatenate([seen, r.indices]) still indexes), ids (caller ids, uint64)
and scores (the strategy's score, float64), numpy arrays of equal length
<= k."""


class Strategy(Params, Handle):
    """A query strategy (hitl_strategy).

    Strategy(kind="margin", seed=None, **params): kind is a
    hitl.StrategyKind, its value or its name ("random", "least_confident",
    "margin", "entropy", ...); params are hitl.Param names in lower case.

    Borrowed: nothing; a query reads the model and pool only during the
    call.  pickle/deepcopy copy the kind and parameters.

    Not thread-safe: use one Strategy per thread (a query may update it;
    models and pools may be shared by concurrent queries).

    >>> pool = hitl.Pool.from_array(np.random.default_rng(0).normal(size=(50, 2)))
    >>> strategy = hitl.Strategy("random", seed=1)  # or "margin", "default", ...
    >>> strategy.query(None, pool, k=3).indices     # no model needed for random
    array([28, 49, 48])
    """
    _c_free = "hitl_strategy_free"
    _c_set_param = "hitl_strategy_set_param"
    _c_get_param = "hitl_strategy_get_param"

    def __init__(self, kind=StrategyKind.MARGIN, seed=None, **params):
        kind = enum_value(StrategyKind, kind, "strategy kind")
        self._create("hitl_strategy_create", kind)
        self.kind = kind
        if seed is not None:
            params["seed"] = seed
        self._configure(params)

    seed = property(lambda self: int(self.get_param(Param.SEED)),
                    lambda self, v: self.set_param(Param.SEED, v))

    def query(self, model, pool, k):
        """Pick up to k unlabeled items of `pool` (see hitl.query)."""
        return query(self, model, pool, k)

    def __reduce__(self):
        from ._pickle import reduce_strategy
        return reduce_strategy(self)

    def _describe(self):
        return self.kind.name.lower()


def query(strategy, model, pool, k):
    """hitl_query: the k UNLABELED items of `pool` that `strategy` ranks first
    under `model`: a hitl.Model, a hitl.Committee (hitl_query_committee:
    QBC_* kinds, or the consensus for the others), or None for strategies
    that need none (random, k-center, cold starts).
    Returns QueryResult(indices, ids, scores), fewer than k entries when fewer
    items are unlabeled.  Streams the pool in C without copying it; the result
    arrays are written by the library directly.  While nothing is labeled
    and the model (or committee) cannot score yet, every strategy returns
    its cold-start batch (cold_start=: k-means++ by default).  Raises
    StateError for an unfitted model once items are labeled,
    InvalidArgument for k == 0 or mismatched dimensions."""
    from .committee import Committee
    k = size_arg(k, "k")
    count = ffi.new("size_t *")
    indices, pi = _arrays.out(k, np.uintp, "size_t")
    ids, pd = _arrays.out(k, np.uint64, "uint64_t")
    scores, ps = _arrays.out(k, np.float64, "double")
    if isinstance(model, Committee):
        check(lib.hitl_query_committee(count, pi, pd, ps, strategy._ptr,
                                       model._ptr, pool._ptr, k), model)
    else:
        check(lib.hitl_query(count, pi, pd, ps, strategy._ptr,
                             ffi.NULL if model is None else model._ptr,
                             pool._ptr, k), *(() if model is None else (model,)))
    c = count[0]
    # the library writes size_t; pool indices are far below 2**63, so the
    # same bytes read as intp
    return QueryResult(indices[:c].view(np.intp), ids[:c], scores[:c])
