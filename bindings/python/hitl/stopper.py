"""hitl.Stopper (hitl_stopper): when more labels stop paying, by the
criteria of hitl.h's "Stopping" section."""
import math

import numpy as np

from ._ffi import ffi, lib
from ._base import Handle, Params, check, size_arg, enum_value
from ._enums import StopCriterion, StopperInfo
from . import _arrays

__all__ = ["Stopper"]


class Stopper(Params, Handle):
    """Stopping criteria over the rounds of a loop (hitl_stopper).

    Stopper(n_classes, **params): params are the STOP_* hitl.Param names
    with or without the prefix (set_size, kappa, window, uncertainty,
    confidence, budget, gain, seed).  Call update(model, pool) after each
    fit (or observe(...) with the stop set's probabilities of a loop run
    elsewhere); fired() says at which round each criterion fired.
    Thread-safety: update, observe, set_heldout and set_param change the
    stopper; fired, info and get_param are concurrent reads."""
    _c_free = "hitl_stopper_free"
    _c_set_param = "hitl_stopper_set_param"
    _c_get_param = "hitl_stopper_get_param"
    _param_prefix = "STOP_"

    def __init__(self, n_classes, **params):
        self._create("hitl_stopper_create", size_arg(n_classes, "n_classes"))
        self._n_classes = n_classes
        self._configure(params)

    n_classes = property(lambda self: self._n_classes)

    def set_heldout(self, X, y):
        """The held-out labeled set of the PERFORMANCE criterion (copied);
        keep it out of the pool the model is fitted on."""
        a = np.ascontiguousarray(X, dtype=np.float32)
        if a.ndim != 2:
            a = a.reshape(len(a), -1)
        lab, py = _arrays.ints(y, "int32_t", "y", a.shape[0])
        check(lib.hitl_stopper_set_heldout(self._ptr, ffi.from_buffer("float[]", a),
                                           py, a.shape[0], a.shape[1]))
        return self

    @staticmethod
    def _names(mask):
        return {c.name.lower() for c in StopCriterion if mask >> (c - 1) & 1}

    def update(self, model, pool):
        """One round after fitting `model` on `pool`: the set of criteria
        (lower-case names) that have fired by now."""
        fired = ffi.new("unsigned *")
        check(lib.hitl_stopper_update(fired, self._ptr, model._ptr, pool._ptr), model)
        return self._names(fired[0])

    def observe(self, proba, active=None, n_labeled=0, accuracy=math.nan):
        """One round from the stop set's probabilities (n, n_classes),
        which items are still unlabeled (bool array, None: all), the
        labeled count and the held-out accuracy (nan: none).  The set of
        criteria that have fired by now."""
        p, pp = _arrays.table(proba, self._n_classes, "proba")
        if active is None:
            pa = ffi.NULL
        else:
            act = np.ascontiguousarray(active, dtype=np.uint8)
            if act.shape != (p.shape[0],):
                raise ValueError("active must have %d entries" % p.shape[0])
            pa = ffi.from_buffer("uint8_t[]", act)
        fired = ffi.new("unsigned *")
        check(lib.hitl_stopper_observe(fired, self._ptr, pp, pa, p.shape[0],
                                       size_arg(n_labeled, "n_labeled"), float(accuracy)))
        return self._names(fired[0])

    def fired(self, criterion=None):
        """The round at which `criterion` first fired (0: not yet), or
        {name: round} of every criterion."""
        r = ffi.new("size_t *")
        if criterion is not None:
            check(lib.hitl_stopper_fired(r, self._ptr, enum_value(
                StopCriterion, criterion, "stop criterion")))
            return r[0]
        return {c.name.lower(): self.fired(c) for c in StopCriterion}

    def info(self, what):
        """A figure of the last round (hitl.StopperInfo member or name)."""
        v = ffi.new("double *")
        check(lib.hitl_stopper_get_info(v, self._ptr, enum_value(
            StopperInfo, what, "stopper info")))
        return v[0]

    def report(self):
        return {i.name.lower(): self.info(i) for i in StopperInfo}

    def _describe(self):
        return "n_classes=%d rounds=%d" % (self._n_classes, self.info("rounds"))
