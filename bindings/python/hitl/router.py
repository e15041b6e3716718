"""hitl.Router (hitl_router): the model decides alone when it is confident
and hands the rest to a person; threshold calibration and temperature
scaling on labeled data."""
import collections

import numpy as np

from ._ffi import ffi, lib
from ._base import Handle, Params, check, size_arg, pool_range, enum_value
from ._enums import RouterInfo
from . import _arrays

__all__ = ["Router", "Routing"]

Routing = collections.namedtuple("Routing", "accept labels confidence n_accepted")
Routing.__doc__ = """Decisions for n items: accept (bool: the predicted label
stands; False: send to review), labels (int32 predicted label, the
pre-annotation to show), confidence (float32 scaled confidence),
n_accepted."""


class Router(Params, Handle):
    """Routing by confidence for a model with n_classes classes.

    Router(n_classes, **params): params are the ROUTE_* hitl.Param names,
    with or without the prefix (threshold, target, level, temperature,
    ece_bins).  Probability tables are (n, n_classes) float32, read in place
    when C-contiguous float32, else converted once; labels are converted to
    int32 once.  Every labeled-set call replaces the report (report()).

    Borrowed: nothing; the *_pool calls read the model and pool only during
    the call.  pickle/deepcopy copy the parameters (threshold and
    temperature included), not the last report.

    Thread-safety: route()/route_pool()/info() are concurrent reads; the
    others change the router.

    >>> router = hitl.Router(2, threshold=0.9)        # or calibrate() it
    >>> decision = router.route([[0.95, 0.05], [0.6, 0.4]])
    >>> decision.accept, decision.labels
    (array([ True, False]), array([0, 0], dtype=int32))
    """
    _c_free = "hitl_router_free"
    _c_set_param = "hitl_router_set_param"
    _c_get_param = "hitl_router_get_param"
    _param_prefix = "ROUTE_"

    def __init__(self, n_classes, **params):
        out = ffi.new("hitl_router **")
        check(lib.hitl_router_create(out, size_arg(n_classes, "n_classes")))
        self._own(out[0])
        self._n_classes = n_classes
        try:
            self.set_params(**params)
        except BaseException:
            self.close()
            raise

    n_classes = property(lambda self: self._n_classes)
    threshold = property(lambda self: self.get_param("threshold"),
                         lambda self, v: self.set_param("threshold", v))
    temperature = property(lambda self: self.get_param("temperature"),
                           lambda self, v: self.set_param("temperature", v))

    def info(self, what):
        """One figure of the report (hitl.RouterInfo member or name)."""
        v = ffi.new("double *")
        check(lib.hitl_router_get_info(v, self._ptr,
                                       enum_value(RouterInfo, what, "router info")))
        return v[0]

    def report(self):
        """{name: value} of every figure of the report."""
        return {i.name.lower(): self.info(i) for i in RouterInfo}

    def _labeled(self, fn, proba, labels):
        p, pp = _arrays.table(proba, self._n_classes, "proba")
        y, py = _arrays.ints(labels, "int32_t", "labels", p.shape[0])
        check(fn(self._ptr, pp, py, p.shape[0]))
        return self

    def fit_temperature(self, proba, labels):
        """Fit the temperature T on labeled rows; returns self."""
        return self._labeled(lib.hitl_router_fit_temperature, proba, labels)

    def calibrate(self, proba, labels):
        """Set the threshold from labeled rows (target precision at level);
        returns self."""
        return self._labeled(lib.hitl_router_calibrate, proba, labels)

    def evaluate(self, proba, labels):
        """Only replace the report with figures on labeled rows; returns self."""
        return self._labeled(lib.hitl_router_evaluate, proba, labels)

    def _pool(self, fn, model, pool, first, n):
        first, n = pool_range(pool, first, n)
        check(fn(self._ptr, model._ptr, pool._ptr, first, n), model)
        return self

    def fit_temperature_pool(self, model, pool, first=0, n=None):
        """fit_temperature on the pool's LABELED items first..first+n-1,
        scored by `model` (use items it was not fitted on)."""
        return self._pool(lib.hitl_router_fit_temperature_pool, model, pool,
                          first, n)

    def calibrate_pool(self, model, pool, first=0, n=None):
        return self._pool(lib.hitl_router_calibrate_pool, model, pool, first, n)

    def evaluate_pool(self, model, pool, first=0, n=None):
        return self._pool(lib.hitl_router_evaluate_pool, model, pool, first, n)

    @staticmethod
    def _outputs(n):
        acc, pa = _arrays.out(n, np.uint8, "uint8_t")
        lab, pl = _arrays.out(n, np.int32, "int32_t")
        conf, pc = _arrays.out(n, np.float32, "float")
        return (acc, lab, conf), (pa, pl, pc)

    def route(self, proba):
        """Decide each row of proba (n, n_classes): a Routing."""
        p, pp = _arrays.table(proba, self._n_classes, "proba")
        (acc, lab, conf), ptrs = self._outputs(p.shape[0])
        n_acc = ffi.new("size_t *")
        check(lib.hitl_router_route(n_acc, *ptrs, self._ptr, pp, p.shape[0]))
        return Routing(acc.view(np.bool_), lab, conf, n_acc[0])

    def route_pool(self, model, pool, first=0, n=None):
        """Decide pool items first..first+n-1 (any state), streaming the pool
        through the model: a Routing whose entry i is item first+i."""
        first, n = pool_range(pool, first, n)
        (acc, lab, conf), ptrs = self._outputs(n)
        n_acc = ffi.new("size_t *")
        check(lib.hitl_router_route_pool(n_acc, *ptrs, self._ptr, model._ptr,
                                         pool._ptr, first, n), model)
        return Routing(acc.view(np.bool_), lab, conf, n_acc[0])

    def __reduce__(self):
        from ._pickle import reduce_router
        return reduce_router(self)

    def _describe(self):
        return "n_classes=%d threshold=%g" % (self._n_classes, self.threshold)
