"""Explanations (hitl_model_explain*, hitl_explain_proba, hitl_committee_votes)
and counterfactuals (hitl_model_counterfactual), in readable form.

    ex = model.explain(X, top=5, feature_names=names)
    ex                      # a pandas DataFrame when pandas is importable
    hitl.Explanation(...)   # otherwise: rows as dicts, printable

One row per item: the predicted class and the runner-up with their
probabilities and margin, their scores, and for each the `top` features
pushing hardest (name, contribution w_c[j] x_j), the intercept and the rest,
so that score = intercept + sum(listed) + rest.
"""
import numpy as np

from ._ffi import ffi, lib
from ._base import check, size_arg, enum_value
from ._enums import Norm
from . import _arrays

__all__ = ["Explanation", "explain_proba", "explain_rows", "counterfactual"]


class Explanation:
    """Explanations of n items (what Model.explain returns without pandas).

    Arrays (numpy): proba (n, K), classes (n, 2): predicted and runner-up,
    scores (n, K) or None (custom models), features / contrib (n, 2, top),
    rest (n, 2, 2): intercept and the rest.  explanation[i] is a dict;
    records() all of them; to_frame() a pandas DataFrame; str() a table a
    console can show."""

    def __init__(self, proba, classes, scores, features, contrib, rest,
                 feature_names=None, class_names=None):
        self.proba, self.classes, self.scores = proba, classes, scores
        self.features, self.contrib, self.rest = features, contrib, rest
        self.feature_names = feature_names
        self.class_names = class_names

    def __len__(self):
        return len(self.classes)

    def _cls(self, c):
        return self.class_names[c] if self.class_names is not None else int(c)

    def _feat(self, j):
        return self.feature_names[j] if self.feature_names is not None else int(j)

    def _pushes(self, i, r):
        if self.features is None:
            return []
        return [(self._feat(j), float(v))
                for j, v in zip(self.features[i, r], self.contrib[i, r]) if j >= 0]

    def __getitem__(self, i):
        c1, c2 = (int(c) for c in self.classes[i])
        p1, p2 = float(self.proba[i, c1]), float(self.proba[i, c2])
        row = {"predicted": self._cls(c1), "p_predicted": p1,
               "runner_up": self._cls(c2), "p_runner_up": p2, "margin": p1 - p2}
        if self.scores is not None:
            row.update(score_predicted=float(self.scores[i, c1]),
                       score_runner_up=float(self.scores[i, c2]),
                       toward_predicted=self._pushes(i, 0),
                       toward_runner_up=self._pushes(i, 1),
                       intercept_predicted=float(self.rest[i, 0, 0]),
                       rest_predicted=float(self.rest[i, 0, 1]),
                       intercept_runner_up=float(self.rest[i, 1, 0]),
                       rest_runner_up=float(self.rest[i, 1, 1]))
        return row

    def records(self):
        """Every item's dict, in order."""
        return [self[i] for i in range(len(self))]

    def to_frame(self):
        """A pandas DataFrame, one row per item (needs pandas)."""
        import pandas as pd
        return pd.DataFrame.from_records(self.records())

    def __str__(self):
        lines = []
        for i, r in enumerate(self.records()):
            line = "%d: %s (%.3f) over %s (%.3f)" % (
                i, r["predicted"], r["p_predicted"], r["runner_up"], r["p_runner_up"])
            for key, word in (("toward_predicted", "for"), ("toward_runner_up", "against")):
                if r.get(key):
                    line += "; %s: %s" % (word, ", ".join(
                        "%s %+.3g" % (f, v) for f, v in r[key]))
            lines.append(line)
        return "\n".join(lines)

    def __repr__(self):
        return "<hitl.Explanation of %d items>\n%s" % (len(self), self)


def _frame_or_self(ex, as_frame):
    if as_frame is False:
        return ex
    try:
        import pandas  # noqa: F401
    except ImportError:
        if as_frame:
            raise
        return ex
    return ex.to_frame()


