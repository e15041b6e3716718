"""hitl.Model: what learns (hitl_model): the built-in logistic regression, or
any Python object with fit/predict_proba driven through C callbacks."""
import inspect
import numbers
import sys
import threading
import warnings
import weakref

import numpy as np

from ._ffi import ffi, lib
from ._base import (Handle, Params, check, size_arg, float_arg, path_arg,
                    add_note, pool_range, enum_value)
from ._enums import Info, Param, ItemState, Status
from .errors import InvalidArgument, NumericError, StateError
from .labels import encode_target
from .pool import Pool
from . import _arrays
from . import explain as _explain

__all__ = ["Model", "LogisticRegression", "CustomModel", "NotFittedError"]


class Model(Params, Handle):
    """A libhitl model (hitl_model).  Create one with LogisticRegression(),
    CustomModel() or Model.load()/Model.from_bytes().

        model = hitl.Model.load("triage.model")      # hitl_model_save's format
        model.fit(pool)                              # the pool's labeled items
        proba = model.predict_proba(X)               # (n, n_classes) float32

    Thread-safety: fit(), set_param() and close() need the model to
    themselves; predict_proba(), predict_proba_pool(), info(), to_bytes()
    and queries using the model may run from several Python threads at once
    (libhitl's "concurrent reads"; they release the GIL while in C).

    Borrowed: nothing is kept from the calls.  fit(pool) reads the pool
    during the call only; predict_proba reads float32 C-contiguous X in
    place during the call (other arrays are converted first); results are
    new arrays.  A Committee that adds the model keeps it alive, and
    closing the model closes that committee first."""
    _c_free = "hitl_model_free"
    _c_set_param = "hitl_model_set_param"
    _c_get_param = "hitl_model_get_param"

    def __init__(self):
        raise TypeError("use hitl.LogisticRegression(), hitl.CustomModel() "
                        "or hitl.Model.load()")

    @classmethod
    def _wrap(cls, ptr, keep=()):
        self = cls.__new__(cls)
        self._own(ptr, keep=keep)
        self._dim = int(self.info(Info.DIM))
        self._n_classes = int(self.info(Info.N_CLASSES))
        return self

    # -- parameters and figures ---------------------------------------------
    def set_params(self, **params):
        """set_param for each keyword (l2=1e-3, max_iter=200, threads=1, ...;
        C=... sets l2 = 1/C as in scikit-learn).  Returns self."""
        for key, value in params.items():
            if key == "C":
                key, value = "L2", 1.0 / float_arg(value, "C")
            self.set_param(key, value)
        return self

    def info(self, what):
        """A figure about the model (hitl.Info member, value or name)."""
        v = ffi.new("double *")
        check(lib.hitl_model_get_info(v, self._ptr, enum_value(Info, what, "info")))
        return v[0]

    dim = property(lambda self: self._dim, doc="Features per row.")
    n_classes = property(lambda self: self._n_classes, doc="Classes.")
    fitted = property(lambda self: bool(self.info(Info.FITTED)))
    grad_norm = property(lambda self: self.info(Info.GRAD_NORM),
                         doc="||grad f||_2 at the last fit's solution.")
    objective = property(lambda self: self.info(Info.OBJECTIVE))
    n_iter = property(lambda self: int(self.info(Info.ITERATIONS)))
    n_train = property(lambda self: int(self.info(Info.N_TRAIN)))

    # -- fitting and scoring ------------------------------------------------
    def fit(self, pool):
        """(Re)fit on the pool's LABELED items.  Returns self.  StateError when
        nothing is labeled; on failure the previous fit is kept."""
        check(lib.hitl_model_fit(self._ptr, pool._ptr), self)
        return self

    fit_pool = fit

    def predict_proba(self, X):
        """Class probabilities (n, n_classes) float32 of the rows of X (n, dim).
        float32 rows are read in place; other dtypes/layouts are converted to
        float32 once.  X may be a scipy.sparse CSR matrix/array (int32
        indices and float32 values read in place, else converted once)."""
        if _arrays.is_sparse(X):
            c = _arrays.csr(X, self._dim)
            proba, ptr = _arrays.out((c.n, self._n_classes), np.float32, "float")
            check(lib.hitl_model_predict_csr(ptr, self._ptr, c.indptr, c.indices,
                                             c.values, c.n), self)
            return proba
        r = _arrays.rows(X, self._dim)
        proba, ptr = _arrays.out((r.n, self._n_classes), np.float32, "float")
        check(lib.hitl_model_predict(ptr, self._ptr, r.ptr, r.n, r.stride), self)
        return proba

    def predict(self, X):
        """The most probable class of each row of X (int64)."""
        return np.argmax(self.predict_proba(X), axis=1)

    def predict_proba_pool(self, pool, first=0, n=None):
        """Probabilities of pool items first..first+n-1 (all from `first` when
        n is None), streamed from the pool without copying its rows."""
        first, n = pool_range(pool, first, n)
        proba, ptr = _arrays.out((n, self._n_classes), np.float32, "float")
        check(lib.hitl_model_predict_pool(ptr, self._ptr, pool._ptr, first, n),
              self)
        return proba

    # -- explanations ------------------------------------------------------
    _linear = False     # the built-in model: scores and contributions

    def explain(self, X, top=5, feature_names=None, class_names=None, as_frame=None):
        """Why the model leans the way it does on each row of X: predicted
        class and runner-up, probabilities, margin and, for the built-in
        model, scores and the `top` features pushing hardest toward each
        (w_c[j] x_j, named by feature_names), with intercept and the rest.
        A pandas DataFrame when pandas is importable (as_frame=None), else a
        hitl.Explanation; as_frame=True/False forces either.

            >>> model.explain(X[:2], top=3, feature_names=names)   # doctest: +SKIP
        """
        return _explain.explain_rows(self, X=X, top=top, feature_names=feature_names,
                                     class_names=class_names, as_frame=as_frame)

    def explain_pool(self, pool, first=0, n=None, top=5, feature_names=None,
                     class_names=None, as_frame=None):
        """explain() for pool items first..first+n-1, read in place."""
        first, n = pool_range(pool, first, n)
        return _explain.explain_rows(self, pool=pool, first=first, n=n, top=top,
                                     feature_names=feature_names,
                                     class_names=class_names, as_frame=as_frame)

    def counterfactual(self, x, target, norm="L2", editable=None, lower=None,
                       upper=None, margin=1e-3):
        """The smallest change to row x that makes the built-in model decide
        class index `target`: (x_new, distance).  norm "L2" or "L1";
        editable: indices or a boolean mask of the features that may change
        (default all); lower/upper: bounds (scalars or per feature); margin:
        how far the target's score must lead.  StateError when no change
        within the bounds reaches it."""
        return _explain.counterfactual(self, x, target, norm, editable, lower, upper,
                                       margin)

    # -- weights and serialization (built-in model) --------------------------
    def get_coef(self):
        """(W, b): weights (n_classes, dim) and intercepts (n_classes,), float64
        copies of the fitted built-in model's solution."""
        W, pw = _arrays.out((self._n_classes, self._dim), np.float64, "double")
        b, pb = _arrays.out((self._n_classes,), np.float64, "double")
        check(lib.hitl_model_get_coef(pw, pb, self._ptr))
        return W, b

    coef_ = property(lambda self: self.get_coef()[0])
    intercept_ = property(lambda self: self.get_coef()[1])

    def to_bytes(self):
        """The model in libhitl's versioned, checksummed format."""
        size = ffi.new("size_t *")
        check(lib.hitl_model_save_size(size, self._ptr))
        buf = bytearray(size[0])
        written = ffi.new("size_t *")
        check(lib.hitl_model_save(written, ffi.from_buffer(buf), len(buf),
                                  self._ptr))
        return bytes(buf[:written[0]])

    def save(self, path):
        """Write the model to `path` (atomically: temporary name + rename)."""
        check(lib.hitl_model_save_file(self._ptr, path_arg(path)))

    @classmethod
    def from_bytes(cls, data):
        """A model from to_bytes() output; FormatError if corrupt/truncated."""
        buf = ffi.from_buffer(memoryview(data).cast("B"))
        out = ffi.new("hitl_model **")
        check(lib.hitl_model_load(out, buf, len(buf)))
        return LogisticRegression._wrap(out[0])

    @classmethod
    def load(cls, path):
        """A model from a file written by save()."""
        out = ffi.new("hitl_model **")
        check(lib.hitl_model_load_file(out, path_arg(path)))
        return LogisticRegression._wrap(out[0])

    def _describe(self):
        return "dim=%d n_classes=%d fitted=%s" % (self._dim, self._n_classes,
                                                 self.fitted)

    def __reduce__(self):
        """pickle/deepcopy: the built-in model through to_bytes() (bit-exact),
        a CustomModel through its estimator (which must pickle)."""
        from ._pickle import reduce_model
        return reduce_model(self, LogisticRegression, CustomModel)


