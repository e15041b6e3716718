"""hitl.Committee (hitl_committee) and hitl.disagreement: query-by-committee."""
import numpy as np

from ._ffi import ffi, lib
from ._base import (Handle, Params, check, size_arg, float_arg, pool_range,
                    enum_value)
from ._enums import StrategyKind
from .errors import InvalidArgument
from .model import Model
from . import _arrays

__all__ = ["Committee", "disagreement"]


class _Member(Model):
    """A member the committee owns (hitl_committee_add_logreg): usable while
    the committee is open; close() only forgets it."""


class Committee(Params, Handle):
    """M models fitted together and asked together (hitl_committee); where
    they disagree about an item, its label is informative.

    Committee(dim, n_classes, l2=(), models=(), **params):
    - l2: one built-in logistic-regression member per value (owned by the
      committee: hitl_committee_add_logreg);
    - models: hitl.Model objects (built-in or CustomModel) added as members;
      borrowed by the C committee, so the Committee keeps them alive;
    - params: bootstrap, seed, threads, block_rows (the COMMITTEE_* Params).

    Query it with a QBC_* Strategy: hitl.query(strategy, committee, pool, k).

    Borrowed: models given in models= or add_model() stay the caller's
    objects (the Committee keeps them alive; closing one closes the
    committee first); the l2= members belong to the committee, and
    member(i) views of them work while it is open.  pickle/deepcopy copy
    the parameters and every member.

    Thread-safety: fit() and set_param() need the committee (and its members)
    to themselves; predictions and queries are concurrent reads.

    >>> pool = hitl.Pool.from_array(np.random.default_rng(0).normal(size=(60, 3)))
    >>> pool.set_labels(range(20), np.arange(20) % 2)
    >>> len(hitl.Committee(3, 2, l2=(0.01, 1.0, 100.0), seed=1).fit(pool))
    3
    """
    _c_free = "hitl_committee_free"
    _c_set_param = "hitl_committee_set_param"
    _c_get_param = "hitl_committee_get_param"
    _param_prefix = "COMMITTEE_"

    def __init__(self, dim, n_classes, l2=(), models=(), **params):
        out = ffi.new("hitl_committee **")
        check(lib.hitl_committee_create(out, size_arg(dim, "dim"),
                                        size_arg(n_classes, "n_classes")))
        self._models = []          # borrowed members, alive while C uses them
        self._own(out[0], keep=self._models)
        self._dim, self._n_classes = dim, n_classes
        try:
            for value in l2:
                self.add_logreg(value)
            for model in models:
                self.add_model(model)
            self.set_params(**params)
        except BaseException:
            self.close()
            raise

    dim = property(lambda self: self._dim)
    n_classes = property(lambda self: self._n_classes)

    def add_logreg(self, l2=1.0):
        """Add a built-in logistic regression with HITL_PARAM_L2 = l2, owned
        by the committee.  Returns its member index."""
        n = len(self)
        check(lib.hitl_committee_add_logreg(self._ptr, float_arg(l2, "l2")))
        return n

    def add_model(self, model):
        """Add `model` (a hitl.Model) as a member; the committee keeps it
        alive.  Returns its member index."""
        if not isinstance(model, Model):
            raise InvalidArgument("members are hitl.Model objects (wrap an "
                                  "estimator in hitl.CustomModel), got %r"
                                  % type(model).__name__)
        n = len(self)
        check(lib.hitl_committee_add_model(self._ptr, model._ptr))
        self._models.append(model)
        model._add_dependent(self)      # closing the model closes us first
        return n

    def __len__(self):
        n = ffi.new("size_t *")
        check(lib.hitl_committee_size(n, self._ptr))
        return n[0]

    size = property(__len__)

    def member(self, i):
        """Member i as a hitl.Model: the caller's own object for members added
        with add_model, else a view of the committee's member (valid while
        the committee is open; its parameters can be set)."""
        p = ffi.new("hitl_model **")
        check(lib.hitl_committee_member(p, self._ptr, size_arg(i, "i")))
        for model in self._models:
            if model._h == p[0]:
                return model
        m = _Member.__new__(_Member)
        m._borrow(p[0], self)
        m._dim, m._n_classes = self._dim, self._n_classes
        return m

    @property
    def members(self):
        return [self.member(i) for i in range(len(self))]

    def _callback_states(self):
        return [cb for m in self._models for cb in m._callback_states()]

    def fit(self, pool):
        """Fit every member on the pool's labeled items (each on its own
        bootstrap resample when bootstrap=1).  Returns self."""
        check(lib.hitl_committee_fit(self._ptr, pool._ptr), self)
        return self

    def predict_proba(self, X):
        """The consensus (mean of the members' probabilities) for the rows of
        X, as Model.predict_proba."""
        r = _arrays.rows(X, self._dim)
        proba, ptr = _arrays.out((r.n, self._n_classes), np.float32, "float")
        check(lib.hitl_committee_predict(ptr, self._ptr, r.ptr, r.n, r.stride),
              self)
        return proba

    def predict_proba_pool(self, pool, first=0, n=None):
        """The consensus for pool items first..first+n-1."""
        first, n = pool_range(pool, first, n)
        proba, ptr = _arrays.out((n, self._n_classes), np.float32, "float")
        check(lib.hitl_committee_predict_pool(ptr, self._ptr, pool._ptr,
                                              first, n), self)
        return proba

    def predict(self, X):
        return np.argmax(self.predict_proba(X), axis=1)

    def votes(self, X):
        """The vote split on each row of X: (n, n_classes) uint32, how many
        members give the class their largest probability."""
        from .explain import committee_votes
        return committee_votes(self, X)

    def __reduce__(self):
        from ._pickle import reduce_committee
        return reduce_committee(self)

    def _describe(self):
        return "dim=%d n_classes=%d members=%d" % (self._dim, self._n_classes,
                                                  len(self))


def disagreement(proba, kind):
    """A QBC_* disagreement measure (hitl_disagreement) of tables you computed
    yourself, e.g. the forward passes of an MC-dropout network (BALD).
    proba: (n_items, n_members, n_classes), converted to C-contiguous float32
    once if it is not already; each row is divided by its sum.  Returns the
    n_items scores (float64)."""
    kind = enum_value(StrategyKind, kind, "strategy kind")
    a, ptr = _arrays.table(proba, None, "proba", ndim=3)
    n_items, n_members, n_classes = a.shape
    scores, ps = _arrays.out(n_items, np.float64, "double")
    check(lib.hitl_disagreement(ps, ptr, n_items, n_members, n_classes, kind))
    return scores