def explain_rows(model, X=None, pool=None, first=0, n=None, top=5,
                 feature_names=None, class_names=None, as_frame=None):
    """Model.explain / Model.explain_pool (see there)."""
    K, dim = model._n_classes, model._dim
    linear = getattr(model, "_linear", False)
    top = size_arg(top, "top") if linear else 0
    top = min(top, dim, 64)
    if pool is not None:
        rows_n = n
    else:
        r = _arrays.rows(X, dim)
        rows_n = r.n
    proba, pp = _arrays.out((rows_n, K), np.float32, "float")
    classes, pc = _arrays.out((rows_n, 2), np.int32, "int32_t")
    scores = features = contrib = rest = None
    ps = pf = pv = pr = ffi.NULL
    if linear:
        scores, ps = _arrays.out((rows_n, K), np.float32, "float")
        features, pf = _arrays.out((rows_n, 2, top), np.int32, "int32_t")
        contrib, pv = _arrays.out((rows_n, 2, top), np.float32, "float")
        rest, pr = _arrays.out((rows_n, 2, 2), np.float32, "float")
    if top == 0:
        pf = pv = ffi.NULL
    if pool is not None:
        check(lib.hitl_model_explain_pool(ps, pp, pc, pf, pv, pr, model._ptr, pool._ptr,
                                          first, rows_n, top), model)
    else:
        check(lib.hitl_model_explain(ps, pp, pc, pf, pv, pr, model._ptr, r.ptr, r.n,
                                     r.stride, top), model)
    if feature_names is not None:
        feature_names = list(feature_names)
        if len(feature_names) != dim:
            raise ValueError("feature_names has %d names for %d features"
                             % (len(feature_names), dim))
    ex = Explanation(proba, classes, scores, features, contrib, rest,
                     feature_names, class_names)
    return _frame_or_self(ex, as_frame)


def explain_proba(proba):
    """For any model's probabilities (n, K): (classes (n, 2): predicted and
    runner-up, their probabilities (n, 2), margin (n,))."""
    p = np.ascontiguousarray(proba, dtype=np.float32)
    if p.ndim != 2:
        raise ValueError("proba must be (n, n_classes), got shape %s" % (p.shape,))
    n, K = p.shape
    classes, pc = _arrays.out((n, 2), np.int32, "int32_t")
    top2, pt = _arrays.out((n, 2), np.float32, "float")
    margin, pm = _arrays.out((n,), np.float32, "float")
    check(lib.hitl_explain_proba(pc, pt, pm, ffi.from_buffer("float[]", p), n, K))
    return classes, top2, margin


def committee_votes(committee, X):
    """(n, K) uint32: how many members vote for each class of each row."""
    r = _arrays.rows(X, committee._dim)
    votes, pv = _arrays.out((r.n, committee._n_classes), np.uint32, "uint32_t")
    check(lib.hitl_committee_votes(pv, committee._ptr, r.ptr, r.n, r.stride), committee)
    return votes


def _bound(v, dim, name):
    if v is None:
        return None, ffi.NULL
    a = np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=np.float32), (dim,)))
    return a, ffi.from_buffer("float[]", a)


def counterfactual(model, x, target, norm="L2", editable=None, lower=None,
                   upper=None, margin=1e-3):
    """The smallest change to row x (dim,) that makes the model decide
    `target`: (x_new (dim,) float32, distance).  See Model.counterfactual."""
    dim = model._dim
    xa = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(-1))
    if xa.shape[0] != dim:
        raise ValueError("x has %d features, the model %d" % (xa.shape[0], dim))
    ed = ffi.NULL
    if editable is not None:
        e = np.zeros(dim, dtype=np.uint8)
        idx = np.asarray(editable)
        if idx.dtype == bool:
            e[:] = idx
        else:
            e[idx.astype(np.intp)] = 1
        ed_keep, ed = e, ffi.from_buffer("uint8_t[]", e)
    lo_keep, lo = _bound(lower, dim, "lower")
    hi_keep, hi = _bound(upper, dim, "upper")
    out, po = _arrays.out((dim,), np.float32, "float")
    dist = ffi.new("double *")
    check(lib.hitl_model_counterfactual(po, dist, model._ptr,
                                        ffi.from_buffer("float[]", xa), int(target),
                                        enum_value(Norm, norm, "norm"), ed, lo, hi,
                                        float(margin)), model)
    del lo_keep, hi_keep
    if editable is not None:
        del ed_keep
    return out, dist[0]