class NotFittedError(StateError, ValueError, AttributeError):
    """A model was asked to predict before it was fitted (scikit-learn's
    NotFittedError is also a ValueError and an AttributeError).  When
    scikit-learn is loaded, the error raised is also an instance of
    sklearn.exceptions.NotFittedError."""


_sk_not_fitted = []


def _not_fitted(message):
    """NotFittedError, also scikit-learn's when scikit-learn is in use (it
    is not imported for this: hitl does not need it)."""
    cls = NotFittedError
    sk = sys.modules.get("sklearn.exceptions")
    if sk is not None:
        if not _sk_not_fitted:
            _sk_not_fitted.append(type("NotFittedError", (NotFittedError,
                                                          sk.NotFittedError),
                                       {"__module__": __name__}))
        cls = _sk_not_fitted[0]
    return cls(message, Status.ESTATE)


# LogisticRegression's constructor parameters (scikit-learn's get_params),
# and the C parameter each one sets (C and l2 both set HITL_PARAM_L2).
_LOGREG_C_PARAMS = (("fit_intercept", Param.FIT_INTERCEPT), ("tol", Param.TOL),
                    ("max_iter", Param.MAX_ITER),
                    ("warm_start", Param.WARM_START),
                    ("threads", Param.THREADS),
                    ("block_rows", Param.BLOCK_ROWS))
