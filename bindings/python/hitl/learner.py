"""hitl.ActiveLearner: the loop in three calls, for modAL users.

    learner = hitl.ActiveLearner(hitl.LogisticRegression(64, 10), "margin")
    idx, ids, scores = learner.query(pool, 10)     # ask a person about these
    learner.teach(ids, answers)                    # record answers and refit
"""
import numpy as np

from ._enums import ItemState
from .errors import InvalidArgument
from .feedback import Feedback
from .model import Model, CustomModel
from .pool import Pool
from .committee import Committee
from .strategy import Strategy, query

__all__ = ["ActiveLearner"]


class ActiveLearner:
    """modAL's ActiveLearner over libhitl objects.

    ActiveLearner(model, strategy="margin", pool=None, n_classes=None,
                  seed=None, annotator=0, threads=1)

    - model: a hitl.Model or hitl.Committee, or any estimator with fit/predict_proba (e.g. a
      scikit-learn classifier), wrapped in a hitl.CustomModel; that needs
      `pool` (for dim) and `n_classes`, and uses `threads` scoring threads.
    - strategy: a hitl.Strategy or a kind name ("margin", "entropy", ...),
      created with `seed`.
    - pool: the hitl.Pool to work on; query(pool, k) may also bind it later.
      If it already holds labeled items the model is fitted at once.

    Differences from modAL: query returns pool indices, caller ids and scores
    (not the rows: they are in the pool), and teach takes item ids, because
    answers are recorded as hitl feedback on the pool before the refit.
    Objects the learner created itself are closed by close()/`with`.
    """

    def __init__(self, model, strategy="margin", pool=None, n_classes=None,
                 seed=None, annotator=0, threads=1):
        self._owned = []
        if not isinstance(model, (Model, Committee)):
            if pool is None or n_classes is None:
                raise InvalidArgument("wrapping %s as a model needs pool= and "
                                      "n_classes=" % type(model).__name__)
            model = CustomModel(model, pool.dim, n_classes, threads=threads)
            self._owned.append(model)
        if not isinstance(strategy, Strategy):
            strategy = Strategy(strategy, seed=seed)
            self._owned.append(strategy)
        self.model, self.strategy = model, strategy
        self.annotator = annotator
        self.pool = None
        self.feedback = None
        if pool is not None:
            self._bind(pool)
            if pool.count(ItemState.LABELED):
                self.fit()

    def _bind(self, pool):
        if not isinstance(pool, Pool):
            # checked before anything changes: the learner stays as it was
            raise InvalidArgument(
                "the learner works on a hitl.Pool, got %s: make one with "
                "hitl.Pool.from_array(X) and pass it (query(pool, k) or "
                "ActiveLearner(..., pool=pool)); query(k=...) uses the bound "
                "pool" % type(pool).__name__)
        if pool is self.pool:
            return
        if self.feedback is not None and self.feedback in self._owned:
            self._owned.remove(self.feedback)
            self.feedback.close()
        self.pool = pool
        self.feedback = Feedback(pool)
        self._owned.append(self.feedback)

    def query(self, pool=None, k=1):
        """The k unlabeled items to ask about next: QueryResult(indices, ids,
        scores), most informative first.  Binds `pool` for teach()."""
        if pool is not None:
            self._bind(pool)
        elif self.pool is None:
            raise InvalidArgument("no pool: pass one to query() or the learner")
        return query(self.strategy, self.model, self.pool, k)

    def teach(self, ids, labels, annotator=None):
        """Record that the annotator labeled items `ids` (caller ids) with
        `labels`, then refit the model on every labeled item.  Returns self."""
        if self.feedback is None:
            raise InvalidArgument("no pool: query() or construct with pool=")
        ids_arr = np.asarray(ids)
        if ids_arr.ndim > 1:
            raise InvalidArgument(
                "teach() takes the ids of the items answered (QueryResult.ids "
                "of a query), not feature rows: got an array of shape %s"
                % (ids_arr.shape,))
        labs = np.asarray(labels).reshape(-1)
        n_classes = getattr(self.model, "n_classes", None)
        if n_classes is not None and labs.size and labs.dtype.kind in "iu" and \
                (labs.max() >= n_classes or labs.min() < 0):
            bad = int(labs[(labs >= n_classes) | (labs < 0)][0])
            raise InvalidArgument("label %d is not a class of the model (0 .. %d): "
                                  "nothing was recorded" % (bad, n_classes - 1))
        self.feedback.label_many(ids, labels,
                                 self.annotator if annotator is None else annotator)
        return self.fit()

    def fit(self):
        """Refit the model on the pool's labeled items.  Returns self."""
        self.model.fit(self.pool)
        return self

    def predict_proba(self, X):
        return self.model.predict_proba(X)

    def predict(self, X):
        return self.model.predict(X)

    def score(self, X, y):
        """Mean accuracy on rows X with true labels y."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def close(self):
        for obj in reversed(self._owned):
            obj.close()
        self._owned = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
