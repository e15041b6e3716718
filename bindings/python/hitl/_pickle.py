"""pickle and copy.deepcopy of the handles.

A C handle cannot be copied byte for byte, so each kind is rebuilt from
what the C API lets Python read back:
  Pool       rows (copied out, borrowed or not), ids, states, labels,
             weights and the class count;
  Model      the built-in model through its saved bytes (parameters and
             fitted weights, bit-exact); a CustomModel through its estimator,
             which must pickle itself;
  Strategy   its kind and parameters (a query changes nothing else);
  Router     its parameters (threshold and temperature included); the report
             of the last labeled-set call is not carried over;
  Committee  its parameters and members (each member as a Model).
Feedback refuses: see Feedback.__reduce__.
Attributes the Python objects carry beside the handle travel along.
"""
import numpy as np

from ._ffi import ffi, lib
from ._base import check
from ._enums import ItemState

# what every handle rebuilds from its C state instead of copying
_HANDLE_KEYS = frozenset(("_h", "_owner", "_dependents", "_borrowed", "_dim",
                          "_n_classes", "_models", "_cb"))


def extra_state(obj):
    """The object's Python attributes that its constructor does not remake."""
    return {k: v for k, v in obj.__dict__.items() if k not in _HANDLE_KEYS}


def _restore(obj, state):
    obj.__dict__.update(state)
    return obj


# -- pool ------------------------------------------------------------------------

def reduce_pool(pool):
    ids = pool.ids()
    if np.array_equal(ids, np.arange(len(ids), dtype=np.uint64)):
        ids = None                      # "id = index": the pool keeps no map
    return (restore_pool, (type(pool), pool.dim, pool.rows(), ids, pool.states(),
                           pool.labels(), pool.weights(), pool.n_classes,
                           extra_state(pool)))


def restore_pool(cls, dim, rows, ids, states, labels, weights, n_classes,
                 state):
    pool = cls(dim)
    try:
        pool.add(rows, ids)
        pool.n_classes = n_classes
        labeled = np.flatnonzero(states == ItemState.LABELED)
        pool.set_labels(labeled, labels[labeled])
        for i in np.flatnonzero(states == ItemState.SKIPPED):
            pool.set_state(int(i), ItemState.SKIPPED)
        heavy = np.flatnonzero(weights != 1)
        pool.set_weights(heavy, weights[heavy])
    except BaseException:
        pool.close()
        raise
    return _restore(pool, state)


# -- models ------------------------------------------------------------------------

def reduce_model(model, builtin_cls, custom_cls):
    """builtin_cls, custom_cls: hitl.LogisticRegression and hitl.CustomModel
    (passed in: this module imports no wrapper module)."""
    if isinstance(model, custom_cls):
        return (restore_custom, (type(model), custom_cls, model.estimator,
                                 model.dim, model.n_classes,
                                 int(model.get_param("threads")),
                                 getattr(model, "_trained", False),
                                 model.fitted, extra_state(model)))
    # a committee's own member comes back as a model of its own
    cls = builtin_cls if model._owner is not None else type(model)
    return (restore_model, (cls, model.to_bytes(), extra_state(model)))


def restore_model(cls, data, state):
    buf = ffi.from_buffer(data)
    out = ffi.new("hitl_model **")
    check(lib.hitl_model_load(out, buf, len(data)))
    return _restore(cls._wrap(out[0]), state)


class _NoFit:
    """Stands in for an estimator that is fitted already (see below)."""

    def fit(self, X, y):
        pass

    predict_proba = None


def _mark_fitted(model):
    """The C model of a CustomModel counts as fitted only after a successful
    hitl_model_fit, and there is no other way to say so.  One fit on a
    one-item pool, through a stand-in whose fit does nothing, marks it
    without touching the (already fitted) estimator."""
    cb = model._cb
    estimator, cb.estimator = cb.estimator, _NoFit()
    pool = ffi.new("hitl_pool **")
    try:
        check(lib.hitl_pool_create(pool, model.dim))
        row = ffi.new("float[]", model.dim)
        check(lib.hitl_pool_add(pool[0], row, 1, model.dim, ffi.NULL))
        check(lib.hitl_pool_set_label(pool[0], 0, 0))
        check(lib.hitl_model_fit(model._ptr, pool[0]), model)
    finally:
        lib.hitl_pool_free(pool[0])
        cb.estimator = estimator


def restore_custom(cls, custom_cls, estimator, dim, n_classes, threads,
                   trained, fitted, state):
    model = cls.__new__(cls)
    custom_cls.__init__(model, estimator, dim, n_classes, threads=threads,
                        trained=trained)
    if fitted and not trained:
        _mark_fitted(model)
    return _restore(model, state)


# -- strategy, router, committee ---------------------------------------------------

def reduce_strategy(s):
    return (restore_params, (type(s), (s.kind,), s.get_params(),
                             extra_state(s)))


def reduce_router(r):
    return (restore_params, (type(r), (r.n_classes,), r.get_params(),
                             extra_state(r)))


def restore_params(cls, args, params, state):
    return _restore(cls(*args, **params), state)


def reduce_committee(c):
    return (restore_committee, (type(c), c.dim, c.n_classes, c.members,
                                c.get_params(), extra_state(c)))


def restore_committee(cls, dim, n_classes, members, params, state):
    return _restore(cls(dim, n_classes, models=members, **params), state)
