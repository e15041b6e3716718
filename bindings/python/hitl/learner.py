"""hitl.ActiveLearner: the loop in three calls, for modAL users.

    learner = hitl.ActiveLearner(hitl.LogisticRegression(), "margin", pool=X, ids=doc_ids)
    r = learner.query(k=10)                        # ask a person about r.ids
    learner.teach(r.ids, ["spam", "ham", ...])     # record answers and refit
"""
import numpy as np

from ._base import u64_arg
from ._enums import ItemState
from .errors import InvalidArgument
from .feedback import Feedback
from .labels import LabelMap, IdMap
from .model import Model, CustomModel, LogisticRegression
from .pool import Pool
from .committee import Committee
from .strategy import Strategy, QueryResult, query

__all__ = ["ActiveLearner"]

_MAX_CLASSES = 65536


class ActiveLearner:
    """modAL's ActiveLearner over libhitl objects, with labels and item ids
    of any kind.

        learner = hitl.ActiveLearner(hitl.LogisticRegression(), "margin", pool=X)
        r = learner.query(k=10)              # the 10 items to ask about
        learner.teach(r.ids, answers)        # any labels: "spam", 3, True

    ActiveLearner(model=None, strategy="margin", pool=None, n_classes=None,
                  seed=None, annotator=0, threads=1, feedback=None, ids=None,
                  classes=None)

    - model: a hitl.LogisticRegression (the default), another hitl.Model or
      a hitl.Committee, or any estimator with fit/predict_proba (e.g. a
      scikit-learn classifier), wrapped in a hitl.CustomModel scoring on
      `threads` threads.
    - strategy: a hitl.Strategy or a kind name ("margin", "entropy", ...),
      created with `seed`.
    - pool: a hitl.Pool, or an array of rows (copied into a new Pool; dim
      comes from its shape).  ids: for an array, one hashable id per row
      (str, int, tuple, ...; default: the row number).  query() returns
      these ids and teach() takes them; the pool itself numbers the rows
      0 .. n-1 (uint64).  With a hitl.Pool, ids are the pool's own.
    - feedback: an existing hitl.Feedback (with its journal, roles and
      parameters) to record answers in, instead of a new one; its pool is
      the learner's.  The learner does not close what it did not create.

    Labels: any hashable (str, int, integral float, bool, numpy/pandas
    scalars); classes_ lists them in order of first arrival and the pool
    stores their index.  The class set grows when a new label arrives, if
    the model allows it: a LogisticRegression() left without n_classes, or
    an estimator wrapped here without n_classes=, is rebuilt with one more
    class and refitted from scratch on every label (the warm start is lost
    once).  A model of fixed K (LogisticRegression(dim, K), a CustomModel,
    a Committee, or n_classes= given) takes the labels 0 .. K-1 (or those
    of `classes`) and refuses any other label.  A pool that already holds
    labeled items names their classes by their indices.

    Every teach() checks all ids and labels before it records anything: a
    rejected call leaves the pool, the feedback and its journal as they
    were.  save(path) / ActiveLearner.load(path) keep a whole session
    (see save).

    Thread-safety: one thread at a time (queries update the strategy,
    teach writes the pool).

    Borrowed: the pool, model, strategy and feedback you pass stay yours
    (close() closes only what the learner created); the learner declares
    its class count on the pool (Pool.n_classes, raised only) so that the
    library refuses other labels too.  An array given as pool is copied.
    """

    def __init__(self, model=None, strategy="margin", pool=None, n_classes=None,
                 seed=None, annotator=0, threads=1, feedback=None, ids=None,
                 classes=None):
        self._owned = []
        self._threads = threads
        if model is None:
            model = LogisticRegression()
        if not isinstance(model, (Model, Committee)):
            for method in ("fit", "predict_proba"):
                if not callable(getattr(model, method, None)):
                    raise InvalidArgument("%r has no %s method: pass a "
                                          "hitl.Model or an estimator" % (model, method))
            self._estimator, model = model, None
        else:
            self._estimator = None
        self._fixed_k = self._fixed_classes(model, n_classes)
        if classes is not None:
            self.labels = LabelMap(classes)
        elif self._fixed_k:
            self.labels = LabelMap(range(self._fixed_k))
        else:
            self.labels = LabelMap()
        if self._fixed_k and len(self.labels) > self._fixed_k:
            raise InvalidArgument("%d classes given, but the model has %d"
                                  % (len(self.labels), self._fixed_k))
        if not isinstance(strategy, Strategy):
            strategy = Strategy(strategy, seed=seed)
            self._owned.append(strategy)
        self.model, self.strategy = model, strategy
        self.annotator = annotator
        self.pool = self.feedback = None
        self.item_ids = None            # IdMap when the learner made the pool
        if feedback is not None:
            if not isinstance(feedback, Feedback):
                raise InvalidArgument("feedback must be a hitl.Feedback, got %s"
                                      % type(feedback).__name__)
            if pool is not None and pool is not feedback.pool:
                raise InvalidArgument("pool and feedback.pool differ: pass one")
            pool = feedback.pool
        if pool is not None and not isinstance(pool, Pool):
            pool = self._pool_from_rows(pool, ids)
        elif ids is not None:
            raise InvalidArgument("ids= names the rows of an array pool; a "
                                  "hitl.Pool has its own ids")
        if pool is not None:
            self._bind(pool, feedback)
            if pool.count(ItemState.LABELED):
                self.fit()

    @staticmethod
    def _fixed_classes(model, n_classes):
        """The class count the learner may not exceed, or 0 if it grows."""
        if n_classes is not None:
            return n_classes
        if isinstance(model, LogisticRegression):
            return model.n_classes or 0
        if model is not None:
            return model.n_classes
        return 0

    def _pool_from_rows(self, X, ids):
        pool = Pool.from_array(X)
        self._owned.append(pool)
        if ids is not None:
            try:
                self.item_ids = IdMap(ids)
            except BaseException:
                pool.close()
                raise
            if len(self.item_ids) != len(pool):
                pool.close()
                raise InvalidArgument("%d ids for %d rows"
                                      % (len(self.item_ids), len(pool)))
        return pool

    # -- the pool and the model -------------------------------------------------
    def _bind(self, pool, feedback=None):
        if not isinstance(pool, Pool):
            # checked before anything changes: the learner stays as it was
            raise InvalidArgument(
                "the learner works on a hitl.Pool, got %s: make one with "
                "hitl.Pool.from_array(X) and pass it (query(pool, k) or "
                "ActiveLearner(..., pool=pool)), or pass the array as "
                "ActiveLearner(..., pool=X); query(k=...) uses the bound "
                "pool" % type(pool).__name__)
        if pool is self.pool:
            return
        if self.feedback is not None and self.feedback in self._owned:
            self._owned.remove(self.feedback)
            self.feedback.close()
        if self.pool is not None and self.item_ids is not None:
            self.item_ids = None        # the ids named the old pool's rows
        self.pool = pool
        if pool.count(ItemState.LABELED) and not len(self.labels):
            self.labels = LabelMap(range(_max_label(pool) + 1))
        if feedback is None:
            feedback = Feedback(pool)
            self._owned.append(feedback)
        self.feedback = feedback
        self._declare_classes(self._n_model_classes())
        self._ensure_model()

    def _n_model_classes(self, extra=0):
        return self._fixed_k or max(2, len(self.labels) + extra)

    def _declare_classes(self, K):
        if self.pool.n_classes < K:
            self.pool.n_classes = K

    def _ensure_model(self):
        """The C model exists, with the class count the labels need."""
        K, dim = self._n_model_classes(), self.pool.dim
        m = self.model
        if isinstance(m, LogisticRegression) and not self._fixed_k:
            if m._h is None or m._n_classes < K or m._dim != dim:
                m._create(dim, K)
        elif self._estimator is not None and (m is None or m.n_classes != K):
            fresh = CustomModel(self._estimator, dim, K, threads=self._threads)
            if m is not None:
                self._owned.remove(m)
                m.close()
            self.model = fresh
            self._owned.append(fresh)

    # -- the loop ------------------------------------------------------------
    def query(self, pool=None, k=1):
        """The k unlabeled items to ask about next: QueryResult(indices, ids,
        scores), most informative first; ids are the learner's item ids
        (those given with an array pool, else the pool's).  Binds `pool`
        (a hitl.Pool) for teach()."""
        if pool is not None:
            self._bind(pool)
        elif self.pool is None:
            raise InvalidArgument("no pool: pass one to query() or the learner")
        r = query(self.strategy, self.model, self.pool, k)
        if self.item_ids is None:
            return r
        return QueryResult(r.indices, self.item_ids.decode(r.ids), r.scores)

    def _pool_ids(self, ids):
        """The pool's uint64 ids of the caller's `ids` (all checked)."""
        ids_arr = np.asarray(ids, dtype=object if self.item_ids else None)
        if ids_arr.ndim > 1:
            raise InvalidArgument(
                "teach() takes the ids of the items answered (QueryResult.ids "
                "of a query), not feature rows: got an array of shape %s"
                % (ids_arr.shape,))
        ids_list = ids_arr.reshape(-1).tolist()
        if self.item_ids is not None:
            return [self.item_ids.index(i) for i in ids_list]
        out = []
        for i in ids_list:
            if isinstance(i, float) and i == int(i):
                i = int(i)
            if not isinstance(i, int) or i not in self.pool:
                from .errors import NotFound
                raise NotFound("no item of the pool has id %r" % (i,))
            out.append(i)
        return out

    def teach(self, ids, labels, annotator=None):
        """Record that the annotator labeled items `ids` with `labels` (any
        hashable labels, see the class help), then refit the model on
        every labeled item (while none is labeled, as when the feedback
        waits for more annotators, the refit waits too).  Everything is
        checked first: an unknown id, a label the model cannot take, a bad
        annotator or a length mismatch raises and records nothing.
        Returns self."""
        if self.feedback is None:
            raise InvalidArgument("no pool: query() or construct with pool=")
        annotator = u64_arg(self.annotator if annotator is None else annotator,
                            "annotator")
        pool_ids = self._pool_ids(ids)
        if isinstance(labels, np.ndarray):
            labs = labels.reshape(-1).tolist()
        elif isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
            labs = [labels]             # one answer
        else:
            labs = list(labels)
        if len(labs) != len(pool_ids):
            raise InvalidArgument("%d item ids but %d labels: one label per id"
                                  % (len(pool_ids), len(labs)))
        index, new = self.labels.encode(
            labs, grow=not self._fixed_k or len(self.labels) < self._fixed_k)
        K = self._n_model_classes(len(new))
        if self._fixed_k and len(self.labels) + len(new) > self._fixed_k:
            raise self.labels._unknown(new[0])
        if K > _MAX_CLASSES:
            raise InvalidArgument("more than %d classes" % _MAX_CLASSES)
        self._declare_classes(K)
        self.feedback.label_many(pool_ids, index, annotator)
        self.labels.commit(new)
        if not self.pool.count(ItemState.LABELED):
            return self     # answers wait for consensus (min_annotators > 1)
        return self.fit()

    def fit(self):
        """Refit the model on the pool's labeled items.  Returns self."""
        self._ensure_model()
        self.model.fit(self.pool)
        return self

    # -- predictions, in the caller's labels --------------------------------
    @property
    def classes_(self):
        """The labels seen (or given), by class index."""
        return self.labels.classes_

    def predict_proba(self, X):
        """(n, len(classes_)) probabilities, columns in classes_ order."""
        P = self.model.predict_proba(X)
        n = len(self.labels)
        if n and n < P.shape[1]:        # columns of no label (see above) go
            P = P[:, :n]
            P = P / np.maximum(P.sum(axis=1, keepdims=True), np.finfo(P.dtype).tiny)
        return P

    def _predict_index(self, X):
        # columns past the known labels (the second class a model needs
        # before a second label arrives, or a pool's larger declared count)
        # are no answer anyone gave
        P = self.model.predict_proba(X)
        return np.argmax(P[:, :max(len(self.labels), 1)], axis=1)

    def predict(self, X):
        """The most probable label of each row (from classes_)."""
        idx = self._predict_index(X)
        return self.labels.decode(idx) if len(self.labels) else idx

    def score(self, X, y):
        """Mean accuracy on rows X with true labels y (labels never taught
        count as wrong)."""
        idx = self._predict_index(X)
        truth = [self.labels._index.get(_safe_norm(v), -1) for v in
                 (y.reshape(-1).tolist() if isinstance(y, np.ndarray) else list(y))]
        return float(np.mean(idx == np.asarray(truth)))

    # -- sessions -------------------------------------------------------------
    def save(self, path, rows=True):
        """Store the whole session in one file (see hitl.session)."""
        from . import session
        session.save(self, path, rows=rows)

    @classmethod
    def load(cls, path, X=None, model=None, journal=None):
        """A learner from a file written by save() (see hitl.session)."""
        from . import session
        return session.load(cls, path, X=X, model=model, journal=journal)

    def close(self):
        for obj in reversed(self._owned):
            obj.close()
        self._owned = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _safe_norm(v):
    from .labels import normalize_label
    try:
        return normalize_label(v)
    except InvalidArgument:
        return object()


def _max_label(pool):
    from .model import _max_label as m
    return m(pool)
