"""hitl.Model: what learns (hitl_model): the built-in logistic regression, or
any Python object with fit/predict_proba driven through C callbacks."""
import inspect
import threading
import warnings

import numpy as np

from ._ffi import ffi, lib
from ._base import (Handle, Params, check, size_arg, float_arg, path_arg,
                    add_note, pool_range, enum_value)
from ._enums import Info, Param
from .errors import InvalidArgument
from . import _arrays

__all__ = ["Model", "LogisticRegression", "CustomModel"]


class Model(Params, Handle):
    """A libhitl model (hitl_model).  Create one with LogisticRegression(),
    CustomModel() or Model.load()/Model.from_bytes().

    Thread-safety: fit(), set_param() and close() need the model to
    themselves; predict_proba(), predict_proba_pool(), info() and queries
    using the model may run from several Python threads at once (libhitl's
    "concurrent reads"; they release the GIL while in C)."""
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


class LogisticRegression(Model):
    """libhitl's built-in multinomial logistic regression with L2 penalty
    (scikit-learn's LogisticRegression(C=1/l2, multinomial) objective),
    fitted in double precision and scored in float32 over the pool.

    LogisticRegression(dim, n_classes, C=None, **params): params are
    hitl.Param names in lower case (l2, tol, max_iter, fit_intercept,
    warm_start, threads, block_rows)."""

    def __init__(self, dim, n_classes, C=None, **params):
        out = ffi.new("hitl_model **")
        check(lib.hitl_model_create_logreg(out, size_arg(dim, "dim"),
                                           size_arg(n_classes, "n_classes")))
        self._own(out[0])
        self._dim, self._n_classes = dim, n_classes
        if C is not None:
            params["C"] = C
        try:
            self.set_params(**params)
        except BaseException:
            self.close()
            raise


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

    CustomModel(estimator, dim, n_classes, threads=1, trained=False)

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
        try:
            self.set_param(Param.THREADS, threads)
        except BaseException:
            self.close()
            raise

    estimator = property(lambda self: self._cb.estimator)

    def _callback_states(self):
        return (self._cb,)
