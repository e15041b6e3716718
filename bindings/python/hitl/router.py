"""hitl.Router (hitl_router): the model decides alone when it is confident
and hands the rest to a person; threshold calibration and temperature
scaling on labeled data."""
import collections

import numpy as np

from ._ffi import ffi, lib
from ._base import Handle, Params, check, size_arg, pool_range, enum_value
from ._enums import RouterInfo, ItemState
from . import _arrays
from ._plot import agg_figure, save

__all__ = ["Router", "Routing", "ReviewCurve"]

REVIEW_RATES = (0.05, 0.10, 0.20, 0.25, 0.30, 0.50)

Routing = collections.namedtuple("Routing", "accept labels confidence n_accepted")
Routing.__doc__ = """Decisions for n items: accept (bool: the predicted label
stands; False: send to review), labels (int32 predicted label, the
pre-annotation to show), confidence (float32 scaled confidence),
n_accepted."""


class ReviewCurve(collections.namedtuple(
        "ReviewCurve", "review_rate errors_caught cost_caught "
                       "accepted_error_rate n n_errors")):
    """What reviewing the riskiest items (lowest routing score first, the
    CAPACITY mode's order) catches, per review rate: arrays review_rate,
    errors_caught (share of the model's errors sent to review), cost_caught
    (share of the errors' cost), accepted_error_rate (errors among the
    accepted items); n items, n_errors errors.  str() is a table."""

    def __str__(self):
        lines = ["%8s %14s %12s %15s" % ("review", "errors caught",
                                         "cost caught", "accepted error")]
        for row in zip(self.review_rate, self.errors_caught,
                       self.cost_caught, self.accepted_error_rate):
            lines.append("%7.1f%% %13.1f%% %11.1f%% %14.2f%%"
                         % tuple(100 * v for v in row))
        lines.append("(%d items, %d errors of the model)" % (self.n, self.n_errors))
        return "\n".join(lines)

    def plot(self, path, others=None, title=None, label="this router"):
        """Draw errors caught (solid) against the review rate into a PNG at
        `path`, and cost caught (dashed) where it differs (costs other than
        0/1); `others` ({name: ReviewCurve}) are drawn beside it, e.g. the
        same items routed by confidence and by the detector.  Returns path.
        Needs python3-matplotlib."""
        fig, ax = agg_figure()
        curves = {label: self}
        curves.update(others or {})
        for name, c in curves.items():
            line, = ax.plot(100 * np.asarray(c.review_rate),
                            100 * np.asarray(c.errors_caught), marker="o",
                            label="%s: errors caught" % name)
            if not np.allclose(c.cost_caught, c.errors_caught):
                ax.plot(100 * np.asarray(c.review_rate),
                        100 * np.asarray(c.cost_caught), linestyle="--",
                        color=line.get_color(), label="%s: cost caught" % name)
        ax.set_xlabel("items sent to review (%)")
        ax.set_ylabel("caught in review (%)")
        ax.set_title(title or "what review catches (%d items, %d errors)"
                     % (self.n, self.n_errors))
        return save(fig, ax, path)


class Router(Params, Handle):
    """Routing by confidence for a model with n_classes classes.

    Router(n_classes, **params): params are the ROUTE_* hitl.Param names,
    with or without the prefix (threshold, target, level, temperature,
    ece_bins, mode, capacity, capacity_items, cost_budget, score, decision,
    fallback, temperature_guard, detector_min, detector_folds,
    detector_neighbours); enum parameters take members or names
    (mode="capacity", score="detector", decision="cost").  costs=C sets
    the cost matrix.  Probability tables are (n, n_classes) float32, read in place
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

    def __init__(self, n_classes, costs=None, **params):
        self._create("hitl_router_create", size_arg(n_classes, "n_classes"))
        self._n_classes = n_classes
        self._configure(params, *([lambda: self.set_costs(costs)]
                                  if costs is not None else []))

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

    def report(self, proba=None, labels=None, model=None, pool=None,
               first=0, n=None, rates=REVIEW_RATES):
        """Without data: {name: value} of every figure of the report.

        With labeled rows (proba, labels), or with model and pool (the
        LABELED items first..first+n-1, scored like route_pool, so the
        detector can score them): a ReviewCurve of errors and cost caught
        when the riskiest share `rate` of the items goes to review, for each
        of `rates`.  Only reads the router."""
        if proba is None and pool is None:
            return {i.name.lower(): self.info(i) for i in RouterInfo}
        if pool is not None:
            first, n = pool_range(pool, first, n)
            out = self.route_pool(model, pool, first, n)
            idx = np.flatnonzero(pool.states(first, n) == ItemState.LABELED)
            y = pool.labels(first, n)[idx].astype(np.int64)
            score, pred = out.confidence[idx], out.labels[idx]
        else:
            out = self.route(proba)
            y = np.asarray(labels, dtype=np.int64)
            score, pred = out.confidence, out.labels
        return self._curve(score, pred, y, rates)

    def _curve(self, score, pred, y, rates):
        C = self.costs
        paid = C[y, pred]
        wrong = pred != y
        order = np.argsort(score, kind="stable")
        m = len(y)
        caught_e, caught_c, acc_err = [], [], []
        for rate in rates:
            reviewed = np.zeros(m, dtype=bool)
            reviewed[order[:int(np.floor(rate * m + 1e-9))]] = True
            e, c = wrong.sum(), paid.sum()
            caught_e.append(wrong[reviewed].sum() / e if e else 1.0)
            caught_c.append(paid[reviewed].sum() / c if c else 1.0)
            kept = ~reviewed
            acc_err.append(wrong[kept].mean() if kept.any() else 0.0)
        return ReviewCurve(np.asarray(rates, dtype=np.float64),
                           np.array(caught_e), np.array(caught_c),
                           np.array(acc_err), m, int(wrong.sum()))

    @property
    def costs(self):
        """The cost matrix C[true][predicted] (n_classes x n_classes float64
        copy); assign a matrix to set it, None for the 0/1 default."""
        k = self._n_classes
        out, ptr = _arrays.out((k, k), np.float64, "double")
        check(lib.hitl_router_get_costs(ptr, self._ptr))
        return out

    @costs.setter
    def costs(self, value):
        self.set_costs(value)

    def set_costs(self, costs):
        """Set the cost matrix (array-like, n_classes x n_classes, finite,
        >= 0) or None for 0 on the diagonal and 1 elsewhere; returns self."""
        if costs is None:
            check(lib.hitl_router_set_costs(self._ptr, ffi.NULL, 0, 0))
            return self
        C = np.ascontiguousarray(costs, dtype=np.float64)
        if C.ndim != 2:
            raise ValueError("costs must be a 2-d matrix, not %d-d" % C.ndim)
        check(lib.hitl_router_set_costs(self._ptr, ffi.from_buffer("double[]", C),
                                        C.shape[0], C.shape[1]))
        return self

    @property
    def committee(self):
        """The committee whose doubt the detector uses (None); assign a
        fitted hitl.Committee or None.  The router keeps a reference."""
        return getattr(self, "_committee", None)

    @committee.setter
    def committee(self, committee):
        check(lib.hitl_router_set_committee(
            self._ptr, ffi.NULL if committee is None else committee._ptr))
        self._committee = committee

    def fit_detector(self, model, pool, first=0, n=None):
        """Fit the learned error detector on the pool's LABELED items
        first..first+n-1 (reviewed items the model was not fitted on);
        returns self.  Active only with enough items (info
        "detector_active"); used when score="detector"."""
        return self._pool(lib.hitl_router_fit_detector, model, pool, first, n)

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