_LOGREG_PARAMS = ("dim", "n_classes", "C", "l2") + tuple(
    name for name, _ in _LOGREG_C_PARAMS)


def _restore_logreg(params, data, fitted):
    self = LogisticRegression.__new__(LogisticRegression)
    self.__dict__.update(params)
    if data is not None:
        self._adopt(Model.from_bytes(data))
    self.__dict__.update(fitted)
    return self


class LogisticRegression(Model):
    """libhitl's built-in logistic regression with L2 penalty, as a
    scikit-learn classifier and as a libhitl model.  Fitted in double
    precision by the C library, scored in float32 (threads= C threads).

        clf = hitl.LogisticRegression(C=0.5).fit(X, ["spam", "ham", ...])
        clf.predict(X_new)                 # labels from clf.classes_
        cross_val_score(hitl.LogisticRegression(), X, y)    # any sklearn tool

    LogisticRegression(dim=None, n_classes=None, C=1.0, *, l2=None,
                       fit_intercept=True, tol=1e-6, max_iter=1000,
                       warm_start=True, threads=0, block_rows=2048)

    C is scikit-learn's C for binary and multiclass problems: the C
    library minimises  sum_i s_i * -log softmax(W x_i + b)[y_i]
    + lambda/2 ||W||^2  (hitl.h, "Model"), which is scikit-learn's
    multinomial objective at lambda = 1/C; on two classes scikit-learn
    uses one sigmoid (w = w1 - w0), whose penalty 1/(2C) ||w||^2 is the
    same problem at lambda = 2/C.  So lambda = 1/C for K > 2 and 2/C for
    K = 2, and probabilities match sklearn.linear_model.
    LogisticRegression(C=C) to about 1e-4.  l2= sets lambda itself and
    then C is ignored.  The other parameters are the C library's
    (hitl.Param, same defaults; tol bounds ||grad f||_2, not scikit-learn's
    tol).  get_params()/set_params() are scikit-learn's; set_param()/
    get_param() still reach the C handle directly.

    Two ways to fit:
    - fit(X, y, sample_weight=None): scikit-learn's.  Labels of any
      hashable kind (str, int, integral float, bool, numpy scalars);
      classes_ is their sorted set, predict returns them.  Dense X only
      for now: a scipy sparse matrix raises TypeError (pass X.toarray()).
      Zero sample weights drop their rows.  A refit with other classes or
      another width starts from scratch; otherwise it warm-starts.
    - fit_pool(pool) (also fit(pool)): the pool's LABELED items, labels
      being class indices 0 .. n_classes-1 (classes_ = arange(K)): the
      active learning loop.  n_classes is the one given, else the pool's
      declared class count, else its largest label + 1 (at least 2).

    dim and n_classes may be given (positionally, as before 0.2: the C
    model then exists at once, so strategies, committees and queries can
    use it before any fit; labels of fit(X, y) must then be 0 ..
    n_classes-1).  Left None, fit infers them (n_features_in_,
    len(classes_)); they stay None in get_params, as scikit-learn wants.

    Thread-safety: fit, set_params, set_param and close need the object
    to themselves; predict_proba, predict, decision_function, score and
    queries may run from several threads at once.

    Borrowed: nothing.  fit copies X (as float32) into a temporary pool
    freed before it returns; predict reads float32 C-contiguous X in place
    during the call only; fit_pool reads the pool during the call only.
    Pickling and clone() work (the fitted model travels as its saved
    bytes)."""

    _estimator_type = "classifier"
    # Class attributes: an instance's own dim/n_classes are its parameters
    # (scikit-learn reads them back with getattr), not Model's properties.
    dim = None
    n_classes = None

    def __init__(self, dim=None, n_classes=None, C=1.0, *, l2=None,
                 fit_intercept=True, tol=1e-6, max_iter=1000, warm_start=True,
                 threads=0, block_rows=2048):
        self.dim, self.n_classes, self.C, self.l2 = dim, n_classes, C, l2
        self.fit_intercept, self.tol, self.max_iter = fit_intercept, tol, max_iter
        self.warm_start, self.threads, self.block_rows = (warm_start, threads,
                                                          block_rows)
        if dim is not None or n_classes is not None:
            if dim is None or n_classes is None:
                raise InvalidArgument("give both dim and n_classes, or neither "
                                      "(fit then learns them)")
            self._create(dim, n_classes)

    # -- the C handle ----------------------------------------------------
    def _create(self, dim, n_classes):
        """A new C model (dim, n_classes) with this object's parameters,
        replacing the current one (if any) only once it is set up."""
        out = ffi.new("hitl_model **")
        check(lib.hitl_model_create_logreg(out, size_arg(dim, "dim"),
                                           size_arg(n_classes, "n_classes")))
        fresh = Model._wrap(out[0])
        try:
            self._push_params(fresh, n_classes)
        except BaseException:
            fresh.close()
            raise
        self._adopt(fresh)

    def _adopt(self, model):
        """Take over `model`'s C handle (the other object is emptied)."""
        if self._h is not None:
            Handle.close(self)
        self._h, model._h = model._h, None
        self._dependents = weakref.WeakSet()
        self._dim, self._n_classes = model._dim, model._n_classes

    def _lambda(self, n_classes):
        if self.l2 is not None:
            return float_arg(self.l2, "l2")
        C = float_arg(self.C, "C")
        if not C > 0:
            raise InvalidArgument("C must be > 0 (inf: no penalty), got %r"
                                  % (self.C,))
        return (2.0 if n_classes == 2 else 1.0) / C

    def _push_params(self, model, n_classes):
        Params.set_param(model, Param.L2, self._lambda(n_classes))
        for name, param in _LOGREG_C_PARAMS:
            value = getattr(self, name)
            if value is not None:
                Params.set_param(model, param, float_arg(value, name))

    @property
    def _ptr(self):
        if self._h is None:
            raise _not_fitted(
                "this LogisticRegression has no C model yet: fit it (fit(X, "
                "y) or fit_pool(pool)) or create it with dim and n_classes")
        return Handle._ptr.fget(self)

    @classmethod
    def _wrap(cls, ptr, keep=()):
        """A loaded model: parameters read back from the C handle (lambda
        as l2, exactly), fitted as a pool model (classes_ = arange(K))."""
        model = Model._wrap.__func__(Model, ptr, keep)
        self = cls.__new__(cls)
        self._adopt(model)
        self.dim, self.n_classes, self.C = self._dim, self._n_classes, 1.0
        self.l2 = self.get_param(Param.L2)
        for name, param in _LOGREG_C_PARAMS:
            v = self.get_param(param)
            setattr(self, name, bool(v) if name in ("fit_intercept", "warm_start")
                    else (int(v) if v == int(v) and name != "tol" else v))
        if self.fitted:
            self._fitted_as_pool_model()
        return self

    # -- scikit-learn's parameter protocol -------------------------------
    def get_params(self, deep=True):
        """The constructor's parameters {name: value} (scikit-learn)."""
        return {name: getattr(self, name) for name in _LOGREG_PARAMS}

    def set_params(self, **params):
        """Set constructor parameters (scikit-learn; C= and l2= as in the
        constructor).  With a C model in place the new values reach it at
        once (a new dim or n_classes drops it: fit again).  Returns self."""
        for key in params:
            if key not in _LOGREG_PARAMS:
                raise ValueError("Invalid parameter %r for estimator %s; "
                                 "valid parameters: %s"
                                 % (key, type(self).__name__,
                                    ", ".join(_LOGREG_PARAMS)))
        old = self.get_params()
        for key, value in params.items():
            setattr(self, key, value)
        if self._h is not None:
            if self.dim not in (None, self._dim) or \
                    self.n_classes not in (None, self._n_classes):
                self.close()
                return self
            try:
                self._push_params(self, self._n_classes)
            except BaseException:   # the C model refused: keep both as they were
                self.__dict__.update(old)
                self._push_params(self, self._n_classes)
                raise
        return self

    def __repr__(self):
        defaults = LogisticRegression.__init__.__kwdefaults__
        shown = ["%s=%r" % (k, v) for k, v in self.get_params().items()
                 if (v is not None if k in ("dim", "n_classes", "l2")
                     else v != (1.0 if k == "C" else defaults.get(k)))]
        return "%s(%s)" % (type(self).__name__, ", ".join(shown))

    def close(self):
        if self._h is not None:
            self._released = True       # pickling it now would lose the fit
        super().close()

    def __reduce__(self):
        if self._h is None and getattr(self, "_released", False):
            raise StateError("this LogisticRegression is closed: pickle it "
                             "before close()")
        data = self.to_bytes() if self._h is not None else None
        fitted = {k: v for k, v in self.__dict__.items()
                  if k.endswith("_") and not k.startswith("_")}
        return _restore_logreg, (self.get_params(), data, fitted)

    def _more_tags(self):
        return {"binary_only": False, "requires_y": True}

    # -- fitting ---------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None):
        """Fit on rows X (n, n_features) with labels y (scikit-learn), or,
        given a hitl.Pool, on its labeled items (fit_pool).  Returns self."""
        if isinstance(X, Pool):
            if y is not None or sample_weight is not None:
                raise InvalidArgument("fit(pool) takes the labels and weights "
                                      "from the pool: pass no y/sample_weight")
            return self.fit_pool(X)
        X = _rows_in(X, "fit")
        if y is None:
            raise ValueError("LogisticRegression requires y to be passed, but "
                             "the target y is None")
        y = _target(y, X.shape[0])
        if self.n_classes is not None:
            classes, yi = _fixed_classes(y, self.n_classes)
        else:
            classes, yi = encode_target(y)
        w = _sample_weight(sample_weight, X.shape[0])
        if w is not None:
            keep = w > 0
            X, yi, w = X[keep], yi[keep], w[keep]
        seen = np.unique(yi)
        if self.n_classes is None and len(seen) < 2:
            raise ValueError("LogisticRegression needs samples of at least 2 "
                             "classes (with weight > 0), got %d class: %r"
                             % (len(seen), list(classes[seen])))
        dim, K = X.shape[1], len(classes)
        if self.dim is not None and dim != self.dim:
            raise ValueError("X has %d features, but this LogisticRegression "
                             "was created with dim=%d" % (dim, self.dim))
        self._fit_rows(X, yi, w, dim, K)
        self.classes_ = classes
        self.n_features_in_ = dim
        self.n_iter_ = np.array([self.n_iter], dtype=np.int32)
        return self

    def _fit_rows(self, X, yi, w, dim, K):
        sparse = _arrays.is_sparse(X)
        pool = Pool(dim, sparse=sparse)
        try:
            if sparse:
                pool.add(X)
            else:
                pool.borrow(np.ascontiguousarray(X, dtype=np.float32))
            pool.n_classes = K
            p = pool._ptr
            for i, c in enumerate(yi.tolist()):
                check(lib.hitl_pool_set_label(p, i, c))
            if w is not None and np.any(w != 1.0):
                for i, wi in enumerate(w.tolist()):
                    check(lib.hitl_pool_set_weight(p, i, wi))
            self._fit_C(pool, dim, K)
        finally:
            pool.close()

    def _fit_C(self, pool, dim, K):
        if self._h is None or (self._dim, self._n_classes) != (dim, K):
            self._create(dim, K)
        else:
            self._push_params(self, K)
        check(lib.hitl_model_fit(self._ptr, pool._ptr), self)

    def fit_pool(self, pool):
        """(Re)fit on the LABELED items of a hitl.Pool, labels being class
        indices (see the class help).  Returns self.  StateError when
        nothing is labeled; on failure the previous fit is kept."""
        if not isinstance(pool, Pool):
            raise InvalidArgument("fit_pool takes a hitl.Pool, got %s: for "
                                  "arrays use fit(X, y)" % type(pool).__name__)
        if self.n_classes is None:
            # sized by the pool; classes only grow, so that a loop adding
            # labels keeps its warm start until a new class arrives
            K = pool.n_classes or max(2, _max_label(pool) + 1)
            if self._h is None or self._dim != pool.dim or self._n_classes < K:
                self._create(self.dim or pool.dim, K)
        elif self._h is None:
            self._create(self.dim or pool.dim, self.n_classes)
        self._fit_C(pool, self._dim, self._n_classes)
        self._fitted_as_pool_model()
        return self

    def _fitted_as_pool_model(self):
        self.classes_ = np.arange(self._n_classes)
        self.n_features_in_ = self._dim
        self.n_iter_ = np.array([self.n_iter], dtype=np.int32)

    # -- predicting ----------------------------------------------------
    def _check_fitted(self, X):
        if self._h is None and "classes_" in self.__dict__:
            raise _not_fitted("this LogisticRegression is closed (close() "
                              "freed its C model): fit it again")
        if self._h is None or "classes_" not in self.__dict__:
            if self._h is not None and self.fitted:    # fitted by Model.fit
                self._fitted_as_pool_model()
            else:
                raise _not_fitted("This LogisticRegression instance is not "
                                  "fitted yet: call fit first")
        X = _rows_in(X, "predict")
        if X.shape[1] != self._dim:
            raise InvalidArgument("X has %d features (shape %s), but "
                                  "LogisticRegression is expecting %d features "
                                  "as input" % (X.shape[1], X.shape, self._dim))
        return X

    def predict_proba(self, X):
        """Class probabilities (n, len(classes_)), float32, columns in the
        order of classes_, computed by the C library."""
        return Model.predict_proba(self, self._check_fitted(X))

    _linear = True

    def explain(self, X, top=5, feature_names=None, class_names=None, as_frame=None):
        """Model.explain, with classes named by classes_ and features by
        feature_names_in_ when fitted on a DataFrame."""
        X = self._check_fitted(X)
        if class_names is None:
            class_names = list(self.classes_)
        if feature_names is None:
            feature_names = getattr(self, "feature_names_in_", None)
        return Model.explain(self, X, top, feature_names, class_names, as_frame)

    def predict_log_proba(self, X):
        """log(predict_proba(X)) in float64."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X).astype(np.float64))

    def decision_function(self, X):
        """Scores W x + b (float64): (n, K), or for two classes (n,) the
        log-odds of classes_[1] (scikit-learn's shapes)."""
        X = self._check_fitted(X)
        W, b = self.get_coef()
        Z = (np.asarray(X @ W.T) if _arrays.is_sparse(X)
             else np.asarray(X, dtype=np.float64) @ W.T) + b
        return Z[:, 1] - Z[:, 0] if Z.shape[1] == 2 else Z

    def predict(self, X):
        """The most probable class of each row, as labels from classes_."""
        Z = self.decision_function(X)
        idx = (Z > 0).astype(np.intp) if Z.ndim == 1 else np.argmax(Z, axis=1)
        return self.classes_[idx]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of predict(X) against y (weighted)."""
        return float(np.average(self.predict(X) == np.asarray(y).reshape(-1),
                                weights=sample_weight))

    @property
    def coef_(self):
        """scikit-learn's coef_: (K, dim), or (1, dim) = w1 - w0 for two
        classes (get_coef() gives the multinomial W itself)."""
        W, _ = self.get_coef()
        return W[1:] - W[:1] if W.shape[0] == 2 else W

    @property
    def intercept_(self):
        _, b = self.get_coef()
        return b[1:] - b[:1] if b.shape[0] == 2 else b


def _max_label(pool):
    state, label = ffi.new("hitl_item_state *"), ffi.new("int32_t *")
    p, top = pool._ptr, -1
    for i in range(len(pool)):
        check(lib.hitl_pool_item(ffi.NULL, state, label, p, i))
        if state[0] == ItemState.LABELED:
            top = max(top, label[0])
    return top


def _rows_in(X, where):
    """X as a finite 2-D float array (_dense_rows), or a scipy.sparse
    matrix/array as CSR (any sparse format is converted, as scikit-learn
    does; the library checks its values)."""
    if not _arrays.is_sparse(X):
        return _dense_rows(X, where)
    X = X.tocsr() if X.format != "csr" else X
    if len(X.shape) != 2 or 0 in X.shape:
        raise InvalidArgument("LogisticRegression.%s: X has shape %s; need (n, dim) "
                              "with n, dim >= 1" % (where, X.shape))
    return X


def _dense_rows(X, where):
    """X as a finite 2-D float array, with scikit-learn's messages (as
    hitl.InvalidArgument / NumericError, which are ValueErrors)."""
    a = np.asarray(X)
    if a.dtype.kind == "c":
        raise InvalidArgument("Complex data not supported")
    if a.dtype.kind not in "fiub":
        a = a.astype(np.float64)
    if a.ndim != 2:
        raise InvalidArgument(
            "Expected 2D array, got %dD array (shape %s) instead. Reshape your "
            "data either using X.reshape(-1, 1) if your data has a single "
            "feature or X.reshape(1, -1) if it contains a single sample."
            % (a.ndim, a.shape))
    for axis, what in ((0, "sample"), (1, "feature")):
        if a.shape[axis] == 0:
            raise InvalidArgument("Found array with 0 %s(s) (shape=%s) while a "
                                  "minimum of 1 is required." % (what, a.shape))
    if a.dtype != np.float32:
        a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise NumericError("Input contains NaN, infinity or a value too large "
                           "for dtype('float64') (or float32, what libhitl "
                           "reads).", Status.ENUMERIC)
    return a


def _target(y, n):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        try:
            from sklearn.exceptions import DataConversionWarning as category
        except ImportError:  # pragma: no cover
            category = UserWarning
        warnings.warn("A column-vector y was passed when a 1d array was "
                      "expected. Please change the shape of y to (n_samples,), "
                      "for example using ravel().", category, stacklevel=3)
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError("y should be a 1d array, got an array of shape %s "
                         "instead." % (y.shape,))
    if y.shape[0] != n:
        raise ValueError("Found input variables with inconsistent numbers of "
                         "samples: [%d, %d]" % (n, y.shape[0]))
    return y


def _fixed_classes(y, n_classes):
    """Labels 0 .. n_classes-1 of a model created with n_classes."""
    classes, yi = encode_target(y)
    ok = classes.dtype.kind in "iub" or (classes.dtype.kind == "f")
    if not ok or classes.min() < 0 or classes.max() >= n_classes:
        raise ValueError("this LogisticRegression was created with "
                         "n_classes=%d, so labels must be 0 .. %d; got %r "
                         "(leave n_classes None for labels of any kind)"
                         % (n_classes, n_classes - 1, list(classes)))
    return np.arange(n_classes), classes.astype(np.int32)[yi]


def _sample_weight(w, n):
    if w is None:
        return None
    if isinstance(w, numbers.Number):
        w = np.full(n, w, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError("sample_weight.shape == %s, expected (%d,)!"
                         % (w.shape, n))
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must be finite and >= 0")
    return w


# -- custom models ---------------------------------------------------------

def _takes_sample_weight(fit):
    """Does fit() name a sample_weight parameter?  (A **kwargs alone is no
    promise: a Pipeline's fit takes **fit_params and refuses sample_weight.)"""
    try:
        return "sample_weight" in inspect.signature(fit).parameters
    except (TypeError, ValueError):
        return False


def _weight_keyword(estimator):
    """The fit() keyword that carries sample weights to `estimator`, or None
    when it takes none: sample_weight, or for a scikit-learn Pipeline its
    last step's <name>__sample_weight."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps and hasattr(estimator, "named_steps"):
        name, last = steps[-1]
        if _takes_sample_weight(getattr(last, "fit", None)):
            return name + "__sample_weight"
        return None
    if _takes_sample_weight(getattr(estimator, "fit", None)):
        return "sample_weight"
    return None


class _Callbacks:
    """What the C callbacks reach through their `user` pointer: the Python
    estimator and the exceptions raised inside it, kept until the libhitl
    call that ran the callback hands them back to its caller."""

    def __init__(self, estimator, dim, n_classes):
        self.estimator = estimator
        self.dim, self.n_classes = dim, n_classes
        self.weight_keyword = _weight_keyword(estimator)
        self._warned = False
        self._lock = threading.Lock()
        self._pending = []          # (thread ident, exception)

    def record(self, exc, where):
        add_note(exc, "(raised in %s of %s, called by libhitl; re-raised by "
                      "the hitl call that ran it)"
                 % (where, type(self.estimator).__name__))
        with self._lock:
            self._pending.append((threading.get_ident(), exc))

    def take(self):
        """The exception the calling thread's call raised (or, when libhitl ran
        the callback on a worker thread, the first one recorded); forget
        the rest of this call's."""
        me = threading.get_ident()
        with self._lock:
            pending, self._pending = self._pending, []
        for tid, exc in pending:
            if tid == me:
                return exc
        return pending[0][1] if pending else None

    def fit(self, X, n, dim, y, w):
        # Copies: an estimator may keep its training data (k-NN does), and
        # libhitl's buffers live only during the call.  The labeled set is
        # small next to the pool.
        Xc = _arrays.view(X, n, dim, dim).copy()
        yc = np.frombuffer(ffi.buffer(y, 4 * n), dtype=np.int32).copy()
        wc = np.frombuffer(ffi.buffer(w, 4 * n), dtype=np.float32)
        if np.all(wc == 1.0):               # the usual case: no weights at all
            self.estimator.fit(Xc, yc)
        elif self.weight_keyword is None:
            if not self._warned:
                self._warned = True
                warnings.warn("%s.fit() takes no sample_weight: the labeled items' "
                              "weights (other than 1) are left out"
                              % type(self.estimator).__name__, RuntimeWarning)
            self.estimator.fit(Xc, yc)
        else:                               # float64, as scikit-learn expects
            self.estimator.fit(Xc, yc, **{self.weight_keyword: wc.astype(np.float64)})

    def predict(self, X, n, stride, dim, proba):
        Xv = _arrays.view(X, n, stride, dim)     # read-only, valid this call
        P = np.asarray(self.estimator.predict_proba(Xv))
        out = _arrays.view(proba, n, self.n_classes, self.n_classes,
                           writable=True)
        classes = getattr(self.estimator, "classes_", None)
        if classes is not None and len(classes) != self.n_classes:
            # scikit-learn: columns are the classes seen in fit, a subset
            # of 0..n_classes-1 early in a loop.  Unseen classes get 0.
            classes = np.asarray(classes)
            if (classes.dtype.kind not in "iu" or classes.min() < 0
                    or classes.max() >= self.n_classes):
                raise ValueError("%s.classes_ must be integers in [0, %d), "
                                 "got %r" % (type(self.estimator).__name__,
                                             self.n_classes, classes))
            if P.shape != (n, len(classes)):
                raise ValueError("predict_proba returned shape %s, expected %s"
                                 % (P.shape, (n, len(classes))))
            out[...] = 0.0
            out[:, classes] = P
            return
        if P.shape != (n, self.n_classes):
            raise ValueError("predict_proba returned shape %s, expected %s"
                             % (P.shape, (n, self.n_classes)))
        out[...] = P


def _run(user, where, method, *args):
    """Run a callback method; an exception is recorded for the hitl call
    that invoked the callback to raise, and libhitl is told "failed"."""
    cb = ffi.from_handle(user)
    try:
        method(cb, *args)
        return 0
    except BaseException as exc:
        cb.record(exc, where)
        return -1


@ffi.def_extern()
def _hitl_py_fit(user, X, n, dim, y, w):
    return _run(user, "fit()", _Callbacks.fit, X, n, dim, y, w)


@ffi.def_extern()
def _hitl_py_predict(user, X, n, stride, dim, proba):
    return _run(user, "predict_proba()", _Callbacks.predict, X, n, stride, dim,
                proba)


class CustomModel(Model):
    """Any Python classifier as a libhitl model: an object with
    fit(X, y[, sample_weight]) and predict_proba(X), such as a scikit-learn
    estimator or a wrapper around a PyTorch network.  Every strategy,
    committee and learner then works with it.

        model = hitl.CustomModel(SGDClassifier(loss="log_loss"), dim=64, n_classes=10)
        model.fit(pool)                              # calls the estimator's fit
        r = hitl.query(hitl.Strategy("margin"), model, pool, 10)

    CustomModel(estimator, dim, n_classes, threads=1, trained=False)

    Borrowed: the estimator is yours and is kept alive (not copied) by the
    model; libhitl calls it back from fit, predict_proba and queries.  The
    X it receives in predict_proba is libhitl's memory, valid only during
    that call (copy what you keep); fit receives copies.

    Thread-safety: as for Model (fit and close need the model to
    themselves), and the estimator is called from libhitl's scoring
    threads only when threads != 1 (see below).  Not saved by to_bytes()
    (the C library cannot serialise Python code): pickle the estimator.

    - fit receives float32 X (n, dim) and int32 labels y in [0, n_classes)
      (copies it may keep), and, when some labeled item's weight is not 1,
      the weights as float64: as sample_weight= when fit names it, as
      <last step>__sample_weight= for a scikit-learn Pipeline whose last
      step takes them; an estimator that takes none is fitted without them
      (with one RuntimeWarning).
    - predict_proba receives a read-only float32 view (n, dim) of libhitl's
      memory, valid only during the call, and returns (n, n_classes) or, when
      the estimator has classes_ (scikit-learn), (n, len(classes_)) columns
      for those classes; unseen classes get probability 0.
    - trained=True: the estimator is already fitted elsewhere; libhitl never
      calls its fit and it can predict at once.
    - An exception raised in either method propagates, as that same exception
      object, out of the hitl call that invoked it (fit, predict_proba,
      query, ...), and the model stays usable.
    - threads: HITL_PARAM_THREADS for scoring.  It defaults to 1 here (libhitl
      defaults to one thread per CPU) because Python code runs one thread at
      a time under the GIL: more threads only contend for it, unless
      predict_proba spends its time in code that releases the GIL (numpy,
      BLAS, torch), and because many estimators and wrappers are not safe to
      call from several threads at once.  Pass threads=0 (one per CPU) or N
      only for a thread-safe predict_proba.
    """

    def __init__(self, estimator, dim, n_classes, threads=1, trained=False):
        if not callable(getattr(estimator, "predict_proba", None)):
            raise InvalidArgument("%r has no predict_proba method" % (estimator,))
        if not trained and not callable(getattr(estimator, "fit", None)):
            raise InvalidArgument("%r has no fit method (pass trained=True for "
                                  "a model fitted elsewhere)" % (estimator,))
        dim, n_classes = size_arg(dim, "dim"), size_arg(n_classes, "n_classes")
        self._cb = _Callbacks(estimator, dim, n_classes)
        handle = ffi.new_handle(self._cb)
        out = ffi.new("hitl_model **")
        check(lib.hitl_model_create_custom(
            out, dim, n_classes, ffi.NULL if trained else lib._hitl_py_fit,
            lib._hitl_py_predict, handle))
        self._own(out[0], keep=(handle, self._cb))
        self._dim, self._n_classes = dim, n_classes
        self._trained = bool(trained)
        try:
            self.set_param(Param.THREADS, threads)
        except BaseException:
            self.close()
            raise

    estimator = property(lambda self: self._cb.estimator)

    def _callback_states(self):
        return (self._cb,)
